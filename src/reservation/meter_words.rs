//! What a multi-resource limiter's rejection reads without the core's lock: the meters' one-word
//! states, as the core publishes them at the end of every lock round that changes them.
//!
//! The in-memory store of a [`MultiLimiter`](crate::MultiLimiter) keeps its meters under the
//! core's lock. A call that cannot go in time changes nothing, so it needs no lock to be
//! refused, only a consistent view of what the lock guards: [`MeterWords`] is that view, a
//! sequence lock over each meter's word and pace (the GCRA's theoretical arrival time, as in
//! [`OneWord`](crate::algorithm::OneWord)), the latest instant decided at, and the instant from
//! which a newcomer is decided by the rates alone (nobody queued, a concurrency slot free, no
//! hold or pause in force). [`MeterWords::read`] decides from it exactly as the core's
//! `reserve` would with nobody queued, and only ever refuses: a call that fits, a view being
//! written, a queue, a hold or a meter without a one-word form (a sliding window's log, a
//! boxed algorithm) all go to the lock, which decides as always.
//!
//! A call that fits now is told so with the view's version ([`Verdict::FitsNow`]): the lock
//! then only commits it, without deciding again, when nothing was published since (the meters,
//! the queue, the holds and the slots are still those the call was decided on; see
//! `Ledger::go_as_published`).

use std::sync::atomic::{fence, AtomicU64, Ordering};

use super::accounts::Meter;
use super::core::Refusal;
use crate::algorithm::{Decision, GcraVirtual, OneWord, Pace};
use crate::time::Patience;
use crate::Nanos;

/// What the published view tells of a call: refused without the lock, fits now at a version of
/// the view, or only the lock can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The core's refusal, decided without its lock.
    Refused(Refusal),
    /// Every cost fits now (no wait, nobody queued, nothing held) on the view published at this
    /// version: while the version stands, the core may charge the call at once without deciding
    /// again.
    FitsNow(u64),
    /// The view does not tell (being written, someone queued, a hold, a meter without a
    /// one-word form, or a call that fits only later): the lock decides.
    Locked,
}

/// The published view of a [`Meters`](super::Meters): written under the core's lock only (one
/// writer), read by any thread.
#[derive(Debug)]
pub(crate) struct MeterWords {
    /// Odd while a write is in progress.
    version: AtomicU64,
    /// The latest instant the core decided at when it published: a reading earlier than it
    /// counts as it (time never goes backwards).
    latest: AtomicU64,
    /// No newcomer is decided by the rates alone before this instant: `u64::MAX` while someone
    /// is queued, units are held in flight (the meters do not count them) or every concurrency
    /// slot is held, else the last hold or pause.
    open_from: AtomicU64,
    /// Per meter, its word and pace.
    meters: Box<[PublishedMeter]>,
    /// Every meter has a one-word form: otherwise nothing is published or refused here.
    all_one_word: bool,
}

/// One meter's word and pace. An unpaced slot (a window's pacing while its burst is its
/// quantity) is published with interval 0: it admits everything.
#[derive(Debug, Default)]
struct PublishedMeter {
    word: AtomicU64,
    interval: AtomicU64,
    burst: AtomicU64,
    quantity: AtomicU64,
    period: AtomicU64,
}

/// A meter's state as one word and its pace, when it has a one-word form (`None` for an unpaced
/// slot's pace).
fn one_word(meter: &Meter) -> Option<(u64, Option<Pace>)> {
    match meter {
        Meter::Gcra(gcra) => Some((gcra.to_word(), Some(*crate::algorithm::Backlog::pace(gcra)))),
        Meter::Unpaced => Some((0, None)),
        Meter::Window(_) | Meter::Other(_) => None,
    }
}

impl MeterWords {
    /// The view of `meters`, published as they are, nobody queued, nothing held.
    pub(crate) fn new(meters: &[Meter]) -> MeterWords {
        let words = MeterWords {
            version: AtomicU64::new(0),
            latest: AtomicU64::new(0),
            open_from: AtomicU64::new(0),
            meters: meters.iter().map(|_| PublishedMeter::default()).collect(),
            all_one_word: meters.iter().all(|meter| one_word(meter).is_some()),
        };
        words.publish(meters, Nanos::ZERO, Nanos::ZERO, true);
        words
    }

