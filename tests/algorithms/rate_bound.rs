//! The bound is never exceeded: over any interval of length L, the bucket algorithms admit at most
//! `burst + L / T` units, and the sliding window at most its limit in any window of one period.

use proptest::prelude::*;
use std::time::Duration;

use tollgate::algorithm::{Algorithm, Decision, GcraVirtual, SlidingWindow, TokenBucket};
use tollgate::{Nanos, Rate};

fn rate() -> impl Strategy<Value = Rate> {
    (1u64..50, 1u64..2_000, 1u64..20).prop_map(|(quantity, period_ms, burst)| {
        Rate::new(quantity, Duration::from_millis(period_ms)).burst(burst)
    })
}

/// `(instant, cost)` of every admission for `requests` of `(gap, cost, shaped)`.
fn admissions<A: Algorithm>(rate: &Rate, requests: &[(u64, u64, bool, u64)]) -> Vec<(Nanos, u64)> {
    let mut algorithm = A::new(rate).unwrap();
    let mut now = Nanos::ZERO;
    let mut admitted = Vec::new();
    for &(gap, cost, shaped, refund) in requests {
        now = now.saturating_add(Nanos::new(gap));
        let before = admitted.len();
        if shaped {
            if let Ok(at) = algorithm.reserve(now, cost) {
                admitted.push((at, cost));
            }
        } else if algorithm.try_take(now, cost) == Decision::Admitted {
            admitted.push((now, cost));
        }
        // A refund of at most what was just taken never creates capacity above the burst.
        let refund = refund.min(cost);
        if refund > 0 && admitted.len() > before && admitted[before].0 <= now {
            algorithm.refund(now, refund);
            admitted.last_mut().unwrap().1 -= refund;
        }
        assert!(algorithm.available(now) <= algorithm.capacity());
    }
    admitted.sort();
    admitted
}

/// The largest total cost admitted within any closed interval of the given length rule.
fn check_windows(
    admitted: &[(Nanos, u64)],
    bound: impl Fn(u64) -> u64,
) -> Result<(), TestCaseError> {
    for (i, (start, _)) in admitted.iter().enumerate() {
        let mut total = 0;
        for (at, cost) in &admitted[i..] {
            total += cost;
            let length = at.as_u64() - start.as_u64();
            prop_assert!(
                total <= bound(length),
                "{total} admitted within {length} ns"
            );
        }
    }
    Ok(())
}

fn request() -> impl Strategy<Value = (u64, u64, bool, u64)> {
    (
        0u64..300_000_000,
        0u64..25,
        any::<bool>(),
        prop_oneof![3 => Just(0u64), 1 => 0u64..25],
    )
}

proptest! {
    #![proptest_config(crate::support::proptest_config(2_000))]

    #[test]
    fn bucket_algorithms_never_exceed_burst_plus_rate(
        rate in rate(),
        requests in prop::collection::vec(request(), 1..80),
    ) {
        let interval = rate.period().as_nanos().div_ceil(u128::from(rate.quantity())) as u64;
        let burst = rate.capacity();
        for admitted in [admissions::<GcraVirtual>(&rate, &requests), admissions::<TokenBucket>(&rate, &requests)] {
            check_windows(&admitted, |length| burst + length / interval)?;
        }
    }

    #[test]
    fn sliding_window_never_exceeds_its_limit_in_one_period(
        rate in rate(),
        requests in prop::collection::vec(request(), 1..80),
    ) {
        // A bare window takes no burst: its limit is the quantity.
        let limit = rate.quantity().min(rate.capacity());
        let rate = Rate::new(limit, rate.period());
        let period = rate.period().as_nanos() as u64;
        let admitted = admissions::<SlidingWindow>(&rate, &requests);
        check_windows(&admitted, |length| if length < period { limit } else { u64::MAX })?;
    }
}
