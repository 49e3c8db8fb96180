//! Any [`Algorithm`] as one object-safe type, for the limiters that choose an algorithm per
//! resource at run time (a [`MultiLimiter`](crate::MultiLimiter)'s meters), and the one place
//! that says where an algorithm's queue of charges ends and how a charge comes out exactly
//! (`queue_end`, `undo_charge`: also what a [`RateLimiter`](crate::RateLimiter)'s account calls).
//!
//! Its methods carry the names of [`Algorithm`]'s, so a caller with only this trait in scope
//! writes the same call for a concrete algorithm (dispatched statically) and for a boxed one.

use std::fmt;

use super::{Algorithm, Pace, Refunded};
use crate::{Nanos, Rate, RateError};

/// What the reservation core asks of one resource's algorithm, object-safe: implemented for
/// every [`Algorithm`], the one-word form's exact undo included where it has one.
pub(crate) trait AnyAlgorithm: Send + fmt::Debug {
    fn capacity(&self) -> u64;
    fn conforms_at(&self, now: Nanos, cost: u64) -> Nanos;
    fn charge_at(&mut self, now: Nanos, at: Nanos, cost: u64) -> Nanos;
    fn record(&mut self, now: Nanos, cost: u64) -> Nanos;
    fn refund_charge(&mut self, now: Nanos, mark: Nanos, cost: u64) -> Refunded;
    fn in_use(&self, now: Nanos) -> u64;
    fn observe(&mut self, now: Nanos, remaining: u64);
    fn set_rate(&mut self, now: Nanos, rate: &Rate) -> Result<(), RateError>;
    fn mark_after_set_rate(&self, now: Nanos, mark: Nanos, old: &Pace) -> Nanos;
    /// Where the queue of charges ends, for an algorithm with a one-word form (the word).
    fn queue_end(&self) -> Option<Nanos>;
    /// Takes out the charge that moved the queue's end from `before` to `mark`: exactly with a
    /// one-word form, else what the charge still holds.
    fn undo_charge(&mut self, now: Nanos, before: Nanos, mark: Nanos, cost: u64);
    fn clone_box(&self) -> Box<dyn AnyAlgorithm>;
}

impl<A: Algorithm> AnyAlgorithm for A {
    #[inline]
    fn capacity(&self) -> u64 {
        Algorithm::capacity(self)
    }

    #[inline]
    fn conforms_at(&self, now: Nanos, cost: u64) -> Nanos {
        Algorithm::conforms_at(self, now, cost)
    }

    #[inline]
    fn charge_at(&mut self, now: Nanos, at: Nanos, cost: u64) -> Nanos {
        Algorithm::charge_at(self, now, at, cost)
    }

    fn record(&mut self, now: Nanos, cost: u64) -> Nanos {
        Algorithm::record(self, now, cost)
    }

    fn refund_charge(&mut self, now: Nanos, mark: Nanos, cost: u64) -> Refunded {
        Algorithm::refund_charge(self, now, mark, cost)
    }

    fn in_use(&self, now: Nanos) -> u64 {
        Algorithm::in_use(self, now)
    }

    fn observe(&mut self, now: Nanos, remaining: u64) {
        Algorithm::observe(self, now, remaining);
    }

    fn set_rate(&mut self, now: Nanos, rate: &Rate) -> Result<(), RateError> {
        Algorithm::set_rate(self, now, rate)
    }

    fn mark_after_set_rate(&self, now: Nanos, mark: Nanos, old: &Pace) -> Nanos {
        Algorithm::mark_after_set_rate(self, now, mark, old)
    }

    #[inline]
    fn queue_end(&self) -> Option<Nanos> {
        A::ONE_WORD.map(|form| Nanos::new(form.encode(self)))
    }

    fn undo_charge(&mut self, now: Nanos, before: Nanos, mark: Nanos, cost: u64) {
        match A::ONE_WORD {
            Some(form) => form.undo_charge(self, now, before, mark),
            None => {
                Algorithm::refund_charge(self, now, mark, cost);
            }
        }
    }

    fn clone_box(&self) -> Box<dyn AnyAlgorithm> {
        Box::new(self.clone())
    }
}

impl Clone for Box<dyn AnyAlgorithm> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}
