//! Default-made models at rest (one word per rate): a `ModelLimiter` that puts models no call
//! is using to rest decides, and reports, exactly as one whose models all keep their full
//! limiter; models in use (a permit, a waiter, a server's hold, a changed rate, a clone held)
//! are never put to rest; models whose rates are whole again are forgotten.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use tollgate::{
    Clock, LimitError, Limits, ModelLimiter, ModelStats, MultiLimiter, Permit, Rate, INPUT_TOKENS,
    OUTPUT_TOKENS, REQUESTS, TOKENS,
};

use crate::support::{self, proptest_config};

/// Enough models for the full limiters to be swept many times (a sweep starts at 64).
const MODELS: u32 = 300;

fn default_limits() -> Limits {
    Limits::new().rpm(6).tpm(1_000).max_parallel(3)
}

fn models_on(clock: Clock) -> ModelLimiter {
    models_of(default_limits(), clock)
}

fn models_of(default: Limits, clock: Clock) -> ModelLimiter {
    ModelLimiter::builder()
        .model("configured", Limits::new().rpm(60))
        .default(default)
        .with_clock(clock)
        .build()
        .unwrap()
}

/// What a script's calls charge under `default`: `tokens` on its tokens, half as many on its
/// input tokens, a quarter on its output tokens (each rate its own figure: a word written back
/// into another rate's meter decides differently); server readings and settles on its tokens,
/// else on its requests.
struct Charged {
    default: Limits,
    costs: Vec<(&'static str, u64)>,
    observed: &'static str,
}

impl Charged {
    fn on(default: Limits) -> Charged {
        let costs: Vec<_> = [(TOKENS, 1), (INPUT_TOKENS, 2), (OUTPUT_TOKENS, 4)]
            .into_iter()
            .filter(|(resource, _)| default.get(resource).is_some())
            .collect();
        let observed = costs.first().map_or(REQUESTS, |(resource, _)| resource);
        Charged {
            default,
            costs,
            observed,
        }
    }

    fn costs(&self, tokens: u64) -> Vec<(&'static str, u64)> {
        self.costs
            .iter()
            .map(|&(resource, divisor)| (resource, tokens / divisor))
            .collect()
    }
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
    same_as_full_limiters_from(&Charged::on(default_limits()), Duration::ZERO, script);
}

/// The script on models made from `charged.default`, both clocks first moved to `start`.
fn same_as_full_limiters_from(charged: &Charged, start: Duration, script: &[(u64, Call)]) {
    let (ours_clock, ours_time) = Clock::mock();
    let (reference_clock, reference_time) = Clock::mock();
    ours_time.advance(start);
    reference_time.advance(start);
    let ours = models_of(charged.default.clone(), ours_clock);
    let mut reference = Reference {
        models: models_of(charged.default.clone(), reference_clock),
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
                let costs = charged.costs(tokens);
                let theirs = reference.limiter(&model).try_acquire(&costs);
                let mine = ours.try_acquire(&model, &costs);
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
                let observed = charged.observed;
                let theirs = reference
                    .limiter(&model)
                    .observe(observed, remaining, reset);
                let mine = ours
                    .limiter(&model)
                    .unwrap()
                    .observe(observed, remaining, reset);
                assert_eq!(mine, theirs, "step {step}: {call:?}");
            }
            Call::SettleOldest { tokens } => {
                if !kept.is_empty() {
                    let (mine, theirs) = kept.remove(0);
                    let observed = charged.observed;
                    assert_eq!(
                        mine.settle(observed, tokens),
                        theirs.settle(observed, tokens)
                    );
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

    /// The store at rest keeps four words per model whatever the limits count: a model of one
    /// rate (three slots unused) and one of four (every slot) rest and wake as their limiters.
    #[test]
    fn models_of_one_rate_and_of_four_decide_and_report_as_full_limiters(
        script in prop::collection::vec((0..3_000_u64, call()), 200..600),
    ) {
        for default in [Limits::new().rpm(6).max_parallel(3), four_rates()] {
            same_as_full_limiters_from(&Charged::on(default), Duration::ZERO, &script);
        }
    }

    /// Words near the end of the clock's time (the mock clock starts ten minutes before it and
    /// reaches it: charges saturate there) rest, wake and are forgotten as the full limiter
    /// decides.
    #[test]
    fn models_at_the_end_of_time_decide_and_report_as_full_limiters(
        script in prop::collection::vec((0..3_000_u64, call()), 200..600),
    ) {
        let start = Duration::from_nanos(u64::MAX) - Duration::from_secs(600);
        for default in [default_limits(), four_rates()] {
            same_as_full_limiters_from(&Charged::on(default), start, &script);
        }
    }
}

/// A default counting every well-known resource: requests, tokens, input and output tokens.
fn four_rates() -> Limits {
    Limits::new()
        .rpm(6)
        .tpm(1_000)
        .input_tpm(600)
        .output_tpm(300)
        .max_parallel(3)
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

/// Two threads use one model ("hot") without pause while two others use thousands of models
/// once each, moving time a millisecond per model: the full limiters are swept again and again,
/// "hot" is put to rest and woken between its calls, and models whose words have passed are
/// swept from rest meanwhile. "hot" never admits more than its rate allows over the run (a
/// wake that lost what the model had taken would give it its burst again), nor less than its
/// burst; bounded: every loop ends, every join gives up after 30 s.
#[test]
fn a_model_put_to_rest_and_woken_under_threads_never_regains_capacity() {
    const CHURNED: u32 = 5_000;
    const LEAST_TRIES: u32 = 1_000;
    let (clock, time) = Clock::mock();
    // One request a second, 60 at once; tokens never binding.
    let models = models_of(Limits::new().rpm(60).tpm(1_000_000), clock);
    let churned = AtomicBool::new(false);
    let admitted = AtomicU64::new(0);
    std::thread::scope(|s| {
        let _stop = support::SetOnDrop(&churned);
        let hot: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut tries = 0;
                    while !churned.load(Ordering::SeqCst) || tries < LEAST_TRIES {
                        tries += 1;
                        if models.try_acquire("hot", &[(TOKENS, 1)]).is_ok() {
                            admitted.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        let churn: Vec<_> = (0..2)
            .map(|thread| {
                let (models, time) = (&models, &time);
                s.spawn(move || {
                    for model in 0..CHURNED {
                        let model = format!("churn-{thread}-{model}");
                        drop(models.try_acquire(&model, &[(TOKENS, 1)]).unwrap());
                        time.advance(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        for thread in churn {
            support::join(thread).unwrap();
        }
        churned.store(true, Ordering::SeqCst);
        for thread in hot {
            support::join(thread).unwrap();
        }
    });
    let admitted = admitted.load(Ordering::SeqCst);
    let elapsed = time.now().as_duration().as_secs();
    assert_eq!(elapsed, 2 * u64::from(CHURNED) / 1_000);
    assert!(
        (60..=60 + elapsed).contains(&admitted),
        "\"hot\" admitted {admitted} requests in {elapsed} s at 1/s, burst 60"
    );
    let stats = models.stats();
    assert!(
        stats["hot"].requests.unwrap().used <= 60,
        "{}",
        stats["hot"]
    );
}
