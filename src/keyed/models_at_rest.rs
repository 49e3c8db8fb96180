//! What a [`ModelLimiter`](crate::ModelLimiter) keeps of a model no call is using: one word per
//! resource, the state of the model's limiter when nothing else tells it from a new one.

use super::words_per_key::WordsPerKey;
use crate::algorithm::{Backlog, GcraVirtual, OneWord};
use crate::multi::{Counting, Limits, MultiLimiter, Usage};
use crate::reservation::Meter;
use crate::state::InMemory;
use crate::{Clock, Rate};

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
    /// Each rate resource of the limits, in their order: its name and rate.
    resources: Vec<(String, Rate)>,
    /// The concurrency limit, for the figures of a model at rest (no permit held).
    max_parallel: Option<u64>,
    /// Each model's words, in the order of `resources`, inline (reading every model follows no
    /// pointer); the slots after them hold a new model's word (0) at [`UNUSED_SLOT`]'s pace.
    /// The keyed limiters' store: a model whose words have all passed is swept from it as its
    /// shard grows, as a key whose words decide as a new key's.
    models: WordsPerKey<String, GcraVirtual, MAX_RATES>,
}

/// The most rates a model at rest keeps (requests, tokens, input and output tokens).
const MAX_RATES: usize = 4;

/// The rate of a slot after the limits' rates: any valid rate (a slot never charged keeps a new
/// model's word, which every pace reads as nothing in use).
const UNUSED_SLOT: Rate = Rate::per_second(1);

impl ModelsAtRest {
    /// The store for models made from `limits`, on `clock`, if every rate of them is counted by
    /// GCRA.
    pub(crate) fn of(limits: &Limits, clock: Clock) -> Option<ModelsAtRest> {
        let resources = limits
            .resources
            .iter()
            .map(|resource| {
                let counting = resource.counting.unwrap_or(limits.counting);
                (counting == Counting::Gcra).then(|| (resource.name.clone(), resource.rate))
            })
            .collect::<Option<Vec<_>>>()?;
        if resources.len() > MAX_RATES {
            return None;
        }
        let rates =
            std::array::from_fn(|i| resources.get(i).map_or(UNUSED_SLOT, |(_, rate)| *rate));
        let models = WordsPerKey::new(rates, clock);
        if models.invalid_rate().is_some() {
            return None;
        }
        Some(ModelsAtRest {
            resources,
            max_parallel: limits.max_parallel,
            models,
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
            .all(|(resource, rate)| limiter.rate(resource).ok() == Some(*rate));
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
        self.models.put(name, words, now);
        true
    }

    /// Writes model `name`'s words, if it is at rest, into `limiter` (new, built from the same
    /// limits), and forgets them here.
    pub(crate) fn wake(&self, name: &str, limiter: &MultiLimiter) {
        let Some(words) = self.models.remove(name) else {
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

    /// Calls `visit` with each model at rest and its rates' usage now (in the order of the
    /// limits), the permits (none held) against the concurrency limit.
    pub(crate) fn for_each(&self, mut visit: impl FnMut(&str, &[(&str, Usage)], Usage)) {
        let permits = Usage {
            used: 0,
            reserved: 0,
            limit: self.max_parallel,
        };
        let mut usage = Vec::with_capacity(self.resources.len());
        self.models.for_each(|name, keyed| {
            usage.clear();
            for ((resource, rate), keyed) in self.resources.iter().zip(keyed) {
                let limit = Some(rate.quantity());
                usage.push((
                    resource.as_str(),
                    Usage {
                        used: keyed.in_use,
                        reserved: 0,
                        limit,
                    },
                ));
            }
            visit(name, &usage, permits);
        });
    }
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
        let at_rest = ModelsAtRest::of(&limits, clock.clone()).expect("GCRA rates rest");
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

    /// Limits with no rate (a concurrency limit alone) leave nothing to keep: every model put to
    /// rest is forgotten.
    #[test]
    fn limits_without_a_rate_keep_no_model_at_rest() {
        let (clock, _time) = Clock::mock();
        let limits = Limits::new().max_parallel(2);
        let at_rest = ModelsAtRest::of(&limits, clock.clone()).expect("no rate: nothing but GCRA");
        let limiter = MultiLimiter::build(limits, clock).unwrap();
        drop(limiter.try_acquire(&[]).unwrap());
        assert!(at_rest.put_to_rest("m", &limiter));
        assert_eq!(at_rest.models.len(), 0);
    }
}
