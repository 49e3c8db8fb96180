use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::shared_pace::SharedPace;
use crate::algorithm::{Algorithm, AnyAlgorithm, Decision, Refunded};
use crate::rate::Pace;
use crate::reservation::Accounts;
use crate::{Nanos, Rate, RateError};

/// What a [`RateLimiter`](crate::RateLimiter) decides from without its lock.
#[derive(Debug)]
pub(super) struct FastPath {
    /// A one-word algorithm's whole state ([`OneWord`](crate::algorithm::OneWord)), updated by
    /// compare-and-swap (unused when the state is kept in [`SingleAccount`] under the lock). On
    /// a cache line of its own: the compare-and-swap traffic must not evict what every decision
    /// reads.
    word: CacheLine<AtomicU64>,
    /// Whether the algorithm has a one-word form: beside the pace, so a decision reads one line
    /// besides the word's.
    has_word: bool,
    /// The pace of the word's algorithm, and the hold in force.
    pub(super) pace: SharedPace,
    /// For algorithms under the lock: the earliest instant one unit fits (waiters and holds
    /// included), so a rejection needs no lock.
    pub(super) next_free: AtomicU64,
}

#[derive(Debug)]
#[repr(align(128))]
pub(super) struct CacheLine<T>(pub(super) T);

impl FastPath {
    pub(super) fn new<A: Algorithm>(algorithm: &Result<A, RateError>, rate: &Rate) -> FastPath {
        // Whether the algorithm has a one-word form is a property of its type, not of the rate:
        // a limiter built with an invalid rate keeps its state in the word too once `set_rate`
        // gives it a valid one (it decides then as one built with that rate).
        let has_word = A::ONE_WORD.is_some();
        let word = match (A::ONE_WORD, algorithm) {
            (Some(form), Ok(algorithm)) => form.encode(algorithm),
            _ => 0,
        };
        // An invalid rate's pace: interval 0, which the lock-free path leaves to the core (which
        // reports the invalid rate) until a valid rate is set.
        let pace = rate.pace().unwrap_or(Pace {
            interval: 0,
            burst: 1,
            quantity: 1,
            period: 1,
        });
        FastPath {
            word: CacheLine(AtomicU64::new(word)),
            has_word,
            pace: SharedPace::new(pace),
            next_free: AtomicU64::new(0),
        }
    }

    /// The state word, for an algorithm with a one-word form.
    #[inline]
    pub(super) fn word(&self) -> Option<&AtomicU64> {
        self.has_word.then_some(&self.word.0)
    }
}

/// The state of one algorithm as the reservation core's [`Accounts`] (one resource): under the
/// core's lock, except a one-word algorithm's state, which lives in the [`FastPath`] word and is
/// changed by compare-and-swap (the lock-free path admits concurrently).
#[derive(Debug)]
pub(super) struct SingleAccount<A> {
    /// The algorithm (for one-word algorithms only the template of a valid rate: the state is
    /// the word), or why the rate is invalid.
    pub(super) algorithm: Result<A, RateError>,
    pub(super) rate: Rate,
    pub(super) fast: Arc<FastPath>,
    /// A change is in progress: the lock-free path stays out until it is published.
    changing: bool,
}

impl<A: Algorithm> SingleAccount<A> {
    pub(super) fn new(rate: Rate, fast: Arc<FastPath>) -> SingleAccount<A> {
        SingleAccount {
            algorithm: A::new(&rate),
            rate,
            fast,
            changing: false,
        }
    }

    /// Runs `read` on the current state.
    pub(super) fn read<R>(&self, read: impl FnOnce(&A) -> R) -> Result<R, RateError> {
        let template = self.algorithm.as_ref().map_err(Clone::clone)?;
        match (A::ONE_WORD, self.fast.word()) {
            (Some(form), Some(word)) => {
                let state = form.decode(&self.fast.pace.load(), word.load(Ordering::Acquire));
                Ok(read(&state))
            }
            _ => Ok(read(template)),
        }
    }

    /// Applies `change` to the state: for one-word algorithms on a copy built from the word,
    /// committed by compare-and-swap (retried if the lock-free path changed the word meanwhile,
    /// so `change` must only act on the algorithm); otherwise in place.
    pub(super) fn update<R>(
        &mut self,
        mut change: impl FnMut(&mut A) -> R,
    ) -> Result<R, RateError> {
        let template = self.algorithm.as_mut().map_err(|err| err.clone())?;
        let (Some(form), Some(word)) = (A::ONE_WORD, self.fast.word()) else {
            return Ok(change(template));
        };
        let pace = self.fast.pace.load();
        loop {
            let old = word.load(Ordering::Acquire);
            let mut copy = form.decode(&pace, old);
            let result = change(&mut copy);
            let new = form.encode(&copy);
            if new == old
                || word
                    .compare_exchange(old, new, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                return Ok(result);
            }
        }
    }

