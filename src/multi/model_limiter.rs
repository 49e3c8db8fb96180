use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use super::Then;
use super::{
    LimitError, Limits, MultiLimiter, Permit, Usage, INPUT_TOKENS, OUTPUT_TOKENS, REQUESTS, TOKENS,
};
use crate::keyed::ModelsAtRest;
use crate::reservation::Patience;
use crate::{Clock, Deadline, Nanos};

/// One [`MultiLimiter`] per model (requests per minute, tokens per minute, parallel calls),
/// with a default for models not configured, created on first use.
///
/// Memory follows the models in use, not the models ever seen. A model made from the default
/// that no call is using (no permit alive, nobody waiting, no server hold, its rates as
/// configured) is put **at rest** as the models' limiters grow: when every rate of the default
/// is counted by GCRA, what it keeps is one word per rate (a few tens of bytes beside its name),
/// woken into a full limiter, deciding exactly as before, when the model is used again; once
/// those words have passed (every rate whole again) the model is forgotten. Otherwise (a window,
/// another algorithm, a store other than memory) an idle model's limiter is forgotten once every
/// rate is whole again.
///
/// ```
/// use tollgate::{Limits, ModelLimiter, TOKENS};
///
/// let models = ModelLimiter::builder()
///     .model("gpt-4o", Limits::new().rpm(500).tpm(40_000).max_parallel(10))
///     .default(Limits::new().rpm(10).tpm(200_000).max_parallel(5))
///     .build()?;
/// let permit = models.acquire("gpt-4o", &[(TOKENS, 8_000)])?;   // every limit at once
/// permit.settle(TOKENS, 7_500)?;                                 // the actual usage
/// let stats = models.stats();
/// assert_eq!(stats["gpt-4o"].active.to_string(), "1/10");
/// assert_eq!(stats["gpt-4o"].requests.unwrap().to_string(), "1/500");
/// # Ok::<(), tollgate::LimitError>(())
/// ```
pub struct ModelLimiter {
    clock: Clock,
    configured: HashMap<String, Limits>,
    default: Option<Limits>,
    /// The full limiters: configured models, and default-made ones in use or used since the
    /// last sweep.
    limiters: RwLock<HashMap<String, MultiLimiter>>,
    /// Default-made models at rest (one word per rate), when the default has that form and the
    /// models live in memory. Changed only under `limiters`' write lock.
    at_rest: Option<ModelsAtRest>,
    /// Where the models' states live when not in memory (each model under its own name).
    place: Option<PlaceModel>,
    /// Sweep the full limiters when the map reaches this size (twice the count after the last
    /// sweep: amortised O(1) per new model, full limiters bounded by twice the models in use).
    sweep_at: AtomicUsize,
}

/// The smallest map size at which idle limiters are swept.
const MIN_SWEEP: usize = 64;

/// Builds a [`ModelLimiter`]; see [`ModelLimiter::builder`].
#[derive(Debug, Default)]
#[must_use]
pub struct ModelLimiterBuilder {
    configured: HashMap<String, Limits>,
    default: Option<Limits>,
    clock: Option<Clock>,
    place: Option<PlaceModel>,
}

/// Places one model's limiter (built in memory) on a store, given the model's name.
type Place = dyn Fn(MultiLimiter, &str) -> Result<MultiLimiter, LimitError> + Send + Sync;

/// How each model's limiter is placed on a [state store](crate::state) other than memory: set
/// by the store's module (`ModelLimiterBuilder::shared_on` for Redis), called with each model's
/// limiter (built in memory) and the model's name.
#[derive(Clone)]
struct PlaceModel {
    place: Arc<Place>,
    /// Where, for `Debug`.
    described: String,
}

impl fmt::Debug for PlaceModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.described)
    }
}

/// `limiter` (model `model`'s, in memory) where `place` puts it, if anywhere.
fn placed(
    place: Option<&PlaceModel>,
    limiter: MultiLimiter,
    model: &str,
) -> Result<MultiLimiter, LimitError> {
    match place {
        Some(place) => (place.place)(limiter, model),
        None => Ok(limiter),
    }
}

