use std::cell::Cell;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, MutexGuard};

use super::mock::{MockShared, MockTime};
use super::Nanos;

/// How a blocked caller waits for its instant.
///
/// ```
/// use tollgate::{Rate, RateLimiter, WaitPrecision};
///
/// let limiter = RateLimiter::new(Rate::per_second(1_000)).with_precision(WaitPrecision::Precise);
/// limiter.acquire().unwrap();
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitPrecision {
    /// Sleep on a condition variable until the instant: no spinning, woken late by whatever the
    /// operating system's timer slack is (typically 50–100 µs on Linux).
    #[default]
    Sleep,
    /// Sleep until [`PRECISE_SPIN_MARGIN`](WaitPrecision::PRECISE_SPIN_MARGIN) before the
    /// instant, then yield the CPU in a loop until it: wakes within a few microseconds, at the
    /// cost of up to that margin of one core's time per wait.
    Precise,
}

impl WaitPrecision {
    /// How long before its instant a [`WaitPrecision::Precise`] waiter stops sleeping and starts
    /// yielding: longer than the usual sleep overshoot, short enough to cost little CPU.
    pub const PRECISE_SPIN_MARGIN: Duration = Duration::from_micros(200);
}

/// What a waiter's poll decides (see [`Clock::block_on`]).
pub(crate) enum Wake<R> {
    /// Done waiting, with this outcome.
    Ready(R),
    /// Sleep until this instant (`None`: until notified), then poll again.
    At(Option<Nanos>),
}

/// The source of time for limiters and semaphores.
///
/// [`Clock::new`] (also `Default`) is the process-wide real clock: quanta's calibrated TSC read
/// (one calibration per process), as nanoseconds since the first use, never going backwards
/// (each thread's reading is clamped to the last value that thread saw, and every limiter clamps
/// again to the last instant it decided at, under its lock, since the TSC need not agree between
/// cores). [`Clock::mock`] and [`Clock::mock_stepped`] give clocks that tests control.
///
/// Cloning is cheap; clones share the same timeline.
///
/// ```
/// use tollgate::Clock;
///
/// let clock = Clock::new();
/// let a = clock.now();
/// let b = clock.now();
/// assert!(b >= a);
/// ```
#[derive(Clone)]
pub struct Clock {
    source: Source,
}

#[derive(Clone)]
enum Source {
    /// A copy of the process-wide calibration and origin, inline: a reading follows no pointer.
    Real(RealClock),
    Mock(Arc<MockShared>),
}

#[derive(Clone)]
struct RealClock {
    quanta: quanta::Clock,
    origin: u64,
}

impl RealClock {
    /// Nanoseconds since the origin.
    #[inline]
    fn read(&self) -> u64 {
        self.quanta.delta_as_nanos(self.origin, self.quanta.raw())
    }
}

static REAL_CLOCK: OnceLock<RealClock> = OnceLock::new();

thread_local! {
    /// The last real-clock reading this thread returned.
    static LAST_REAL_READING: Cell<u64> = const { Cell::new(0) };
}

/// How often a waiter on a stepped mock clock looks at the mock time again (real time).
const STEPPED_MOCK_POLL: Duration = Duration::from_micros(200);

impl Clock {
    /// The process-wide real clock.
    pub fn new() -> Clock {
        let real = REAL_CLOCK.get_or_init(|| {
            let quanta = quanta::Clock::new();
            let origin = quanta.raw();
            RealClock { quanta, origin }
        });
        Clock {
            source: Source::Real(real.clone()),
        }
    }

    /// A mock clock starting at [`Nanos::ZERO`] on which **sleeping advances time**: a caller that
    /// must wait until instant `t` moves the mock time to `t` and returns at once. A blocking
    /// call in a single-threaded test therefore finishes immediately and the instants it
    /// observes are exact.
    ///
    /// ```
    /// use tollgate::{Clock, Nanos, Rate, RateLimiter};
    ///
    /// let (clock, time) = Clock::mock();
    /// let limiter = RateLimiter::new(Rate::per_second(2)).with_clock(clock);
    /// for _ in 0..5 {
    ///     limiter.acquire().unwrap();
    /// }
    /// // Two at once (the burst), then one every 500 ms.
    /// assert_eq!(time.now(), Nanos::from_millis(1_500));
    /// ```
    pub fn mock() -> (Clock, MockTime) {
        Clock::mock_with(true)
    }

