//! The four bucket algorithms decide identically: for any rate and any sequence of requests
//! (policed and shaped), refunds, debts and rate changes, every answer is the same, as pure
//! state machines, in their one-word forms, and behind a `RateLimiter`.

use proptest::prelude::*;
use std::time::Duration;

use tollgate::algorithm::{
    Algorithm, GcraContinuous, GcraVirtual, LeakyBucket, OneWord, Pace, TokenBucket,
};
use tollgate::{Nanos, Rate};

use crate::support::bucket_calls::{assert_bucket_limiters_agree, Call};

#[derive(Clone, Debug)]
enum Op {
    TryTake(u64),
    Reserve(u64),
    Refund(u64),
    Charge(u64),
    SetRate(Rate),
    ChargeAt(u64),
    RefundCharge(usize, u64),
    Observe(u64),
    /// A request judged at an instant earlier than the latest seen (a stale clock reading).
    Stale(u64, u64),
}

fn rate() -> impl Strategy<Value = Rate> {
    (1u64..200, 1u64..5_000, 1u64..40).prop_map(|(quantity, period_ms, burst)| {
        Rate::new(quantity, Duration::from_millis(period_ms)).burst(burst)
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u64..45).prop_map(Op::TryTake),
        3 => (0u64..45).prop_map(Op::Reserve),
        1 => (0u64..45).prop_map(Op::Refund),
        1 => (0u64..45).prop_map(Op::Charge),
        1 => rate().prop_map(Op::SetRate),
        2 => (1u64..45).prop_map(Op::ChargeAt),
        2 => (0usize..8, 0u64..45).prop_map(|(index, cost)| Op::RefundCharge(index, cost)),
        1 => (0u64..45).prop_map(Op::Observe),
        1 => (0u64..400_000_000, 0u64..45).prop_map(|(back, cost)| Op::Stale(back, cost)),
    ]
}

/// Everything an algorithm answered while applying `ops`, one entry per step.
fn answers<A: Algorithm>(rate: &Rate, steps: &[(u64, Op)]) -> Vec<String> {
    answers_with(rate, steps, |_: &mut A, _: &Pace| {})
}

/// [`answers`], with `between` given the state and the pace in force after every step (at the
/// step's instant).
fn answers_with<A: Algorithm>(
    rate: &Rate,
    steps: &[(u64, Op)],
    mut between: impl FnMut(&mut A, &Pace),
) -> Vec<String> {
    let mut algorithm = A::new(rate).unwrap();
    let mut now = Nanos::ZERO;
    let mut pace = rate.pace().unwrap();
    let mut marks: Vec<(Nanos, u64)> = Vec::new();
    steps
        .iter()
        .map(|(gap, op)| {
            now = now.saturating_add(Nanos::new(*gap));
            let answer = match op {
                Op::TryTake(cost) => format!("{:?}", algorithm.try_take(now, *cost)),
                Op::Reserve(cost) => format!("{:?}", algorithm.reserve(now, *cost)),
                Op::Refund(cost) => {
                    algorithm.refund(now, *cost);
                    String::new()
                }
                Op::Charge(cost) => {
                    if *cost > 0 {
                        algorithm.charge(now, *cost);
                    }
                    String::new()
                }
                Op::SetRate(rate) => {
                    let changed = algorithm.set_rate(now, rate);
                    if changed.is_ok() {
                        for (mark, _) in &mut marks {
                            *mark = algorithm.mark_after_set_rate(now, *mark, &pace);
                        }
                        pace = rate.pace().unwrap();
                    }
                    format!("{changed:?}")
                }
                Op::ChargeAt(cost) => {
                    // At the instant it conforms (a later instant is the multi-resource
                    // limiter's GCRA-only case: the other buckets clamp earlier read-outs).
                    let at = algorithm.conforms_at(now, *cost);
                    let mark = algorithm.charge_at(now, at, *cost);
                    marks.push((mark, *cost));
                    format!("{mark:?}")
                }
                Op::RefundCharge(index, cost) if !marks.is_empty() => {
                    let (mark, charged) = marks[index % marks.len()];
                    format!(
                        "{:?}",
                        algorithm.refund_charge(now, mark, (*cost).min(charged))
                    )
                }
                Op::RefundCharge(..) => String::new(),
                Op::Stale(back, cost) => {
                    let stale = now.saturating_sub(Nanos::new(*back));
                    format!("{:?}", algorithm.try_take(stale, *cost))
                }
                Op::Observe(remaining) => {
                    algorithm.observe(now, *remaining);
                    format!("{:?}", algorithm.conforms_at(now, 1))
                }
            };
            let answer = format!(
                "{answer} available={} in_use={}",
                algorithm.available(now),
                algorithm.in_use(now)
            );
            between(&mut algorithm, &pace);
            answer
        })
        .collect()
}

/// [`answers`] of an algorithm kept as a [`RateLimiter`](tollgate::RateLimiter) keeps it: as
/// its one-word form, decoded for every step; each step's unit request also asked of the word
/// directly ([`OneWord::decide_on_word`], [`OneWord::charge_on_word`], the lock-free path),
/// which must answer as the decoded state does.
fn answers_through_word<A: OneWord>(rate: &Rate, steps: &[(u64, Op)]) -> Vec<String> {
    let mut now = Nanos::ZERO;
    let mut gaps = steps.iter().map(|(gap, _)| *gap);
    answers_with::<A>(rate, steps, |algorithm, pace| {
        let word = algorithm.to_word();
        *algorithm = A::from_word(pace, word);
        now = now.saturating_add(Nanos::new(gaps.next().unwrap_or(0)));
        for cost in [1, 3] {
            let decision = A::decide_on_word(pace, word, now, cost);
            assert_eq!(decision, algorithm.decide(now, cost));
            let mut charged = algorithm.clone();
            charged.charge(now, cost);
            assert_eq!(A::charge_on_word(pace, word, now, cost), charged.to_word());
        }
    })
}