impl ModelLimiterBuilder {
    /// The limits of model `name`.
    pub fn model(mut self, name: impl Into<String>, limits: Limits) -> Self {
        self.configured.insert(name.into(), limits);
        self
    }

    /// The limits of every model not configured (each gets limits of its own). Without a
    /// default, unknown models are an error.
    pub fn default(mut self, limits: Limits) -> Self {
        self.default = Some(limits);
        self
    }

    /// The clock to read (default: the real clock).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Places every model's limiter with `place` (called with the limiter built in memory and
    /// the model's name), described as `described` (where it places them). A store's
    /// constructor calls it; unused when no store behind a feature is compiled.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn placed_by(
        mut self,
        described: String,
        place: impl Fn(MultiLimiter, &str) -> Result<MultiLimiter, LimitError> + Send + Sync + 'static,
    ) -> Self {
        self.place = Some(PlaceModel {
            place: Arc::new(place),
            described,
        });
        self
    }

    /// Checks every limit and builds the limiter.
    ///
    /// # Errors
    /// [`LimitError::NoModels`] with no model and no default; the errors of
    /// [`MultiLimiter::new`] for the limits of each.
    ///
    /// ```
    /// use tollgate::{LimitError, ModelLimiter};
    ///
    /// assert_eq!(ModelLimiter::builder().build().unwrap_err(), LimitError::NoModels);
    /// ```
    pub fn build(self) -> Result<ModelLimiter, LimitError> {
        if self.configured.is_empty() && self.default.is_none() {
            return Err(LimitError::NoModels);
        }
        let clock = self.clock.unwrap_or_default();
        let mut limiters = HashMap::new();
        for (name, limits) in &self.configured {
            let limiter = MultiLimiter::build(limits.clone(), clock.clone())?;
            let limiter = placed(self.place.as_ref(), limiter, name)?;
            limiters.insert(name.clone(), limiter);
        }
        if let Some(default) = &self.default {
            MultiLimiter::build(default.clone(), clock.clone())?;
        }
        let limiters_len = limiters.len();
        let at_rest = match (&self.default, &self.place) {
            (Some(default), None) => ModelsAtRest::of(default, clock.clone()),
            _ => None,
        };
        Ok(ModelLimiter {
            clock,
            configured: self.configured,
            default: self.default,
            limiters: RwLock::new(limiters),
            at_rest,
            place: self.place,
            sweep_at: AtomicUsize::new(MIN_SWEEP.max(limiters_len * 2)),
        })
    }
}

/// One model's live figures: per resource, what calls that went use (debt included, so
/// `"12345/1000 (11345 debt)"` after a settle far above the estimate), what callers still
/// waiting have reserved, against the limit ([`Usage`]); and the permits held against
/// `max_parallel` (`active.reserved`: permits still waiting for their instant).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModelStats {
    /// `"requests"`, if limited.
    pub requests: Option<Usage>,
    /// `"tokens"`, if limited.
    pub tokens: Option<Usage>,
    /// `"input_tokens"`, if limited.
    pub input_tokens: Option<Usage>,
    /// `"output_tokens"`, if limited.
    pub output_tokens: Option<Usage>,
    /// Permits held (acquired, or reserved and gone, not yet dropped), with or without a
    /// `max_parallel`; `reserved`: permits still waiting.
    pub active: Usage,
}

impl fmt::Display for ModelStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(requests) = self.requests {
            write!(f, "requests {requests}, ")?;
        }
        if let Some(tokens) = self.tokens {
            write!(f, "tokens {tokens}, ")?;
        }
        if let Some(tokens) = self.input_tokens {
            write!(f, "input tokens {tokens}, ")?;
        }
        if let Some(tokens) = self.output_tokens {
            write!(f, "output tokens {tokens}, ")?;
        }
        write!(f, "active {}", self.active)
    }
}

impl ModelLimiter {
    /// A builder with no models and no default.
    pub fn builder() -> ModelLimiterBuilder {
        <ModelLimiterBuilder as Default>::default()
    }