    /// A mock clock starting at [`Nanos::ZERO`] that only the test moves: a caller that must wait
    /// until instant `t` blocks until [`MockTime::advance`] has moved time to `t` or later. For
    /// multi-threaded tests that step time by hand; [`MockTime::wait_for_sleepers`] lets their
    /// threads reach their waits first.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::{Clock, Rate, RateLimiter};
    ///
    /// let (clock, time) = Clock::mock_stepped();
    /// let limiter = RateLimiter::new(Rate::per_second(1)).with_clock(clock);
    /// limiter.acquire().unwrap();
    /// std::thread::scope(|s| {
    ///     let waiter = s.spawn(|| limiter.acquire());
    ///     time.wait_for_sleepers(1); // the waiter is blocked until time moves
    ///     assert!(!waiter.is_finished());
    ///     time.advance(Duration::from_secs(1));
    ///     waiter.join().unwrap().unwrap();
    /// });
    /// ```
    pub fn mock_stepped() -> (Clock, MockTime) {
        Clock::mock_with(false)
    }

    fn mock_with(sleep_advances: bool) -> (Clock, MockTime) {
        let shared = Arc::new(MockShared::new(sleep_advances));
        let clock = Clock {
            source: Source::Mock(Arc::clone(&shared)),
        };
        (clock, MockTime { shared })
    }

    /// The current instant on this clock's timeline. Never earlier than a previous reading on
    /// the same thread.
    #[inline]
    pub fn now(&self) -> Nanos {
        match &self.source {
            Source::Real(real) => {
                let reading = real.read();
                let clamped = LAST_REAL_READING.with(|last| {
                    let clamped = last.get().max(reading);
                    last.set(clamped);
                    clamped
                });
                Nanos::new(clamped)
            }
            Source::Mock(mock) => mock.now(),
        }
    }

    /// The current instant, **not** clamped to this thread's previous reading: for a decision
    /// that is as safe on a reading taken a little early as on the latest one, because it could
    /// have been made a moment before anyway. The lock-free GCRA decision is one: its state
    /// never moves back, and an earlier instant only makes it stricter, the same as a reading
    /// delayed between the clock and the compare-and-swap (which no clamp prevents). Saves the
    /// clamp's thread-local read and write on every decision.
    #[inline]
    pub(crate) fn now_unordered(&self) -> Nanos {
        match &self.source {
            Source::Real(real) => Nanos::new(real.read()),
            Source::Mock(mock) => mock.now(),
        }
    }

    /// The instant of this clock's timeline at the moment `instant` of [`std::time::Instant`]'s:
    /// this clock's now, moved by how far `instant` is from the real now (`Instant::now()`).
    /// On the real clock that is the same moment; on a **mock** clock it is relative to the mock
    /// time: an `Instant` two seconds from the real now is two seconds after the mock now, so a
    /// deadline written `Instant::now() + timeout` means the same under a mock clock.
    /// Saturates at [`Nanos::ZERO`] (before the clock's origin) and [`Nanos::MAX`].
    ///
    /// Every `try_acquire_until` takes an `Instant` directly (see [`Deadline`](crate::Deadline)),
    /// converting it this way.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use tollgate::{Clock, Nanos};
    ///
    /// let (clock, time) = Clock::mock();
    /// time.advance(Duration::from_secs(10));
    /// let in_two_seconds = clock.instant_to_nanos(Instant::now() + Duration::from_secs(2));
    /// assert!(in_two_seconds > Nanos::from_millis(11_900) && in_two_seconds <= Nanos::from_secs(12));
    /// ```
    pub fn instant_to_nanos(&self, instant: Instant) -> Nanos {
        let (real_now, now) = (Instant::now(), self.now());
        match instant.checked_duration_since(real_now) {
            Some(ahead) => now + ahead,
            None => now.saturating_sub(Nanos::from(real_now - instant)),
        }
    }

