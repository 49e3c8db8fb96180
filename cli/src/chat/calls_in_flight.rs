//! The requests in flight: how many now (what a stop waits for), and how long all the allowed
//! ones were (how long concurrency limited the run).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Counts the calls running through [`track`](Self::track) against a limit.
#[derive(Debug)]
pub struct CallsInFlight {
    limit: usize,
    state: Mutex<FlightState>,
}

#[derive(Debug, Default)]
struct FlightState {
    running: usize,
    /// Since when `running == limit`, while it is.
    full_since: Option<Instant>,
    /// Time `running == limit`, before `full_since`.
    full_for: Duration,
}

impl CallsInFlight {
    /// No call in flight yet, at most `limit` at once.
    pub fn new(limit: usize) -> CallsInFlight {
        CallsInFlight {
            limit,
            state: Mutex::new(FlightState::default()),
        }
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Runs `call`, counted in flight while it runs (even if it panics).
    pub fn track<R>(&self, call: impl FnOnce() -> R) -> R {
        self.change(|running| running + 1);
        struct Landing<'a>(&'a CallsInFlight);
        impl Drop for Landing<'_> {
            fn drop(&mut self) {
                self.0.change(|running| running - 1);
            }
        }
        let _landing = Landing(self);
        call()
    }

    /// The calls running now.
    pub fn running(&self) -> usize {
        self.lock().running
    }

    /// How long `limit` calls were running at once, in all.
    pub fn full_for(&self) -> Duration {
        let state = self.lock();
        state.full_for
            + state
                .full_since
                .map_or(Duration::ZERO, |since| since.elapsed())
    }

    fn change(&self, to: impl FnOnce(usize) -> usize) {
        let mut state = self.lock();
        state.running = to(state.running);
        let full = state.running >= self.limit;
        match (full, state.full_since) {
            (true, None) => state.full_since = Some(Instant::now()),
            (false, Some(since)) => {
                state.full_for += since.elapsed();
                state.full_since = None;
            }
            _ => {}
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FlightState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_at_the_limit_is_counted_only_while_every_slot_is_taken() {
        let flight = CallsInFlight::new(2);
        flight.track(|| {
            assert_eq!(flight.running(), 1);
            std::thread::sleep(Duration::from_millis(20));
        });
        assert_eq!(flight.full_for(), Duration::ZERO);
        flight.track(|| {
            flight.track(|| {
                assert_eq!(flight.running(), 2);
                std::thread::sleep(Duration::from_millis(30));
            })
        });
        assert_eq!(flight.running(), 0);
        let full = flight.full_for();
        assert!(full >= Duration::from_millis(30), "{full:?}");
        assert!(full < Duration::from_secs(5), "{full:?}");
        let panicked = std::panic::catch_unwind(|| flight.track(|| panic!("boom")));
        assert!(panicked.is_err());
        assert_eq!(flight.running(), 0);
    }
}
