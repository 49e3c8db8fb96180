use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

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
///
/// A multi-threaded test waits for its threads to block on the clock with
/// [`wait_for_sleepers`](MockTime::wait_for_sleepers), never with a real sleep.
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
    /// The threads in the clock's wait loop, told to wait ([`Asleep`]).
    sleepers: Mutex<Sleepers>,
    /// Notified whenever `sleepers` changes.
    sleepers_changed: Condvar,
}

/// The threads blocked on a mock clock, by the instant each waits for.
#[derive(Debug, Default)]
struct Sleepers {
    /// Per sleeper (by id): the instant it waits for, `None` for a notification.
    until: Vec<(u64, Option<Nanos>)>,
    next_id: u64,
}

impl Sleepers {
    /// The sleepers still waiting at `now`: for a notification, or for an instant after `now`.
    fn not_due(&self, now: Nanos) -> usize {
        self.until
            .iter()
            .filter(|(_, until)| until.map_or(true, |until| until > now))
            .count()
    }
}

/// How long [`MockTime::wait_for_sleepers`] waits (real time) before it panics: long enough for
/// threads to start on a loaded machine, short enough that a test waiting for a thread that
/// never blocks fails instead of hanging.
const SLEEPERS_PATIENCE: Duration = Duration::from_secs(30);

/// How often [`MockTime::wait_for_sleepers`] looks again without a change of sleepers (real
/// time): moving the mock time makes sleepers due without notifying.
const SLEEPERS_RECHECK: Duration = Duration::from_millis(1);

/// A thread counted asleep on a mock clock, from its first wait in
/// [`Clock::block_on`](crate::Clock) until that call returns (or unwinds): dropping it counts the
/// thread awake again.
pub(crate) struct Asleep<'a> {
    shared: &'a MockShared,
    id: u64,
}

impl Asleep<'_> {
    /// The sleeper waits again, now for `until` (`None`: a notification).
    pub(crate) fn waits_for(&self, until: Option<Nanos>) {
        let mut sleepers = self.shared.sleepers.lock();
        if let Some(entry) = sleepers.until.iter_mut().find(|(id, _)| *id == self.id) {
            entry.1 = until;
        }
        self.shared.sleepers_changed.notify_all();
    }
}

impl Drop for Asleep<'_> {
    fn drop(&mut self) {
        self.shared
            .sleepers
            .lock()
            .until
            .retain(|(id, _)| *id != self.id);
        self.shared.sleepers_changed.notify_all();
    }
}

impl MockShared {
    pub(crate) fn new(sleep_advances: bool) -> MockShared {
        MockShared {
            now: AtomicU64::new(0),
            sleep_advances,
            sleepers: Mutex::new(Sleepers::default()),
            sleepers_changed: Condvar::new(),
        }
    }

    /// Counts the calling thread asleep, waiting for `until` (`None`: a notification), until the
    /// returned guard drops. Called by the wait loop with the waiter's own lock held, before
    /// that lock is released for the wait: whoever sees the count and then takes that lock finds
    /// the waiter already waiting on it.
    pub(crate) fn fall_asleep(&self, until: Option<Nanos>) -> Asleep<'_> {
        let mut sleepers = self.sleepers.lock();
        let id = sleepers.next_id;
        sleepers.next_id += 1;
        sleepers.until.push((id, until));
        self.sleepers_changed.notify_all();
        Asleep { shared: self, id }
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

    /// How many threads are blocked on this mock clock right now: inside a blocking call of a
    /// limiter, semaphore or [`Clock::sleep_until`](crate::Clock::sleep_until) on a clock sharing
    /// this timeline, told to wait, and still waiting at the current mock time: for a
    /// notification (a release, a refund, a cancel), or for an instant after now. A thread whose
    /// instant time has reached no longer counts, even before it wakes to see it; one that wakes
    /// and is told to wait again counts again.
    ///
    /// On a [`Clock::mock`](crate::Clock::mock) clock a wait for an instant moves time there at
    /// once, so only waits for a notification count.
    ///
    /// ```
    /// use tollgate::{Clock, Nanos};
    ///
    /// let (clock, time) = Clock::mock_stepped();
    /// assert_eq!(time.sleepers(), 0);
    /// std::thread::scope(|s| {
    ///     s.spawn(|| clock.sleep_until(Nanos::from_secs(1)));
    ///     s.spawn(|| clock.sleep_until(Nanos::from_secs(2)));
    ///     time.wait_for_sleepers(2);
    ///     assert_eq!(time.sleepers(), 2);
    ///     time.advance_to(Nanos::from_secs(1));
    ///     assert_eq!(time.sleepers(), 1); // the first one's instant has come
    ///     time.advance_to(Nanos::from_secs(2));
    /// });
    /// assert_eq!(time.sleepers(), 0);
    /// ```
    pub fn sleepers(&self) -> usize {
        self.shared.sleepers.lock().not_due(self.now())
    }

