//! Default-made models at rest (one word per rate): a `ModelLimiter` that puts models no call
//! is using to rest decides, and reports, exactly as one whose models all keep their full
//! limiter; models in use (a permit, a waiter, a server's hold, a changed rate, a clone held)
//! are never put to rest; models whose rates are whole again are forgotten.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use tollgate::{
    Clock, LimitError, Limits, ModelLimiter, ModelStats, MultiLimiter, Permit, Rate, REQUESTS,
    TOKENS,
};

use crate::support::proptest_config;

/// Enough models for the full limiters to be swept many times (a sweep starts at 64).
const MODELS: u32 = 300;

fn default_limits() -> Limits {
    Limits::new().rpm(6).tpm(1_000).max_parallel(3)
}

fn models_on(clock: Clock) -> ModelLimiter {
    ModelLimiter::builder()
        .model("configured", Limits::new().rpm(60))
        .default(default_limits())
        .with_clock(clock)
        .build()
        .unwrap()
}

#[derive(Clone, Copy, Debug)]
enum Call {
    /// `try_acquire` on a model, the permit dropped at once or kept for a while.
    TryAcquire { model: u32, tokens: u64, keep: bool },
    /// A server's reading on a model.
    Observe { model: u32, remaining: u64 },
    /// Settle the oldest permit kept, and drop it.
    SettleOldest { tokens: u64 },
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        8 => (0..MODELS, 0..700_u64, prop::bool::weighted(0.1))
            .prop_map(|(model, tokens, keep)| Call::TryAcquire { model, tokens, keep }),
        1 => (0..MODELS, 0..3_u64).prop_map(|(model, remaining)| Call::Observe { model, remaining }),
        1 => (0..1_500_u64).prop_map(|tokens| Call::SettleOldest { tokens }),
    ]
}

/// Model `model`'s name.
fn name(model: u32) -> String {
    format!("model-{model}")
}

/// The reference: every model keeps its full limiter (a clone is held), never put to rest.
struct Reference {
    models: ModelLimiter,
    held: BTreeMap<String, MultiLimiter>,
}

impl Reference {
    fn limiter(&mut self, model: &str) -> MultiLimiter {
        let limiter = self.models.limiter(model).unwrap();
        self.held.insert(model.to_owned(), limiter.clone());
        limiter
    }
}

/// Figures of models that use nothing are absent at rest once forgotten: the same as a model
/// never used.
fn unused(stats: &ModelStats) -> bool {
    [
        stats.requests,
        stats.tokens,
        stats.input_tokens,
        stats.output_tokens,
    ]
    .iter()
    .flatten()
    .all(|usage| usage.charged() == 0)
        && stats.active.charged() == 0
}

fn same_as_full_limiters(script: &[(u64, Call)]) {
    let (ours_clock, ours_time) = Clock::mock();
    let (reference_clock, reference_time) = Clock::mock();
    let ours = models_on(ours_clock);
    let mut reference = Reference {
        models: models_on(reference_clock),
        held: BTreeMap::new(),
    };
    let mut kept: Vec<(Permit, Permit)> = Vec::new();
    for (step, &(advance_ms, call)) in script.iter().enumerate() {
        ours_time.advance(Duration::from_millis(advance_ms));
        reference_time.advance(Duration::from_millis(advance_ms));
        match call {
            Call::TryAcquire {
                model,
                tokens,
                keep,
            } => {
                let model = name(model);
                let theirs = reference.limiter(&model).try_acquire(&[(TOKENS, tokens)]);
                let mine = ours.try_acquire(&model, &[(TOKENS, tokens)]);
                assert_eq!(
                    mine.as_ref().map(|_| ()).map_err(LimitError::clone),
                    theirs.as_ref().map(|_| ()).map_err(LimitError::clone),
                    "step {step}: {call:?}"
                );
                if let (Ok(mine), Ok(theirs), true) = (mine, theirs, keep) {
                    kept.push((mine, theirs));
                }
            }
            Call::Observe { model, remaining } => {
                let model = name(model);
                let reset = Some(Duration::from_secs(2));
                let theirs = reference.limiter(&model).observe(TOKENS, remaining, reset);
                let mine = ours
                    .limiter(&model)
                    .unwrap()
                    .observe(TOKENS, remaining, reset);
                assert_eq!(mine, theirs, "step {step}: {call:?}");
            }
            Call::SettleOldest { tokens } => {
                if !kept.is_empty() {
                    let (mine, theirs) = kept.remove(0);
                    assert_eq!(mine.settle(TOKENS, tokens), theirs.settle(TOKENS, tokens));
                }
            }
        }
    }
    let mine = ours.stats();
    let theirs = reference.models.stats();
    for (model, stats) in &theirs {
        match mine.get(model) {
            Some(mine) => assert_eq!(mine, stats, "{model}'s figures"),
            None => assert!(unused(stats), "{model} forgotten while {stats}"),
        }
    }
    assert!(mine.keys().all(|model| theirs.contains_key(model)));
}