    /// Takes `costs` (`(resource, cost)` pairs, e.g. `(TOKENS, 8_000)`) plus one request
    /// when the model's limits count requests and `costs` does not name them (the one rule of
    /// [`MultiLimiter::acquire`]), and a parallel slot, all at once, blocking until they fit.
    ///
    /// # Errors
    /// [`LimitError::UnknownModel`]; [`LimitError::UnknownResource`] when `costs` names a
    /// resource the model's limits do not count (an estimate that would silently be ignored);
    /// [`LimitError::ExceedsCapacity`].
    pub fn acquire(&self, model: &str, costs: &[(&str, u64)]) -> Result<Permit, LimitError> {
        self.enter(model, costs, Patience::Forever)
    }

    /// [`acquire`](Self::acquire) if everything fits now, else an error at once.
    ///
    /// # Errors
    /// [`LimitError::NotInTime`], and as [`acquire`](Self::acquire).
    pub fn try_acquire(&self, model: &str, costs: &[(&str, u64)]) -> Result<Permit, LimitError> {
        self.enter(model, costs, Patience::For(Nanos::ZERO))
    }

    /// [`acquire`](Self::acquire), waiting at most `timeout`; nothing is taken on failure.
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_for(
        &self,
        model: &str,
        costs: &[(&str, u64)],
        timeout: Duration,
    ) -> Result<Permit, LimitError> {
        self.enter(model, costs, Patience::For(Nanos::from(timeout)))
    }

    /// [`acquire`](Self::acquire) if it fits by `deadline`: an instant of the model's
    /// limiter's clock ([`with_clock`](ModelLimiterBuilder::with_clock)) or a [`std::time::Instant`] (see [`Deadline`]).
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_until(
        &self,
        model: &str,
        costs: &[(&str, u64)],
        deadline: impl Into<Deadline>,
    ) -> Result<Permit, LimitError> {
        let deadline = deadline.into().on(&self.clock);
        self.enter(model, costs, Patience::Until(deadline))
    }

    fn enter(
        &self,
        model: &str,
        costs: &[(&str, u64)],
        patience: Patience,
    ) -> Result<Permit, LimitError> {
        let limiter = self.limiter(model)?;
        limiter.reserve_within(costs, patience, Then::Wait)
    }

    /// The limiter of `model`, created from the default on first use.
    pub fn limiter(&self, model: &str) -> Result<MultiLimiter, LimitError> {
        if let Some(limiter) = self.limiters.read().get(model) {
            return Ok(limiter.clone());
        }
        let limits = self
            .configured
            .get(model)
            .or(self.default.as_ref())
            .ok_or_else(|| LimitError::UnknownModel(model.to_owned()))?;
        let mut limiters = self.limiters.write();
        if let Some(limiter) = limiters.get(model) {
            return Ok(limiter.clone());
        }
        let limiter = MultiLimiter::build(limits.clone(), self.clock.clone())?;
        if let Some(at_rest) = &self.at_rest {
            at_rest.wake(model, &limiter);
        }
        let limiter = placed(self.place.as_ref(), limiter, model)?;
        if limiters.len() >= self.sweep_at.load(Ordering::Relaxed) {
            self.sweep(&mut limiters);
        }
        limiters.insert(model.to_owned(), limiter.clone());
        Ok(limiter)
    }

    /// Puts to rest (or forgets) the default-made limiters nobody is using: held by nobody else
    /// and holding nothing but their rates' state (see [`ModelsAtRest`]); without a form at
    /// rest, forgets those that are idle (every rate whole). A limiter made later for the model
    /// decides exactly as it would have.
    fn sweep(&self, limiters: &mut HashMap<String, MultiLimiter>) {
        limiters.retain(|name, limiter| {
            if self.configured.contains_key(name) || !limiter.is_unshared() {
                return true;
            }
            match &self.at_rest {
                Some(at_rest) => !at_rest.put_to_rest(name, limiter),
                None => !limiter.is_idle_and_unshared(),
            }
        });
        self.sweep_at
            .store((limiters.len() * 2).max(MIN_SWEEP), Ordering::Relaxed);
    }

    /// Live figures of every model configured or in use, by name. Models made from the default
    /// are forgotten once idle (every rate whole, holding nothing), so this stays as small as
    /// what is used. [`for_each`](Self::for_each) gives the same figures without building the
    /// map (a tenth of the time for a million models).
    pub fn stats(&self) -> BTreeMap<String, ModelStats> {
        let mut by_name = ByName::default();
        self.for_each(|name, stats| by_name.push(name, stats));
        by_name.into_map()
    }

