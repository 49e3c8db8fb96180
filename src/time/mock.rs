use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::Nanos;

/// The controls of a mock [`Clock`](crate::Clock): read and step its time by hand.
///
/// Made by [`Clock::mock`](crate::Clock::mock) (a sleeper moves time forward to its own wake-up
/// instant, so a single-threaded test runs blocking calls at once and observes exact instants)
/// or [`Clock::mock_stepped`](crate::Clock::mock_stepped) (a sleeper waits until the test has
/// advanced time past its wake-up instant, for multi-threaded tests).
///
/// ```
/// use std::time::Duration;
/// use tollgate::{Clock, Nanos};
///
/// let (clock, time) = Clock::mock();
/// assert_eq!(clock.now(), Nanos::ZERO);
/// time.advance(Duration::from_millis(250));
/// assert_eq!(clock.now(), Nanos::from_millis(250));
/// ```
#[derive(Clone, Debug)]
pub struct MockTime {
    pub(crate) shared: Arc<MockShared>,
}

#[derive(Debug)]
pub(crate) struct MockShared {
    now: AtomicU64,
    /// Whether a sleeper advances time itself (`Clock::mock`) or waits for the test to
    /// (`Clock::mock_stepped`).
    pub(crate) sleep_advances: bool,
}

impl MockShared {
    pub(crate) fn new(sleep_advances: bool) -> MockShared {
        MockShared {
            now: AtomicU64::new(0),
            sleep_advances,
        }
    }

    pub(crate) fn now(&self) -> Nanos {
        Nanos::new(self.now.load(Ordering::Acquire))
    }

    /// Moves time forward to `t` if it is earlier; never backwards.
    pub(crate) fn advance_to(&self, t: Nanos) {
        self.now.fetch_max(t.as_u64(), Ordering::AcqRel);
    }
}

impl MockTime {
    /// The mock clock's current instant.
    pub fn now(&self) -> Nanos {
        self.shared.now()
    }

    /// Moves time forward by `by` (saturating at [`Nanos::MAX`]).
    pub fn advance(&self, by: Duration) {
        let by = Nanos::from(by);
        self.shared
            .now
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(Nanos::new(t).saturating_add(by).as_u64())
            })
            .ok();
    }

    /// Moves time forward to the instant `t`; an earlier `t` changes nothing (mock time never
    /// goes backwards either).
    pub fn advance_to(&self, t: Nanos) {
        self.shared.advance_to(t);
    }
}
