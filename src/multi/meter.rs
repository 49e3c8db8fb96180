use crate::algorithm::{Algorithm, GcraVirtual, SlidingWindow};
use crate::{Nanos, Rate, RateError};

use super::Counting;

/// One rate resource of a multi-limiter: the algorithm its limits chose.
#[derive(Debug)]
pub(super) enum Meter {
    Gcra(GcraVirtual),
    Window(SlidingWindow),
}

impl Meter {
    pub(super) fn new(rate: &Rate, counting: Counting) -> Result<Meter, RateError> {
        Ok(match counting {
            Counting::Gcra => Meter::Gcra(GcraVirtual::new(rate)?),
            Counting::SlidingWindow => Meter::Window(SlidingWindow::new(rate)?),
        })
    }

    pub(super) fn algorithm(&self) -> &dyn MeterAlgorithm {
        match self {
            Meter::Gcra(gcra) => gcra,
            Meter::Window(window) => window,
        }
    }

    pub(super) fn algorithm_mut(&mut self) -> &mut dyn MeterAlgorithm {
        match self {
            Meter::Gcra(gcra) => gcra,
            Meter::Window(window) => window,
        }
    }
}

/// The object-safe part of [`Algorithm`] a multi-limiter uses.
pub(super) trait MeterAlgorithm {
    fn capacity(&self) -> u64;
    fn conforms_at(&self, now: Nanos, cost: u64) -> Nanos;
    fn charge(&mut self, now: Nanos, cost: u64);
    fn refund_charged_at(&mut self, now: Nanos, charged_at: Nanos, cost: u64);
    fn available(&self, now: Nanos) -> u64;
    fn observe(&mut self, now: Nanos, remaining: u64, reset: Option<Nanos>);
}

impl<A: Algorithm> MeterAlgorithm for A {
    fn capacity(&self) -> u64 {
        Algorithm::capacity(self)
    }
    fn conforms_at(&self, now: Nanos, cost: u64) -> Nanos {
        Algorithm::conforms_at(self, now, cost)
    }
    fn charge(&mut self, now: Nanos, cost: u64) {
        Algorithm::charge(self, now, cost);
    }
    fn refund_charged_at(&mut self, now: Nanos, charged_at: Nanos, cost: u64) {
        Algorithm::refund_charged_at(self, now, charged_at, cost);
    }
    fn available(&self, now: Nanos) -> u64 {
        Algorithm::available(self, now)
    }
    fn observe(&mut self, now: Nanos, remaining: u64, reset: Option<Nanos>) {
        Algorithm::observe(self, now, remaining, reset);
    }
}