proptest! {
    #![proptest_config(proptest_config(24))]

    #[test]
    fn models_at_rest_decide_and_report_as_full_limiters(
        script in prop::collection::vec((0..3_000_u64, call()), 200..600),
    ) {
        same_as_full_limiters(&script);
    }
}

/// Uses `count` models from `first` once each, dropping the permits: enough to sweep.
fn use_once(models: &ModelLimiter, first: u32, count: u32) {
    for model in first..first + count {
        drop(models.acquire(&name(model), &[(TOKENS, 10)]).unwrap());
    }
}

#[test]
fn models_whose_rates_are_whole_again_are_forgotten() {
    let (clock, time) = Clock::mock();
    let models = models_on(clock);
    use_once(&models, 0, 5_000);
    assert_eq!(
        models.stats().len(),
        5_001,
        "the configured model and every model used"
    );
    time.advance(Duration::from_secs(60)); // every rate whole again
    use_once(&models, 10_000, 5_000);
    let stats = models.stats();
    let earlier = stats
        .keys()
        .filter(|model| model.as_str() < "model-10000")
        .count();
    assert!(
        earlier < 2_500,
        "{earlier} models of the first round still listed"
    );
}

#[test]
fn a_model_in_use_keeps_its_limiter() {
    let (clock, time) = Clock::mock();
    let models = models_on(clock);
    // A permit kept, a server's hold, a rate changed, a clone held, a waiter's reservation.
    let permit = models.acquire("permit", &[(TOKENS, 10)]).unwrap();
    models
        .limiter("held")
        .unwrap()
        .observe(TOKENS, 0, Some(Duration::from_secs(30)))
        .unwrap();
    models
        .limiter("rate")
        .unwrap()
        .set_rate(REQUESTS, Rate::per_minute(1))
        .unwrap();
    let clone = models.limiter("clone").unwrap();
    drop(clone.acquire(&[(TOKENS, 10)]).unwrap());
    let full = models.limiter("waiter").unwrap();
    let first = full.acquire(&[(TOKENS, 1_000)]).unwrap();
    drop(first);
    let waiter = full.reserve(&[(TOKENS, 500)]).unwrap();
    drop(full);
    use_once(&models, 0, 2_000);
    time.advance(Duration::from_secs(1));
    use_once(&models, 2_000, 2_000);
    // Each still decides with what it holds.
    assert_eq!(models.stats()["permit"].active.used, 1);
    assert!(
        models.try_acquire("held", &[(TOKENS, 1)]).is_err(),
        "the hold was lost"
    );
    assert_eq!(
        models.limiter("rate").unwrap().rate(REQUESTS).unwrap(),
        Rate::per_minute(1)
    );
    // The clone and the model's limiter are one: what one takes, the other sees.
    drop(clone.acquire(&[(TOKENS, 1_000)]).unwrap());
    assert!(models.try_acquire("clone", &[(TOKENS, 100)]).is_err());
    assert_eq!(models.stats()["waiter"].tokens.unwrap().reserved, 500);
    drop((permit, waiter, clone));
}

#[test]
fn a_model_woken_from_rest_decides_as_before() {
    let (clock, time) = Clock::mock();
    let models = models_on(clock);
    drop(models.acquire("busy", &[(TOKENS, 1_000)]).unwrap());
    use_once(&models, 0, 1_000); // "busy" is put to rest meanwhile
    time.advance(Duration::from_secs(30)); // half of its tokens back
    assert!(models.try_acquire("busy", &[(TOKENS, 501)]).is_err());
    let permit = models.try_acquire("busy", &[(TOKENS, 500)]).unwrap();
    assert_eq!(models.stats()["busy"].tokens.unwrap().used, 1_000);
    drop(permit);
}
