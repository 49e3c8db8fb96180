//! The four bucket limiters driven by one script of calls, every answer recorded: shared by the
//! equivalence tests (ordinary rates) and the adversarial ones (the extremes).

use std::time::Duration;

use tollgate::algorithm::{Algorithm, GcraContinuous, GcraVirtual, LeakyBucket, TokenBucket};
use tollgate::{Clock, Rate, RateLimiter, Reservation};

/// What a caller does to a bucket limiter in [`bucket_answers`].
#[derive(Clone, Debug)]
pub enum Call {
    Advance(u64),
    TryAcquire(u64),
    TryAcquireFor(u64, Duration),
    Reserve(u64),
    Cancel(usize),
    Settle(usize, u64),
    /// Waits for a reservation (the mock clock jumps to its instant).
    Wait(usize),
    SetRate(Rate),
    Observe(u64, Option<Duration>),
}

/// Everything a limiter running `A` on a mock clock answered to `calls`, one entry per call: the
/// answer, what it leaves available, its stats, and every live reservation's planned instant.
pub fn bucket_answers<A: Algorithm>(rate: Rate, calls: &[Call]) -> Vec<String> {
    let (clock, time) = Clock::mock();
    let limiter = RateLimiter::<A>::with_algorithm(rate).with_clock(clock);
    let mut reservations: Vec<Option<Reservation>> = Vec::new();
    calls
        .iter()
        .map(|call| {
            let answer = match call {
                Call::Advance(gap) => {
                    time.advance(Duration::from_nanos(*gap));
                    String::new()
                }
                Call::TryAcquire(cost) => format!("{:?}", limiter.try_acquire_n(*cost)),
                Call::TryAcquireFor(cost, wait) => {
                    format!("{:?}", limiter.try_acquire_for(*cost, *wait))
                }
                Call::Reserve(cost) => match limiter.reserve(*cost) {
                    Ok(reservation) => {
                        let at = reservation.ready_at();
                        reservations.push(Some(reservation));
                        format!("{at:?}")
                    }
                    Err(err) => format!("{err:?}"),
                },
                Call::Cancel(index) => {
                    let count = reservations.len().max(1);
                    match reservations.get_mut(index % count).and_then(Option::take) {
                        Some(reservation) => {
                            reservation.cancel();
                            "cancelled".to_owned()
                        }
                        None => String::new(),
                    }
                }
                Call::Settle(index, actual) => {
                    let count = reservations.len().max(1);
                    match reservations.get(index % count).and_then(Option::as_ref) {
                        Some(reservation) => format!("{:?}", reservation.settle(*actual)),
                        None => String::new(),
                    }
                }
                Call::Wait(index) => {
                    let count = reservations.len().max(1);
                    match reservations.get(index % count).and_then(Option::as_ref) {
                        Some(reservation) => format!("{:?}", reservation.wait()),
                        None => String::new(),
                    }
                }
                Call::SetRate(rate) => format!("{:?}", limiter.set_rate(*rate)),
                Call::Observe(remaining, reset) => {
                    format!("{:?}", limiter.observe(*remaining, *reset))
                }
            };
            let planned: Vec<_> = reservations
                .iter()
                .flatten()
                .map(Reservation::ready_at)
                .collect();
            format!(
                "{call:?} -> {answer} now={:?} {:?} planned={planned:?}",
                time.now(),
                limiter.stats()
            )
        })
        .collect()
}

/// Runs `calls` on the four bucket limiters and asserts that every step answered alike.
pub fn assert_bucket_limiters_agree(rate: Rate, calls: &[Call]) {
    let gcra = bucket_answers::<GcraVirtual>(rate, calls);
    for (name, other) in [
        (
            "gcra_continuous",
            bucket_answers::<GcraContinuous>(rate, calls),
        ),
        ("token_bucket", bucket_answers::<TokenBucket>(rate, calls)),
        ("leaky_bucket", bucket_answers::<LeakyBucket>(rate, calls)),
    ] {
        for (step, (expected, got)) in gcra.iter().zip(&other).enumerate() {
            assert_eq!(
                got, expected,
                "{name} differs from RateLimiter::new at step {step} (rate {rate})"
            );
        }
    }
}
