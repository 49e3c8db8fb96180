//! The per-model limiter: the seed's configuration and statistics, lazy defaults, releases that
//! never wait behind a sleeping acquirer, and threads across models.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tollgate::{Clock, LimitError, Limits, ModelLimiter, TOKENS};

use crate::support;

fn seed_models(clock: Clock) -> ModelLimiter {
    ModelLimiter::builder()
        .model("gpt-4", Limits::new().rpm(500).tpm(40_000).max_parallel(10))
        .model(
            "gpt-3.5-turbo",
            Limits::new().rpm(3_500).tpm(90_000).max_parallel(20),
        )
        .default(Limits::new().rpm(10).tpm(200_000).max_parallel(5))
        .with_clock(clock)
        .build()
        .unwrap()
}

#[test]
fn stats_read_like_the_seed() {
    let (clock, _time) = Clock::mock();
    let models = seed_models(clock);
    let mut held = Vec::new();
    for _ in 0..3 {
        let permit = models.acquire("gpt-4", &[(TOKENS, 12_000)]).unwrap();
        permit.settle(TOKENS, 11_000).unwrap();
        held.push(permit);
    }
    let stats = models.stats();
    let gpt4 = stats["gpt-4"];
    assert_eq!(gpt4.requests.unwrap().to_string(), "3/500");
    assert_eq!(gpt4.tokens.unwrap().to_string(), "33000/40000");
    assert_eq!(gpt4.active.to_string(), "3/10");
    assert_eq!(
        gpt4.to_string(),
        "requests 3/500, tokens 33000/40000, active 3/10"
    );
    assert_eq!(stats["gpt-3.5-turbo"].active.to_string(), "0/20");
    drop(held);
    assert_eq!(models.stats()["gpt-4"].active.to_string(), "0/10");
}

#[test]
fn unknown_models_get_the_default_lazily_or_an_error_without_one() {
    let (clock, _time) = Clock::mock();
    let models = seed_models(clock);
    assert!(!models.stats().contains_key("claude-3"));
    let _permit = models.acquire("claude-3", &[(TOKENS, 1_000)]).unwrap();
    assert_eq!(
        models.stats()["claude-3"].to_string(),
        "requests 1/10, tokens 1000/200000, active 1/5"
    );

    let strict = ModelLimiter::builder()
        .model("a", Limits::new().rpm(1))
        .build()
        .unwrap();
    assert_eq!(
        strict.acquire("b", &[(TOKENS, 1)]).unwrap_err(),
        LimitError::UnknownModel("b".into())
    );
}

#[test]
fn a_release_is_never_blocked_behind_a_sleeping_acquirer() {
    let (clock, time) = Clock::mock_stepped();
    let models = ModelLimiter::builder()
        .model("m", Limits::new().rpm(60).tpm(1_000).max_parallel(4))
        .with_clock(clock)
        .build()
        .unwrap();
    let first = models.acquire("m", &[(TOKENS, 1_000)]).unwrap();
    std::thread::scope(|s| {
        let _freed = support::ClockFreedOnPanic::new(&time);
        // Waits 60 s (mock) for tokens, sleeping.
        let sleeper = s.spawn(|| {
            models
                .acquire("m", &[(TOKENS, 1_000)])
                .map(|p| p.ready_at().unwrap())
        });
        time.wait_for_sleepers(1); // its charge planned, asleep until 60 s
        let started = Instant::now();
        drop(first);
        assert!(
            models.try_acquire("m", &[(TOKENS, 0)]).is_err(),
            "FIFO: behind the sleeper's grant"
        );
        assert!(started.elapsed() < Duration::from_millis(100));
        time.advance(Duration::from_secs(60));
        assert!(support::join(sleeper).unwrap().is_ok());
    });
}

#[test]
fn a_cancelled_acquire_never_leaks_a_slot() {
    let models = ModelLimiter::builder()
        .model("m", Limits::new().max_parallel(1))
        .build()
        .unwrap();
    let held = models.acquire("m", &[]).unwrap();
    for _ in 0..3 {
        assert!(models
            .try_acquire_for("m", &[], Duration::from_millis(5))
            .is_err());
    }
    drop(held);
    assert_eq!(models.stats()["m"].active.used, 0);
    let _next = models.try_acquire("m", &[]).unwrap();
}

#[test]
fn threads_across_models_never_exceed_parallel_limits() {
    let models = ModelLimiter::builder()
        .model(
            "a",
            Limits::new()
                .rpm(1_000_000)
                .tpm(100_000_000)
                .max_parallel(2),
        )
        .model("b", Limits::new().rpm(1_000_000).max_parallel(3))
        .default(Limits::new().max_parallel(1))
        .build()
        .unwrap();
    let names = ["a", "b", "c"];
    let limits = [2, 3, 1];
    let inside: [AtomicU64; 3] = Default::default();
    let most: [AtomicU64; 3] = Default::default();
    std::thread::scope(|s| {
        for t in 0..8usize {
            let (models, inside, most) = (&models, &inside, &most);
            s.spawn(move || {
                for i in 0..300usize {
                    let m = (t + i) % 3;
                    let tokens: &[(&str, u64)] = if m == 0 { &[(TOKENS, 10)] } else { &[] };
                    let permit = models.acquire(names[m], tokens).unwrap();
                    let now = inside[m].fetch_add(1, Ordering::SeqCst) + 1;
                    most[m].fetch_max(now, Ordering::SeqCst);
                    inside[m].fetch_sub(1, Ordering::SeqCst);
                    if m == 0 {
                        permit.settle(TOKENS, 5).unwrap();
                    } else {
                        assert!(permit.settle(TOKENS, 5).is_err()); // not counted: an error
                    }
                }
            });
        }
    });
    for m in 0..3 {
        assert!(most[m].load(Ordering::SeqCst) <= limits[m], "{}", names[m]);
        assert_eq!(models.stats()[names[m]].active.used, 0);
    }
}

#[test]
fn a_million_idle_model_names_are_forgotten_and_stats_stay_small() {
    let (clock, time) = Clock::mock();
    let models = ModelLimiter::builder()
        .model("configured", Limits::new().rpm(60))
        .default(Limits::new().rpm(60).max_parallel(2))
        .with_clock(clock)
        .build()
        .unwrap();
    let started = Instant::now();
    for i in 0..1_000_000u32 {
        drop(models.acquire(&format!("model-{i}"), &[]).unwrap());
        time.advance(Duration::from_secs(1)); // its one request has regenerated
    }
    let stats = models.stats();
    assert!(stats.len() <= 130, "{} limiters kept", stats.len());
    assert!(
        stats.contains_key("configured"),
        "configured models are never forgotten"
    );
    let timed = Instant::now();
    models.stats();
    assert!(timed.elapsed() < Duration::from_millis(50));
    eprintln!(
        "10^6 idle names: {} limiters kept, {:?} in all",
        stats.len(),
        started.elapsed()
    );
    // A model in use is kept: its permit holds it.
    let held = models.acquire("busy", &[]).unwrap();
    for i in 0..1_000u32 {
        drop(models.acquire(&format!("other-{i}"), &[]).unwrap());
        time.advance(Duration::from_secs(1));
    }
    assert_eq!(models.stats()["busy"].active.used, 1);
    drop(held);
}
