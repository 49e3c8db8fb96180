use std::sync::atomic::{fence, AtomicU64, Ordering};

use crate::algorithm::Pace;
use crate::Nanos;

/// A [`Pace`] and the hold in force, readable without a lock (a sequence lock): written only
/// under the limiter's mutex (a rate change, a server's hold), read by the lock-free path, which
/// goes through the mutex while a write is in progress.
#[derive(Debug)]
pub(super) struct SharedPace {
    /// Odd while a write is in progress.
    version: AtomicU64,
    interval: AtomicU64,
    burst: AtomicU64,
    quantity: AtomicU64,
    period: AtomicU64,
    /// Nothing is admitted before this instant.
    hold_until: AtomicU64,
}

impl SharedPace {
    pub(super) fn new(pace: Pace) -> SharedPace {
        SharedPace {
            version: AtomicU64::new(0),
            interval: AtomicU64::new(pace.interval),
            burst: AtomicU64::new(pace.burst),
            quantity: AtomicU64::new(pace.quantity),
            period: AtomicU64::new(pace.period),
            hold_until: AtomicU64::new(0),
        }
    }

    /// The pace, the hold and the version they were read at, or `None` while a write is in
    /// progress. What is decided from them holds only if [`unchanged_since`](Self::unchanged_since)
    /// that version, checked after the state word was read.
    #[inline]
    pub(super) fn read(&self) -> Option<(u64, Pace, Nanos)> {
        let version = self.version.load(Ordering::Acquire);
        if version & 1 == 1 {
            return None;
        }
        let pace = self.load();
        let hold = Nanos::new(self.hold_until.load(Ordering::Relaxed));
        Some((version, pace, hold))
    }

    /// Whether no write began since [`read`](Self::read) returned `version`: checked after
    /// reading the state word (with `Acquire`), it tells that the word and the pace belong
    /// together (a writer marks the write in progress before changing the word).
    #[inline]
    pub(super) fn unchanged_since(&self, version: u64) -> bool {
        fence(Ordering::Acquire);
        self.version.load(Ordering::Relaxed) == version
    }

    /// The hold, for the writer's side.
    pub(super) fn hold(&self) -> Nanos {
        Nanos::new(self.hold_until.load(Ordering::Relaxed))
    }

    /// Sets the hold (between `begin_write` and `end_write`).
    pub(super) fn store_hold(&self, until: Nanos) {
        self.hold_until.store(until.as_u64(), Ordering::Relaxed);
    }

    /// The pace, for the writer's side (under the limiter's mutex, where no write can race).
    #[inline]
    pub(super) fn load(&self) -> Pace {
        Pace {
            interval: self.interval.load(Ordering::Relaxed),
            burst: self.burst.load(Ordering::Relaxed),
            quantity: self.quantity.load(Ordering::Relaxed),
            period: self.period.load(Ordering::Relaxed),
        }
    }

    /// Marks a write in progress: lock-free readers go through the mutex until `end_write`.
    pub(super) fn begin_write(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
        fence(Ordering::Release);
    }

    pub(super) fn store(&self, pace: Pace) {
        self.interval.store(pace.interval, Ordering::Relaxed);
        self.burst.store(pace.burst, Ordering::Relaxed);
        self.quantity.store(pace.quantity, Ordering::Relaxed);
        self.period.store(pace.period, Ordering::Relaxed);
    }

    pub(super) fn end_write(&self) {
        self.version.fetch_add(1, Ordering::Release);
    }
}
