//! `limit_rate` and `limit_cost` wrap closures around a limiter of their own or a shared one.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use tollgate::{limit_cost, limit_rate, Clock, Nanos, Rate, RateLimiter};

#[test]
fn a_shared_limiter_paces_every_wrapped_closure() {
    let (clock, time) = Clock::mock();
    let shared = RateLimiter::new(Rate::per_second(5).burst(1)).with_clock(clock);
    let calls = AtomicU32::new(0);
    let a = limit_rate(&shared, || calls.fetch_add(1, Ordering::SeqCst));
    let b = limit_rate(&shared, |x: u32| x * 2);
    a().unwrap();
    assert_eq!(b(21).unwrap(), 42);
    a().unwrap();
    assert_eq!(time.now(), Nanos::from_millis(400));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(shared.stats().admitted, 3);
}

#[test]
fn a_rate_gives_the_closure_its_own_limiter_and_an_arc_is_shared_across_threads() {
    let double = limit_rate(Rate::per_second(1_000), |x: u64| x * 2);
    assert_eq!(double(4).unwrap(), 8);

    let limiter = Arc::new(RateLimiter::new(Rate::per_second(1_000)));
    let hello = limit_rate(Arc::clone(&limiter), || "hello");
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| assert_eq!(hello().unwrap(), "hello"));
        }
    });
    assert_eq!(limiter.stats().admitted, 4);
}

#[test]
fn the_cost_aware_wrapper_takes_the_estimate_then_settles_the_actual() {
    // Seed 004: estimate 10, actual 15: 10 taken before the call, 5 more after.
    let (clock, time) = Clock::mock();
    let tokens = RateLimiter::new(Rate::per_second(20)).with_clock(clock);
    let seen_before_call = AtomicU32::new(0);
    let call = limit_cost(
        &tokens,
        |_: &&str| 10,
        |used: &u64| *used,
        |_: &str| {
            seen_before_call.store(tokens.available() as u32, Ordering::SeqCst);
            15u64
        },
    );
    assert_eq!(call("prompt").unwrap(), 15);
    assert_eq!(seen_before_call.load(Ordering::SeqCst), 10);
    assert_eq!(tokens.available(), 5);
    // A call that used less than estimated gets the difference back.
    let frugal = limit_cost(&tokens, |_: &()| 5, |used: &u64| *used, |_: ()| 1u64);
    frugal(()).unwrap();
    assert_eq!(tokens.available(), 4);
    assert_eq!(time.now(), Nanos::ZERO);
}
