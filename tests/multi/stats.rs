//! Statistics separate what calls that went use, what callers still waiting reserved, and debt;
//! `active` counts the permits held, with or without `max_parallel`.

use std::time::Duration;

use tollgate::{Clock, Limits, ModelLimiter, MultiLimiter, Usage, REQUESTS, TOKENS};

/// The case: "tokens 1597/1000" with no debt, a waiting caller's charge counted as used.
#[test]
fn a_waiting_callers_charge_is_reserved_not_used() {
    let (clock, _time) = Clock::mock();
    let models = ModelLimiter::builder()
        .model("m", Limits::new().tpm(1_000))
        .with_clock(clock)
        .build()
        .unwrap();
    let first = models.acquire("m", &[(TOKENS, 597)]).unwrap();
    let api = models.limiter("m").unwrap();
    let waiting = api.reserve(&[(TOKENS, 1_000)]).unwrap();
    let tokens = models.stats()["m"].tokens.unwrap();
    assert_eq!(
        tokens,
        Usage {
            used: 597,
            reserved: 1_000,
            limit: Some(1_000)
        }
    );
    assert_eq!(tokens.debt(), 0);
    assert_eq!(tokens.to_string(), "597/1000 (+1000 reserved)");
    drop(waiting);
    drop(first);
}

/// A new user's case: waiters for tokens are also charged a request each, ahead, at their
/// instant; the requests limit (GCRA) must not read the time before that instant as use
/// ("requests 19/10 (9 debt)" after one request that went).
#[test]
fn waiters_charged_ahead_are_reserved_on_every_limit_they_count() {
    let (clock, _time) = Clock::mock();
    let api = MultiLimiter::new(Limits::new().rpm(10).tpm(1_000))
        .unwrap()
        .with_clock(clock);
    let went = api.acquire(&[(TOKENS, 1_000)]).unwrap();
    let waiters: Vec<_> = (0..2)
        .map(|_| api.reserve(&[(TOKENS, 1_000)]).unwrap())
        .collect();
    let usage = api.usage();
    let of = |name: &str| usage.iter().find(|(n, _)| n == name).unwrap().1;
    assert_eq!(
        of(REQUESTS),
        Usage {
            used: 1,
            reserved: 2,
            limit: Some(10)
        }
    );
    assert_eq!(of(REQUESTS).debt(), 0);
    assert_eq!(
        of(TOKENS),
        Usage {
            used: 1_000,
            reserved: 2_000,
            limit: Some(1_000)
        }
    );
    assert_eq!(of(TOKENS).to_string(), "1000/1000 (+2000 reserved)");
    drop(waiters);
    drop(went);
}

#[test]
fn debt_is_used_above_the_limit_and_said_so() {
    let (clock, time) = Clock::mock();
    let api = MultiLimiter::new(Limits::new().tpm(1_000))
        .unwrap()
        .with_clock(clock);
    let permit = api.acquire(&[(TOKENS, 100)]).unwrap();
    permit.settle(TOKENS, 1_597).unwrap();
    let tokens = api.usage()[0].1;
    assert_eq!(
        (tokens.used, tokens.reserved, tokens.debt()),
        (1_597, 0, 597)
    );
    assert_eq!(tokens.to_string(), "1597/1000 (597 debt)");
    // A caller waiting behind the debt: reserved apart.
    let waiting = api.reserve(&[(TOKENS, 10)]).unwrap();
    let tokens = api.usage()[0].1;
    assert_eq!(
        (tokens.used, tokens.reserved, tokens.debt()),
        (1_597, 10, 597)
    );
    assert_eq!(tokens.to_string(), "1597/1000 (597 debt, +10 reserved)");
    // Once it went, its charge is used.
    waiting.wait().unwrap();
    assert!(time.now() > tollgate::Nanos::ZERO);
    let tokens = api.usage()[0].1;
    assert_eq!(tokens.reserved, 0);
    drop(permit);
}

/// `active` read 0 while a permit was held on a model without `max_parallel`.
#[test]
fn active_counts_permits_held_without_max_parallel() {
    let models = ModelLimiter::builder()
        .model("m", Limits::new().tpm(1_000))
        .build()
        .unwrap();
    let first = models.acquire("m", &[(TOKENS, 10)]).unwrap();
    let second = models.acquire("m", &[(TOKENS, 10)]).unwrap();
    let active = models.stats()["m"].active;
    assert_eq!(active.used, 2);
    assert_eq!(active.limit, None);
    assert_eq!(active.to_string(), "2/unlimited");
    drop(first);
    assert_eq!(models.stats()["m"].active.used, 1);
    second.cancel();
    assert_eq!(models.stats()["m"].active.used, 0);
}

#[test]
fn a_reserved_permit_counts_as_held_once_it_went_and_waiting_ones_as_reserved() {
    let (clock, _time) = Clock::mock();
    let api = MultiLimiter::new(Limits::new().tpm(1_000).max_parallel(4))
        .unwrap()
        .with_clock(clock);
    let first = api.acquire(&[(TOKENS, 1_000)]).unwrap();
    let later = api.reserve(&[(TOKENS, 500)]).unwrap();
    assert_eq!(api.active(), 1);
    assert_eq!(api.permits().reserved, 1);
    assert_eq!(api.permits().to_string(), "1/4 (+1 reserved)");
    later.wait().unwrap();
    assert_eq!(api.active(), 2);
    later.wait().unwrap(); // counted once
    assert_eq!(api.active(), 2);
    drop((first, later));
    assert_eq!(api.active(), 0);
    // A permit refused by its deadline was never held.
    let _full = api.acquire(&[(TOKENS, 1_000)]).unwrap();
    assert!(api
        .try_acquire_for(&[(TOKENS, 1_000)], Duration::from_secs(1))
        .is_err());
    assert_eq!(api.active(), 1);
}

/// Permits that went at once are counted where their receipts are kept (a few places, then a
/// map): `active` stays exact past the places, through a cancel from another handle (the
/// permit still lives), a second `wait`, and drops in any order.
#[test]
fn active_is_exact_for_permits_that_went_at_once_however_they_end() {
    let (clock, time) = Clock::mock();
    let api = MultiLimiter::new(Limits::new().rpm(1_000).tpm(100_000))
        .unwrap()
        .with_clock(clock);
    let mut permits: Vec<_> = (0..40)
        .map(|_| api.acquire(&[(TOKENS, 10)]).unwrap())
        .collect();
    assert_eq!(api.active(), 40);
    permits[3].wait().unwrap(); // went already: counted once
    permits[35].wait().unwrap();
    assert_eq!(api.active(), 40);
    permits[5].cancel_handle().cancel(); // its receipt goes; the permit still lives
    permits[36].cancel_handle().cancel();
    assert_eq!(api.active(), 40);
    for index in [36, 5, 0] {
        drop(permits.remove(index));
    }
    assert_eq!(api.active(), 37);
    permits.pop().unwrap().cancel();
    assert_eq!(api.active(), 36);
    // Places handed out again are counted again; a permit that waited counts as well.
    let full = api.acquire(&[(TOKENS, 100_000 - 400)]).unwrap();
    let later = api.reserve(&[(TOKENS, 50)]).unwrap();
    assert_eq!(api.active(), 37);
    time.advance(Duration::from_secs(1));
    later.wait().unwrap();
    assert_eq!(api.active(), 38);
    drop((full, later));
    permits.clear();
    assert_eq!(api.active(), 0);
    assert_eq!(api.permits().reserved, 0);
}