    /// Blocks until at least `n` threads are blocked on this mock clock (see
    /// [`sleepers`](MockTime::sleepers)): how a multi-threaded test lets its threads reach their
    /// wait before it acts, without a real sleep. A thread counts once its blocking call has been
    /// told to wait, before it releases the limiter's lock, so anything the test does next that
    /// needs that lock (a release, a refund, `set_rate`, a cancel) happens while the thread
    /// waits: none is missed.
    ///
    /// # Panics
    ///
    /// When fewer than `n` threads are blocked after 30 seconds of real time (a thread that
    /// finished, panicked or waits on something else than this clock), naming both counts.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::{Clock, Rate, RateLimiter};
    ///
    /// let (clock, time) = Clock::mock_stepped();
    /// let limiter = RateLimiter::new(Rate::per_second(1)).with_clock(clock);
    /// limiter.acquire().unwrap();
    /// std::thread::scope(|s| {
    ///     let waiters: Vec<_> = (0..3).map(|_| s.spawn(|| limiter.acquire())).collect();
    ///     time.wait_for_sleepers(3); // all three are waiting for their instants
    ///     assert_eq!(limiter.stats().waiting, 3);
    ///     time.advance(Duration::from_secs(3));
    ///     for waiter in waiters {
    ///         waiter.join().unwrap().unwrap();
    ///     }
    /// });
    /// ```
    pub fn wait_for_sleepers(&self, n: usize) {
        self.wait_for_sleepers_within(n, SLEEPERS_PATIENCE);
    }