    /// Calls `visit` with the live figures of every model configured or in use, in no
    /// particular order (those of [`stats`](Self::stats)). Models at rest are visited under
    /// this limiter's read lock: `visit` must not call this limiter.
    ///
    /// ```
    /// use tollgate::{Limits, ModelLimiter, TOKENS};
    ///
    /// let models = ModelLimiter::builder().default(Limits::new().rpm(10).tpm(1_000)).build()?;
    /// for model in ["a", "b", "c"] {
    ///     drop(models.acquire(model, &[(TOKENS, 100)])?);
    /// }
    /// let mut tokens = 0;
    /// models.for_each(|_, stats| tokens += stats.tokens.unwrap().used);
    /// assert_eq!(tokens, 300);
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    pub fn for_each(&self, mut visit: impl FnMut(&str, ModelStats)) {
        let limiters: Vec<_> = {
            // Under the read lock: no model moves between the full limiters and rest meanwhile.
            let limiters = self.limiters.read();
            if let Some(at_rest) = &self.at_rest {
                at_rest.for_each(|name, usage, permits| {
                    visit(name, ModelStats::of(usage, permits));
                });
            }
            limiters
                .iter()
                .map(|(name, limiter)| (name.clone(), limiter.clone()))
                .collect()
        };
        for (name, limiter) in limiters {
            let usage = limiter.usage();
            let usage: Vec<_> = usage
                .iter()
                .map(|(resource, usage)| (resource.as_str(), *usage))
                .collect();
            visit(&name, ModelStats::of(&usage, limiter.permits()));
        }
    }
}

/// Models' figures gathered in any order, given out as a map by name: cheap for a million
/// models. The names are copied into one buffer and sorted by their first 16 bytes read as a
/// number (the whole names only on a tie), so that sorting neither follows pointers to
/// scattered strings nor moves the figures; the map is then built from sorted pairs in one pass.
#[derive(Default)]
struct ByName {
    /// Every name, one after another.
    text: String,
    names: Vec<NameAt>,
    figures: Vec<ModelStats>,
}

/// A name in [`ByName::text`], and the index of its figures.
struct NameAt {
    /// The name's first 16 bytes (zeros after its end), big-endian: ordered as the names are,
    /// except among names that share them.
    prefix: u128,
    start: usize,
    end: usize,
    figures: usize,
}

impl ByName {
    fn push(&mut self, name: &str, figures: ModelStats) {
        let mut prefix = [0; 16];
        let head = &name.as_bytes()[..name.len().min(16)];
        prefix[..head.len()].copy_from_slice(head);
        let start = self.text.len();
        self.text.push_str(name);
        self.names.push(NameAt {
            prefix: u128::from_be_bytes(prefix),
            start,
            end: self.text.len(),
            figures: self.figures.len(),
        });
        self.figures.push(figures);
    }

    fn into_map(mut self) -> BTreeMap<String, ModelStats> {
        let text = &self.text;
        self.names.sort_unstable_by(|a, b| {
            a.prefix
                .cmp(&b.prefix)
                .then_with(|| text[a.start..a.end].cmp(&text[b.start..b.end]))
        });
        self.names
            .iter()
            .map(|name| {
                (
                    text[name.start..name.end].to_owned(),
                    self.figures[name.figures],
                )
            })
            .collect()
    }
}

impl ModelStats {
    /// A model's figures from its rates' usage (by resource name) and its permits.
    fn of(usage: &[(&str, Usage)], permits: Usage) -> ModelStats {
        let find = |resource: &str| {
            usage
                .iter()
                .find(|(name, _)| *name == resource)
                .map(|(_, usage)| *usage)
        };
        ModelStats {
            requests: find(REQUESTS),
            tokens: find(TOKENS),
            input_tokens: find(INPUT_TOKENS),
            output_tokens: find(OUTPUT_TOKENS),
            active: permits,
        }
    }
}

impl fmt::Debug for ModelLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelLimiter")
            .field("models", &self.stats())
            .field("default", &self.default)
            .finish()
    }
}