    /// Publishes `meters` as they are at `now` (their paces too when `paces`: after a change,
    /// which may have set a rate), and the instant from which a newcomer is decided by the
    /// rates alone (`Nanos::MAX`: not until the queue changes). Under the core's lock.
    #[inline]
    pub(crate) fn publish(&self, meters: &[Meter], now: Nanos, open_from: Nanos, paces: bool) {
        if !self.all_one_word {
            return;
        }
        // The only writer: a plain load and stores, the odd version first.
        let version = self.version.load(Ordering::Relaxed);
        self.version
            .store(version.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.latest.store(now.as_u64(), Ordering::Relaxed);
        self.open_from.store(open_from.as_u64(), Ordering::Relaxed);
        for (published, meter) in self.meters.iter().zip(meters) {
            let Some((word, pace)) = one_word(meter) else {
                continue;
            };
            published.word.store(word, Ordering::Relaxed);
            if !paces {
                continue;
            }
            let pace = pace.unwrap_or(Pace {
                interval: 0,
                burst: u64::MAX,
                quantity: 0,
                period: 0,
            });
            published.interval.store(pace.interval, Ordering::Relaxed);
            published.burst.store(pace.burst, Ordering::Relaxed);
            published.quantity.store(pace.quantity, Ordering::Relaxed);
            published.period.store(pace.period, Ordering::Relaxed);
        }
        self.version
            .store(version.wrapping_add(2), Ordering::Release);
    }

    /// Whether the view is still the one published at `version` (nothing published since). Under
    /// the core's lock, where nothing can be published meanwhile.
    #[inline]
    pub(crate) fn still_at(&self, version: u64) -> bool {
        self.version.load(Ordering::Relaxed) == version
    }

    /// The core's decision on `costs` (one per meter) within `patience` at the clock `reading`,
    /// as far as the published view tells it when a newcomer is decided by the rates alone:
    /// exactly what the core's `reserve` answers then, a refusal (the first cost above its
    /// meter's capacity, in order; else "not in time" with the same wait) or a grant at once
    /// ([`Verdict::FitsNow`], at the view's version); [`Verdict::Locked`] otherwise.
    #[inline(always)]
    pub(crate) fn read(&self, costs: &[u64], patience: Patience, reading: Nanos) -> Verdict {
        if !self.all_one_word || costs.len() != self.meters.len() {
            return Verdict::Locked;
        }
        let version = self.version.load(Ordering::Acquire);
        if version & 1 == 1 {
            return Verdict::Locked;
        }
        let now = reading.max(Nanos::new(self.latest.load(Ordering::Relaxed)));
        if Nanos::new(self.open_from.load(Ordering::Relaxed)) > now {
            return Verdict::Locked;
        }
        // As the ledger's `plan_at` with nobody queued and nothing held: from `now`, the
        // latest instant any meter allows its cost; capacities checked in the same pass.
        let mut at = now;
        let mut refusal = None;
        for (resource, (&cost, published)) in costs.iter().zip(self.meters.iter()).enumerate() {
            let burst = published.burst.load(Ordering::Relaxed);
            if cost > burst {
                refusal = Some(Refusal::ExceedsCapacity {
                    resource,
                    cost,
                    capacity: burst,
                });
                break;
            }
            let interval = published.interval.load(Ordering::Relaxed);
            if interval == 0 || cost == 0 {
                continue; // unpaced, or nothing taken: admits everything
            }
            let pace = Pace {
                interval,
                burst,
                quantity: published.quantity.load(Ordering::Relaxed),
                period: published.period.load(Ordering::Relaxed),
            };
            // The decision the rate limiter's lock-free path makes on the same word: whether
            // the cost fits now is one comparison; the instant it fits, the GCRA's.
            let word = published.word.load(Ordering::Relaxed);
            if let Decision::NotBefore(fits) = GcraVirtual::decide_on_word(&pace, word, now, cost) {
                at = at.max(fits);
            }
        }
        let verdict = match refusal {
            Some(refusal) => Verdict::Refused(refusal),
            // The end of time is not an instant anyone goes at (no deadline is in time there).
            None if at <= now && now < Nanos::MAX => Verdict::FitsNow(version),
            None => match patience.due(now).in_time(at, now) {
                Ok(()) => return Verdict::Locked,
                Err(wait) => Verdict::Refused(Refusal::NotInTime { wait: Some(wait) }),
            },
        };
        // The view read is the one published at `version`: nothing was written meanwhile.
        fence(Ordering::Acquire);
        match self.version.load(Ordering::Relaxed) == version {
            true => verdict,
            false => Verdict::Locked,
        }
    }

    /// [`read`](Self::read)'s refusal, if it is one (what the tests compare with the core's).
    #[cfg(test)]
    pub(crate) fn refuse(
        &self,
        costs: &[u64],
        patience: Patience,
        reading: Nanos,
    ) -> Option<Refusal> {
        match self.read(costs, patience, reading) {
            Verdict::Refused(refusal) => Some(refusal),
            Verdict::FitsNow(_) | Verdict::Locked => None,
        }
    }
}
