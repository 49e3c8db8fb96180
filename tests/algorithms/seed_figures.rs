//! The grant times of seed 004's examples, for every bucket algorithm, computed both by the pure
//! algorithms (explicit instants) and by the blocking limiter on a mock clock (no sleeping).

use std::time::Duration;

use tollgate::algorithm::{Algorithm, GcraContinuous, GcraVirtual, LeakyBucket, TokenBucket};
use tollgate::{Clock, Nanos, Rate, RateLimiter};

/// Each request issued at 0 s and reserved in turn: the instant each may go, in milliseconds.
fn reserved_at<A: Algorithm>(rate: &Rate, costs: &[u64]) -> Vec<u64> {
    let mut algorithm = A::new(rate).unwrap();
    costs
        .iter()
        .map(|&cost| algorithm.reserve(Nanos::ZERO, cost).unwrap().as_u64() / 1_000_000)
        .collect()
}

/// Each request issued by one thread as soon as the previous one returned: when it returned.
fn granted_at<A: Algorithm>(rate: Rate, costs: &[u64]) -> Vec<u64> {
    let (clock, time) = Clock::mock();
    let limiter = RateLimiter::<A>::with_algorithm(rate).with_clock(clock);
    costs
        .iter()
        .map(|&cost| {
            limiter.acquire_n(cost).unwrap();
            time.now().as_u64() / 1_000_000
        })
        .collect()
}

fn check_all(rate: Rate, costs: &[u64], expected_ms: &[u64]) {
    fn check<A: Algorithm>(rate: Rate, costs: &[u64], expected_ms: &[u64]) {
        let name = std::any::type_name::<A>();
        assert_eq!(
            reserved_at::<A>(&rate, costs),
            expected_ms,
            "{name} reserve, {rate}"
        );
        assert_eq!(
            granted_at::<A>(rate, costs),
            expected_ms,
            "{name} blocking, {rate}"
        );
    }
    check::<GcraVirtual>(rate, costs, expected_ms);
    check::<GcraContinuous>(rate, costs, expected_ms);
    check::<TokenBucket>(rate, costs, expected_ms);
    check::<LeakyBucket>(rate, costs, expected_ms);
}

#[test]
fn two_per_200ms_three_requests() {
    check_all("2/200ms".parse().unwrap(), &[1, 1, 1], &[0, 0, 100]);
}

#[test]
fn two_per_200ms_six_requests() {
    check_all(
        "2/200ms".parse().unwrap(),
        &[1; 6],
        &[0, 0, 100, 200, 300, 400],
    );
}

#[test]
fn two_per_200ms_mixed_costs() {
    check_all(
        "2/200ms".parse().unwrap(),
        &[1, 2, 1, 2, 1, 2],
        &[0, 100, 200, 400, 500, 700],
    );
}

#[test]
fn ten_per_5s_alternating_costs() {
    let costs: Vec<u64> = (0..12).map(|i| if i % 2 == 0 { 1 } else { 2 }).collect();
    let expected = [0, 0, 0, 0, 0, 0, 0, 1_000, 1_500, 2_500, 3_000, 4_000];
    check_all(Rate::new(10, Duration::from_secs(5)), &costs, &expected);
}

#[test]
fn three_per_1500ms_twelve_requests() {
    let expected = [
        0, 0, 0, 500, 1_000, 1_500, 2_000, 2_500, 3_000, 3_500, 4_000, 4_500,
    ];
    check_all("3/1500ms".parse().unwrap(), &[1; 12], &expected);
}

#[test]
fn leaky_bucket_levels_from_the_seed() {
    // "4 requests per 2 seconds": after pouring 4, one second leaks 2.
    let mut bucket = LeakyBucket::new(&"4/2s".parse().unwrap()).unwrap();
    bucket.charge(Nanos::ZERO, 4);
    assert_eq!(bucket.available(Nanos::from_secs(1)), 2);
    assert_eq!(bucket.available(Nanos::from_secs(2)), 4);
}