    /// Blocks the calling thread until this clock reads `deadline` or later.
    ///
    /// ```
    /// use tollgate::{Clock, Nanos};
    ///
    /// let (clock, _time) = Clock::mock();
    /// clock.sleep_until(Nanos::from_secs(3));
    /// assert_eq!(clock.now(), Nanos::from_secs(3));
    /// ```
    pub fn sleep_until(&self, deadline: Nanos) {
        let lock = parking_lot::Mutex::new(());
        let condvar = Condvar::new();
        self.block_on(
            &condvar,
            &mut lock.lock(),
            WaitPrecision::Sleep,
            |_, now| {
                if now >= deadline {
                    Wake::Ready(())
                } else {
                    Wake::At(Some(deadline))
                }
            },
        );
    }

    /// **The** wait loop of the crate: asks `poll` (with the lock held and the current
    /// instant) whether the caller may go, and if not sleeps on `condvar` until the instant
    /// `poll` names or a notification, then asks again. Every blocking type waits through it.
    ///
    /// On a mock clock the caller is registered as a sleeper ([`MockTime::sleepers`]), with the
    /// instant it waits for, from its first wait until it returns.
    pub(crate) fn block_on<T, R>(
        &self,
        condvar: &Condvar,
        guard: &mut MutexGuard<'_, T>,
        precision: WaitPrecision,
        mut poll: impl FnMut(&mut T, Nanos) -> Wake<R>,
    ) -> R {
        let mut asleep = None;
        loop {
            match poll(guard, self.now()) {
                Wake::Ready(ready) => return ready,
                Wake::At(deadline) => {
                    if let Source::Mock(mock) = &self.source {
                        match &asleep {
                            None => asleep = Some(mock.fall_asleep(deadline)),
                            Some(asleep) => asleep.waits_for(deadline),
                        }
                    }
                    self.wait_until(condvar, guard, deadline, precision);
                }
            }
        }
    }

    /// Waits on `condvar` (releasing `guard`'s lock meanwhile) until it is notified, or until
    /// about `deadline` (`None`: until notified). May return early or spuriously: callers loop,
    /// re-reading their state and the clock.
    ///
    /// On a [`Clock::mock`] clock a deadline is reached at once by moving mock time to it; with no
    /// deadline the caller really waits for a notification.
    fn wait_until<T>(
        &self,
        condvar: &Condvar,
        guard: &mut MutexGuard<'_, T>,
        deadline: Option<Nanos>,
        precision: WaitPrecision,
    ) {
        let Some(deadline) = deadline else {
            match &self.source {
                Source::Mock(mock) if !mock.sleep_advances => {
                    condvar.wait_for(guard, STEPPED_MOCK_POLL);
                }
                _ => condvar.wait(guard),
            }
            return;
        };
        match &self.source {
            Source::Real(_) => {
                let remaining = deadline.saturating_sub(self.now()).as_duration();
                let margin = match precision {
                    WaitPrecision::Sleep => Duration::ZERO,
                    WaitPrecision::Precise => WaitPrecision::PRECISE_SPIN_MARGIN,
                };
                if remaining > margin {
                    condvar.wait_for(guard, remaining - margin);
                } else if !remaining.is_zero() {
                    MutexGuard::unlocked(guard, || {
                        while self.now() < deadline {
                            std::thread::yield_now();
                        }
                    });
                }
            }
            Source::Mock(mock) if mock.sleep_advances => mock.advance_to(deadline),
            Source::Mock(_) => {
                condvar.wait_for(guard, STEPPED_MOCK_POLL);
            }
        }
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::new()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.source {
            Source::Real(_) => "real",
            Source::Mock(mock) if mock.sleep_advances => "mock",
            Source::Mock(_) => "mock (stepped)",
        };
        f.debug_struct("Clock")
            .field("kind", &kind)
            .field("now", &self.now())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_clock_never_goes_backwards_on_one_thread() {
        let clock = Clock::new();
        let mut last = clock.now();
        for _ in 0..100_000 {
            let t = clock.now();
            assert!(t >= last);
            last = t;
        }
    }

    #[test]
    fn mock_sleep_advances_to_the_deadline_and_never_back() {
        let (clock, time) = Clock::mock();
        clock.sleep_until(Nanos::from_millis(7));
        assert_eq!(clock.now(), Nanos::from_millis(7));
        clock.sleep_until(Nanos::from_millis(3));
        assert_eq!(time.now(), Nanos::from_millis(7));
    }

    #[test]
    fn clocks_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Clock>();
        assert_send_sync::<MockTime>();
    }
}
