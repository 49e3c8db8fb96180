//! What a [`ModelLimiter`](crate::ModelLimiter) keeps of a model no call is using: one word per
//! resource, the state of the model's limiter when nothing else tells it from a new one.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::ShardedMap;
use crate::algorithm::{Algorithm, Backlog, GcraVirtual, OneWord, Pace};
use crate::multi::{Counting, Limits, MultiLimiter, Usage};
use crate::reservation::Meter;
use crate::state::InMemory;
use crate::{Nanos, Rate};

/// The models made from one [`Limits`] (a `ModelLimiter`'s default) that are at rest: for each,
/// the GCRA word (the theoretical arrival time) of each of its rates, and nothing else.
///
/// A model's [`MultiLimiter`] can be put to rest when its state is those words alone: kept in
/// memory, held by nobody else (no permit alive, no clone), nothing waiting, held or paused, its
/// rates as configured. Woken (a new limiter from the same limits, the words written back into
/// its meters) it decides exactly as the limiter put to rest would have. A model whose words
/// have all passed decides as a new one: it is forgotten.
///
/// Only limits of at most [`MAX_RATES`] rates, each counted by GCRA (the default [`Counting`]),
/// have this form; a window's log or another algorithm's state stays in a full limiter.
pub(crate) struct ModelsAtRest {
    /// Each rate resource of the limits, in their order: its name, rate and pace.
    resources: Vec<(String, Rate, Pace)>,
    /// The concurrency limit, for the figures of a model at rest (no permit held).
    max_parallel: Option<u64>,
    /// Each model's words, in the order of `resources` (zeros after them), inline: reading
    /// every model follows no pointer.
    models: ShardedMap<String, [u64; MAX_RATES]>,
    /// Sweep the passed models when this many are at rest (twice what the last sweep kept).
    sweep_at: AtomicUsize,
}

/// The fewest models at rest at which passed ones are swept.
const MIN_SWEEP: usize = 64;

/// The most rates a model at rest keeps (requests, tokens, input and output tokens).
const MAX_RATES: usize = 4;

impl ModelsAtRest {
    /// The store for models made from `limits`, if every rate of them is counted by GCRA.
    pub(crate) fn of(limits: &Limits) -> Option<ModelsAtRest> {
        let resources = limits
            .resources
            .iter()
            .map(|resource| {
                let counting = resource.counting.unwrap_or(limits.counting);
                let pace = resource.rate.pace().ok()?;
                (counting == Counting::Gcra).then(|| (resource.name.clone(), resource.rate, pace))
            })
            .collect::<Option<Vec<_>>>()?;
        if resources.len() > MAX_RATES {
            return None;
        }
        Some(ModelsAtRest {
            resources,
            max_parallel: limits.max_parallel,
            models: ShardedMap::new(),
            sweep_at: AtomicUsize::new(MIN_SWEEP),
        })
    }

    /// Puts model `name`'s `limiter` to rest if only its rates' words tell it from a new one
    /// (the caller has checked that nobody else holds it): returns whether it did (a model whose
    /// words have all passed is not kept at all), so that the caller drops the limiter.
    pub(crate) fn put_to_rest(&self, name: &str, limiter: &MultiLimiter) -> bool {
        let Some(store) = InMemory::of(limiter) else {
            return false;
        };
        let rates_as_configured = self
            .resources
            .iter()
            .all(|(resource, rate, _)| limiter.rate(resource).ok() == Some(*rate));
        if !rates_as_configured {
            return false;
        }
        let words = store.core().read(|ledger, now| {
            if !ledger.holds_nothing(now) || ledger.accounts.meters().len() > MAX_RATES {
                return None;
            }
            let mut words = [0; MAX_RATES];
            for (word, meter) in words.iter_mut().zip(ledger.accounts.meters()) {
                let Meter::Gcra(gcra) = meter else {
                    return None;
                };
                *word = gcra.to_word();
            }
            Some((words, now))
        });
        let Some((words, now)) = words else {
            return false;
        };
        if !is_passed(&words, now) {
            let hash = self.models.hash(name);
            self.models.insert(hash, name.to_owned(), words);
        }
        true
    }

    /// Writes model `name`'s words, if it is at rest, into `limiter` (new, built from the same
    /// limits), and forgets them here.
    pub(crate) fn wake(&self, name: &str, limiter: &MultiLimiter) {
        let hash = self.models.hash(name);
        let Some(words) = self.models.remove(hash, name) else {
            return;
        };
        let Some(store) = InMemory::of(limiter) else {
            return;
        };
        store.core().change(|ledger, _| {
            for (meter, &word) in ledger.accounts.meters_mut().iter_mut().zip(words.iter()) {
                if let Meter::Gcra(gcra) = meter {
                    *gcra = GcraVirtual::from_word(gcra.pace(), word);
                }
            }
        });
    }

    /// Forgets the models whose words have all passed, once as many are at rest as
    /// [`sweep_at`](Self::sweep_at) says (amortised O(1) per model put to rest).
    pub(crate) fn sweep_if_grown(&self, now: Nanos) {
        if self.models.len() < self.sweep_at.load(Ordering::Relaxed) {
            return;
        }
        self.models.retain(|words| !is_passed(words, now));
        let kept = self.models.len();
        self.sweep_at
            .store((kept * 2).max(MIN_SWEEP), Ordering::Relaxed);
    }

    /// Calls `visit` with each model at rest and its rates' usage at `now` (in the order of the
    /// limits), the permits (none held) against the concurrency limit.
    pub(crate) fn for_each(
        &self,
        now: Nanos,
        mut visit: impl FnMut(&str, &[(&str, Usage)], Usage),
    ) {
        let permits = Usage {
            used: 0,
            reserved: 0,
            limit: self.max_parallel,
        };
        let mut usage = Vec::with_capacity(self.resources.len());
        self.models.for_each(|name, words| {
            usage.clear();
            for ((resource, rate, pace), &word) in self.resources.iter().zip(words.iter()) {
                let used = GcraVirtual::from_word(pace, word).in_use(now);
                let limit = Some(rate.quantity());
                usage.push((
                    resource.as_str(),
                    Usage {
                        used,
                        reserved: 0,
                        limit,
                    },
                ));
            }
            visit(name, &usage, permits);
        });
    }
}

/// Whether every word has passed at `now`: the model decides as a new one.
fn is_passed(words: &[u64], now: Nanos) -> bool {
    words.iter().all(|&word| Nanos::new(word) <= now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multi::TOKENS;
    use crate::Clock;

    /// A used limiter of the in-memory store is put to rest (its words kept here), and a new
    /// one woken with them refuses what the old one would have. (The store's type is what the
    /// rest reads: a store it does not recognise would silently keep every model whole.)
    #[test]
    fn a_used_limiter_rests_as_its_words_and_wakes_as_it_was() {
        let (clock, _time) = Clock::mock();
        let limits = Limits::new().rpm(10).tpm(1_000);
        let at_rest = ModelsAtRest::of(&limits).expect("GCRA rates rest");
        let limiter = MultiLimiter::build(limits.clone(), clock.clone()).unwrap();
        drop(limiter.try_acquire(&[(TOKENS, 900)]).unwrap());
        assert!(at_rest.put_to_rest("m", &limiter));
        assert_eq!(at_rest.models.len(), 1);
        let woken = MultiLimiter::build(limits, clock).unwrap();
        at_rest.wake("m", &woken);
        assert_eq!(at_rest.models.len(), 0);
        assert!(woken.try_acquire(&[(TOKENS, 200)]).is_err());
        assert!(woken.try_acquire(&[(TOKENS, 100)]).is_ok());
    }
}
