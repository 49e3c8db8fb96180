//! The sliding window's fast paths (its searches and caches) checked against a naive log on the
//! same grid.
//!
//! Nothing here sleeps: every limiter runs on a mock clock.

use proptest::prelude::*;

use tollgate::algorithm::{Algorithm, Decision, SlidingWindow};
use tollgate::Nanos;

use crate::support::sliding_window_log::{window_rate, GridLog, WINDOW_GRIDS};

// ---------------------------------------------------------------------------------------------
// The sliding window against a naive log on the same grid
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum WindowOp {
    TryTake(u64),
    Reserve(u64),
    ChargeAhead(u64, u64),
    Record(u64),
    RefundCharge(usize, u64),
    Refund(u64),
    SetRate(usize),
    Decide(u64),
    /// A request at an instant earlier than the latest seen.
    Stale(u64, u64),
}

fn window_op() -> impl Strategy<Value = WindowOp> {
    let cost = || prop_oneof![1 => Just(0u64), 8 => 1u64..8, 1 => 8u64..25];
    prop_oneof![
        5 => cost().prop_map(WindowOp::TryTake),
        2 => cost().prop_map(WindowOp::Reserve),
        2 => (cost(), 0u64..3_000_000_000).prop_map(|(c, ahead)| WindowOp::ChargeAhead(c, ahead)),
        1 => (cost(), prop_oneof![Just(u64::MAX), Just(u64::MAX / 2), Just(1u64 << 62)])
            .prop_map(|(c, ahead)| WindowOp::ChargeAhead(c, ahead)),
        1 => cost().prop_map(WindowOp::Record),
        2 => (0usize..16, cost()).prop_map(|(i, c)| WindowOp::RefundCharge(i, c)),
        1 => cost().prop_map(WindowOp::Refund),
        1 => (0usize..WINDOW_GRIDS.len()).prop_map(WindowOp::SetRate),
        2 => cost().prop_map(WindowOp::Decide),
        1 => (0u64..2_000_000_000, cost()).prop_map(|(back, c)| WindowOp::Stale(back, c)),
    ]
}

/// Gaps on and off every grid, and jumps to the last nanoseconds of the clock.
fn window_gap() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => Just(0u64),
        3 => 0u64..5_000,
        3 => (0u64..130).prop_map(|steps| steps * 500_000),
        3 => 0u64..3_000_000_000,
        1 => (0u64..4).prop_map(|k| k * 50_000_000 + 3),
        1 => Just(u64::MAX - 70_000_000_000),
        1 => Just(u64::MAX / 3),
    ]
}

/// Runs `steps` on a `SlidingWindow` and on the naive [`GridLog`], asserting every answer and
/// what is in use and available after each step.
fn assert_window_matches_the_grid_log(first: usize, steps: &[(u64, WindowOp)]) {
    let (rate, _) = window_rate(first);
    let mut window = SlidingWindow::new(&rate).unwrap();
    let mut reference = GridLog::new(first);
    let mut now = Nanos::ZERO;
    let mut marks: Vec<(Nanos, u64)> = Vec::new();
    for (step, (gap, op)) in steps.iter().enumerate() {
        now = now.saturating_add(Nanos::new(*gap));
        let context = format!("step {step}: {op:?} at {now:?}");
        match *op {
            WindowOp::TryTake(cost) => {
                assert_eq!(
                    window.try_take(now, cost),
                    reference.try_take(now, cost),
                    "{context}"
                );
            }
            WindowOp::Reserve(cost) => {
                let expected = match reference.decide(now, cost) {
                    Decision::Admitted if cost == 0 => Ok(now.max(reference.latest)),
                    Decision::Admitted | Decision::NotBefore(_) => {
                        let at = reference.conforms_at(now, cost);
                        reference.charge_at(now, now, cost);
                        Ok(at)
                    }
                    never => Err(never),
                };
                let got = window.reserve(now, cost);
                if cost == 0 {
                    assert!(got.is_ok(), "{context}");
                } else {
                    assert_eq!(got, expected, "{context}");
                }
            }
            WindowOp::ChargeAhead(cost, ahead) if cost > 0 => {
                let at = now.max(reference.latest).saturating_add(Nanos::new(ahead));
                let mark = reference.charge_at(now, at, cost);
                assert_eq!(window.charge_at(now, at, cost), mark, "{context}");
                marks.push((mark, cost));
            }
            WindowOp::Record(cost) if cost > 0 => {
                let mark = reference.record(now, cost);
                assert_eq!(window.record(now, cost), mark, "{context}");
                marks.push((mark, cost));
            }
            WindowOp::RefundCharge(index, cost) if !marks.is_empty() => {
                let (mark, charged) = marks[index % marks.len()];
                let cost = cost.min(charged);
                let units = reference.refund_charge(now, mark, cost);
                assert_eq!(
                    window.refund_charge(now, mark, cost).units,
                    units,
                    "{context}"
                );
            }
            WindowOp::Refund(cost) => {
                reference.refund(now, cost);
                window.refund(now, cost);
            }
            WindowOp::SetRate(index) => {
                reference.set_rate(now, index);
                window.set_rate(now, &window_rate(index).0).unwrap();
            }
            WindowOp::Decide(cost) => {
                assert_eq!(
                    window.decide(now, cost),
                    reference.decide(now, cost),
                    "{context}"
                );
            }
            WindowOp::Stale(back, cost) => {
                let stale = now.saturating_sub(Nanos::new(back));
                assert_eq!(
                    window.try_take(stale, cost),
                    reference.try_take(stale, cost),
                    "{context}"
                );
            }
            _ => {}
        }
        assert_eq!(window.in_use(now), reference.used(now), "{context}");
        assert_eq!(
            window.available(now),
            reference.limit.saturating_sub(reference.used(now)),
            "{context}"
        );
    }
}

proptest! {
    #![proptest_config(crate::support::proptest_config(3_000))]

    #[test]
    fn the_sliding_window_decides_as_a_naive_log_on_its_grid(
        first in 0usize..WINDOW_GRIDS.len(),
        steps in prop::collection::vec((window_gap(), window_op()), 1..60),
    ) {
        assert_window_matches_the_grid_log(first, &steps);
    }
}