    /// [`wait_for_sleepers`](MockTime::wait_for_sleepers), giving up after `patience`.
    fn wait_for_sleepers_within(&self, n: usize, patience: Duration) {
        let give_up = Instant::now() + patience;
        let mut sleepers = self.shared.sleepers.lock();
        loop {
            let asleep = sleepers.not_due(self.now());
            if asleep >= n {
                return;
            }
            let now = Instant::now();
            if now >= give_up {
                panic!(
                    "waited {patience:?} (real time) for {n} threads to block on the mock clock, \
                     but {asleep} are blocked: did a thread finish, panic, or wait on something \
                     other than this clock?"
                );
            }
            let recheck = (now + SLEEPERS_RECHECK).min(give_up);
            self.shared
                .sleepers_changed
                .wait_until(&mut sleepers, recheck);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{catch_unwind, AssertUnwindSafe};

    use parking_lot::{Condvar, Mutex};

    use super::*;
    use crate::time::Wake;
    use crate::{Clock, WaitPrecision};

    /// Blocks on `clock` until `open` is set (a wait with no instant: for a notification).
    fn wait_until_open(clock: &Clock, open: &Mutex<bool>, changed: &Condvar) {
        clock.block_on(
            changed,
            &mut open.lock(),
            WaitPrecision::Sleep,
            |open, _| {
                if *open {
                    Wake::Ready(())
                } else {
                    Wake::At(None)
                }
            },
        );
    }

    #[test]
    fn sleepers_are_the_threads_waiting_for_their_instant_on_a_stepped_clock() {
        let (clock, time) = Clock::mock_stepped();
        std::thread::scope(|s| {
            for second in 1..=4 {
                let clock = &clock;
                s.spawn(move || clock.sleep_until(Nanos::from_secs(second)));
            }
            time.wait_for_sleepers(4);
            assert_eq!(time.sleepers(), 4);
            // Past two instants: exactly the two later ones still wait, at once (before the two
            // due ones have woken).
            time.advance_to(Nanos::from_secs(2));
            assert_eq!(time.sleepers(), 2);
            time.advance_to(Nanos::from_secs(4));
        });
        assert_eq!(time.sleepers(), 0);
    }

    #[test]
    fn a_sleeper_told_to_wait_again_counts_again() {
        // Polled at 0 s: wait until 1 s; at 1 s: wait until 2 s; at 2 s: go.
        let (clock, time) = Clock::mock_stepped();
        let (lock, condvar) = (Mutex::new(()), Condvar::new());
        std::thread::scope(|s| {
            s.spawn(|| {
                clock.block_on(
                    &condvar,
                    &mut lock.lock(),
                    WaitPrecision::Sleep,
                    |_, now| {
                        if now >= Nanos::from_secs(2) {
                            Wake::Ready(())
                        } else {
                            Wake::At(Some(Nanos::from_secs(now.as_u64() / 1_000_000_000 + 1)))
                        }
                    },
                )
            });
            time.wait_for_sleepers(1);
            time.advance_to(Nanos::from_secs(1));
            assert_eq!(time.sleepers(), 0);
            time.wait_for_sleepers(1); // awake at 1 s, and waiting again
            time.advance_to(Nanos::from_secs(2));
        });
        assert_eq!(time.sleepers(), 0);
    }

    #[test]
    fn a_sleeper_counts_before_it_releases_its_lock_so_a_notification_is_not_missed() {
        // On the auto-advancing clock a wait for a notification really blocks; the test opens
        // under the waiter's lock right after the count, and the waiter must see it.
        let (clock, time) = Clock::mock();
        let (open, changed) = (Mutex::new(false), Condvar::new());
        for _ in 0..20 {
            *open.lock() = false;
            std::thread::scope(|s| {
                let waiter = s.spawn(|| wait_until_open(&clock, &open, &changed));
                time.wait_for_sleepers(1);
                *open.lock() = true;
                changed.notify_all();
                waiter.join().unwrap();
            });
            assert_eq!(time.sleepers(), 0);
        }
    }

    #[test]
    fn a_wait_that_needs_no_sleep_never_counts() {
        let (clock, time) = Clock::mock_stepped();
        time.advance_to(Nanos::from_secs(5));
        clock.sleep_until(Nanos::from_secs(5));
        let (open, changed) = (Mutex::new(true), Condvar::new());
        wait_until_open(&clock, &open, &changed);
        assert_eq!(time.sleepers(), 0);
    }

    #[test]
    fn a_sleeper_that_panics_stops_counting() {
        let (clock, time) = Clock::mock();
        let (lock, condvar) = (Mutex::new(0), Condvar::new());
        let unwound = catch_unwind(AssertUnwindSafe(|| {
            clock.block_on(
                &condvar,
                &mut lock.lock(),
                WaitPrecision::Sleep,
                |polls, now| {
                    *polls += 1;
                    assert!(*polls < 3, "a poll that panics");
                    Wake::<()>::At(Some(now + Duration::from_millis(1)))
                },
            )
        }));
        assert!(unwound.is_err());
        assert_eq!(time.sleepers(), 0);
    }

    #[test]
    fn clones_and_clocks_of_one_timeline_share_the_count() {
        let (clock, time) = Clock::mock_stepped();
        let (other_clock, other_time) = Clock::mock_stepped();
        std::thread::scope(|s| {
            let clock = clock.clone();
            s.spawn(move || clock.sleep_until(Nanos::from_secs(1)));
            time.clone().wait_for_sleepers(1);
            assert_eq!((time.sleepers(), other_time.sleepers()), (1, 0));
            other_clock.sleep_until(Nanos::ZERO);
            time.advance(Duration::from_secs(1));
        });
    }

    #[test]
    fn waiting_for_more_sleepers_than_block_panics_naming_both_counts() {
        let (clock, time) = Clock::mock_stepped();
        std::thread::scope(|s| {
            s.spawn(|| clock.sleep_until(Nanos::from_secs(1)));
            time.wait_for_sleepers(1);
            let failed = catch_unwind(AssertUnwindSafe(|| {
                time.wait_for_sleepers_within(2, Duration::from_millis(50))
            }));
            time.advance(Duration::from_secs(1));
            let message = *failed.unwrap_err().downcast::<String>().unwrap();
            assert!(
                message.contains("for 2 threads to block on the mock clock, but 1 are blocked"),
                "{message}"
            );
        });
    }
}