proptest! {
    #![proptest_config(crate::support::proptest_config(10_000))]

    #[test]
    fn the_four_bucket_algorithms_agree(
        rate in rate(),
        steps in prop::collection::vec((0u64..400_000_000, op()), 1..40),
    ) {
        let gcra = answers::<GcraVirtual>(&rate, &steps);
        prop_assert_eq!(&answers::<GcraContinuous>(&rate, &steps), &gcra);
        prop_assert_eq!(&answers::<TokenBucket>(&rate, &steps), &gcra);
        prop_assert_eq!(&answers::<LeakyBucket>(&rate, &steps), &gcra);
    }

    #[test]
    fn the_one_word_forms_decide_as_the_full_states(
        rate in rate(),
        steps in prop::collection::vec((0u64..400_000_000, op()), 1..40),
    ) {
        // A decoded word starts from the instant it is decoded at: no stale instants here (a
        // limiter's clock never goes backwards under its lock).
        let steps: Vec<(u64, Op)> = steps
            .into_iter()
            .map(|(gap, op)| match op {
                Op::Stale(_, cost) => (gap, Op::TryTake(cost)),
                op => (gap, op),
            })
            .collect();
        let gcra = answers::<GcraVirtual>(&rate, &steps);
        prop_assert_eq!(&answers_through_word::<GcraVirtual>(&rate, &steps), &gcra);
        prop_assert_eq!(&answers_through_word::<GcraContinuous>(&rate, &steps), &gcra);
        prop_assert_eq!(&answers_through_word::<TokenBucket>(&rate, &steps), &gcra);
        prop_assert_eq!(&answers_through_word::<LeakyBucket>(&rate, &steps), &gcra);
    }

    #[test]
    fn weighted_and_unit_acquires_agree(
        rate in rate(),
        gaps in prop::collection::vec(0u64..200_000_000, 1..20),
        cost in 1u64..10,
    ) {
        // Reserving `cost` at once ends at the same state as reserving `cost` units one by one:
        // the next request conforms at the same instant either way.
        let mut weighted = GcraVirtual::new(&rate).unwrap();
        let mut unit = GcraVirtual::new(&rate).unwrap();
        let mut now = Nanos::ZERO;
        for gap in gaps {
            now = now.saturating_add(Nanos::new(gap));
            if cost > weighted.capacity() {
                break;
            }
            let whole = weighted.reserve(now, cost).unwrap();
            let mut last = now;
            for _ in 0..cost {
                last = unit.reserve(now, 1).unwrap();
            }
            prop_assert!(whole >= last);
            prop_assert_eq!(weighted.conforms_at(now, 1), unit.conforms_at(now, 1));
        }
    }
}

/// A stale instant (earlier than one already seen) is judged as the latest seen, by every bucket.
fn stale_instant_counts_as_the_latest<A: Algorithm>() {
    let rate: Rate = "5/5ms".parse().unwrap();
    let mut algorithm = A::new(&rate).unwrap();
    let (stale, latest) = (Nanos::new(103_000_000), Nanos::new(105_000_000));
    assert_eq!(
        algorithm.try_take(latest, 5),
        tollgate::algorithm::Decision::Admitted
    );
    assert_eq!(algorithm.decide(stale, 1), algorithm.decide(latest, 1));
    assert_eq!(algorithm.available(stale), algorithm.available(latest));
    assert_eq!(algorithm.in_use(stale), algorithm.in_use(latest));
    let admitted = (0..10)
        .filter(|_| algorithm.try_take(stale, 1) == tollgate::algorithm::Decision::Admitted)
        .count();
    assert_eq!(admitted, 0, "{}", std::any::type_name::<A>());
}

#[test]
fn an_earlier_instant_counts_as_the_latest_seen() {
    stale_instant_counts_as_the_latest::<GcraVirtual>();
    stale_instant_counts_as_the_latest::<GcraContinuous>();
    stale_instant_counts_as_the_latest::<TokenBucket>();
    stale_instant_counts_as_the_latest::<LeakyBucket>();
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        4 => (0u64..400_000_000).prop_map(Call::Advance),
        6 => (0u64..45).prop_map(Call::TryAcquire),
        2 => (0u64..45, 0u64..300_000_000)
            .prop_map(|(cost, wait)| Call::TryAcquireFor(cost, Duration::from_nanos(wait))),
        3 => (0u64..45).prop_map(Call::Reserve),
        1 => (0usize..8).prop_map(Call::Cancel),
        2 => (0usize..8, 0u64..60).prop_map(|(index, actual)| Call::Settle(index, actual)),
        1 => (0usize..8).prop_map(Call::Wait),
        1 => rate().prop_map(Call::SetRate),
        1 => (0u64..45).prop_map(|remaining| Call::Observe(remaining, None)),
    ]
}

proptest! {
    #![proptest_config(crate::support::proptest_config(3_000))]

    /// The four bucket algorithms behind a [`RateLimiter`] (decided lock-free on GCRA's word,
    /// everything else on their own state decoded from it) answer every call alike: policing,
    /// weighted and timed, reservations, waits, settles, cancels, rate changes, a server's figure.
    #[test]
    fn the_four_bucket_limiters_agree(rate in rate(), calls in prop::collection::vec(call(), 1..60)) {
        assert_bucket_limiters_agree(rate, &calls);
    }
}