    /// Switches to `rate` at `now` (an invalid template is replaced outright).
    pub(super) fn set_rate(&mut self, now: Nanos, rate: Rate) -> Result<(), RateError> {
        let pace = rate.pace()?;
        if self.algorithm.is_err() {
            self.algorithm = A::new(&rate);
            if let (Some(form), Some(word), Ok(algorithm)) =
                (A::ONE_WORD, self.fast.word(), &self.algorithm)
            {
                word.store(form.encode(algorithm), Ordering::Release);
            }
        } else {
            self.update(|algorithm| algorithm.set_rate(now, &rate))??;
        }
        if self.fast.word().is_some() {
            self.fast.pace.store(pace);
        }
        self.rate = rate;
        Ok(())
    }
}

impl<A: Algorithm> Accounts for SingleAccount<A> {
    fn resources(&self) -> usize {
        1
    }

    fn capacity(&self, _resource: usize) -> Result<u64, RateError> {
        self.read(A::capacity)
    }

    fn conforms_at(&self, _resource: usize, now: Nanos, cost: u64) -> Nanos {
        self.read(|algorithm| algorithm.conforms_at(now, cost))
            .unwrap_or(Nanos::MAX)
    }

    /// On the current word (by compare-and-swap, re-read on a race): if the lock-free path took
    /// units since `at` was planned, the charge counts from the instant it fits now.
    fn charge(&mut self, _resource: usize, now: Nanos, at: Nanos, cost: u64) -> (Nanos, Nanos) {
        self.update(|algorithm| {
            let at = at.max(algorithm.conforms_at(now, cost));
            (algorithm.charge_at(now, at, cost), at)
        })
        .unwrap_or((at, at))
    }

    fn charge_after_end(
        &mut self,
        _resource: usize,
        now: Nanos,
        at: Nanos,
        cost: u64,
    ) -> (Option<Nanos>, Nanos, Nanos) {
        // On the same decoded word as the charge (one compare-and-swap for both).
        self.update(|algorithm| {
            let before = AnyAlgorithm::queue_end(algorithm);
            let at = at.max(algorithm.conforms_at(now, cost));
            (before, algorithm.charge_at(now, at, cost), at)
        })
        .unwrap_or((None, at, at))
    }

    fn take(&mut self, _resource: usize, now: Nanos, cost: u64) -> bool {
        self.update(|algorithm| algorithm.try_take(now, cost) == Decision::Admitted)
            .unwrap_or(false)
    }

    fn record(&mut self, _resource: usize, now: Nanos, cost: u64) -> Nanos {
        self.update(|algorithm| algorithm.record(now, cost))
            .unwrap_or(now)
    }

    fn refund(&mut self, _resource: usize, now: Nanos, mark: Nanos, cost: u64) -> Refunded {
        self.update(|algorithm| algorithm.refund_charge(now, mark, cost))
            .unwrap_or_default()
    }

    fn queue_end(&self, _resource: usize) -> Option<Nanos> {
        self.read(AnyAlgorithm::queue_end).ok().flatten()
    }

    fn undo(&mut self, _resource: usize, now: Nanos, before: Nanos, mark: Nanos, cost: u64) {
        // On a copy of the word, by compare-and-swap: what the lock-free path queued after the
        // charge stays.
        self.update(|algorithm| AnyAlgorithm::undo_charge(algorithm, now, before, mark, cost))
            .ok();
    }

    fn in_use(&self, _resource: usize, now: Nanos) -> u64 {
        self.read(|algorithm| algorithm.in_use(now)).unwrap_or(0)
    }

    fn begin_change(&mut self) {
        if self.fast.word().is_some() {
            self.fast.pace.begin_write();
            self.changing = true;
        }
    }

    fn publish(&mut self, now: Nanos, holds: &[Nanos], paused_until: Nanos, _: bool) {
        let hold = holds[0].max(paused_until);
        if self.fast.word().is_some() {
            if self.fast.pace.hold() != hold {
                if !self.changing {
                    self.fast.pace.begin_write();
                }
                self.fast.pace.store_hold(hold);
                self.changing = true;
            }
            if std::mem::take(&mut self.changing) {
                self.fast.pace.end_write();
            }
        } else if let Ok(next_free) = self.read(|algorithm| algorithm.conforms_at(now, 1)) {
            // While a server's hold is in force nothing is refused lock-free: the core answers
            // (a hold past the longest is `HeldTooLong`, not a wait).
            let next_free = if hold > now { Nanos::ZERO } else { next_free };
            self.fast
                .next_free
                .store(next_free.as_u64(), Ordering::Release);
        }
    }
}
