//! The one line every request waits in for its quotas.
//!
//! In memory, it is the limiter's own FIFO queue: a request reserves its instant and sleeps,
//! and any change of capacity (a settle when an answer comes, a server's hold) re-plans those
//! waiting. Shared on Redis, the other processes' waiters are out of reach of that re-planning:
//! a booking for a later instant would stay where it was when the request before it is
//! counted again from its answer, and the upstream would see it early. So there, this proxy's
//! requests wait in arrival order on a local line, and the first of them asks Redis whether it
//! may go **now**, sleeping the wait Redis names between asks: nothing is booked ahead.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

use tollgate::{LimitError, MultiLimiter, Permit};

/// The shortest sleep between two asks of Redis.
const MIN_POLL: Duration = Duration::from_micros(200);
/// The sleep between asks while a concurrency slot is awaited (Redis cannot say when one comes
/// free).
const SLOT_POLL: Duration = Duration::from_millis(5);

/// Where requests wait for their quotas.
pub struct QuotaLine {
    limiter: MultiLimiter,
    /// Shared on Redis: the local line of tickets (`None`: in memory).
    tickets: Option<Tickets>,
}

/// A ticket line: served in the order taken.
#[derive(Default)]
struct Tickets {
    /// (next ticket to hand out, ticket served now).
    counters: Mutex<(u64, u64)>,
    turn: Condvar,
}

impl QuotaLine {
    /// The line of `limiter`, whose state is shared with other processes (on Redis) or not.
    pub fn new(limiter: MultiLimiter, shared: bool) -> QuotaLine {
        QuotaLine {
            limiter,
            tickets: shared.then(Tickets::default),
        }
    }

    /// The limiter.
    pub fn limiter(&self) -> &MultiLimiter {
        &self.limiter
    }

    /// Takes `costs` in this request's turn.
    ///
    /// # Errors
    /// As [`MultiLimiter::acquire`].
    pub fn acquire(&self, costs: &[(&str, u64)]) -> Result<Permit, LimitError> {
        let Some(tickets) = &self.tickets else {
            return self.limiter.acquire(costs);
        };
        let _turn = tickets.wait_turn();
        loop {
            match self.limiter.try_acquire(costs) {
                Err(LimitError::NotInTime { wait }) => {
                    std::thread::sleep(wait.map_or(SLOT_POLL, |wait| wait.max(MIN_POLL)));
                }
                decided => return decided,
            }
        }
    }
}

/// A turn in the ticket line, passed on when dropped (also while unwinding).
struct Turn<'a>(&'a Tickets);

impl Tickets {
    fn wait_turn(&self) -> Turn<'_> {
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        let ticket = counters.0;
        counters.0 += 1;
        while counters.1 != ticket {
            counters = self
                .turn
                .wait(counters)
                .unwrap_or_else(PoisonError::into_inner);
        }
        Turn(self)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut counters = self
            .0
            .counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        counters.1 += 1;
        self.0.turn.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;
    use tollgate::{Limits, Rate, REQUESTS};

    #[test]
    fn the_shared_line_serves_in_arrival_order_and_waits_the_named_wait() {
        let limiter =
            MultiLimiter::new(Limits::new().window(REQUESTS, Rate::per_second(5))).unwrap();
        let line = Arc::new(QuotaLine::new(limiter, true));
        let order = Arc::new(Mutex::new(Vec::new()));
        let begun = Instant::now();
        let waiters: Vec<_> = (0..8u64)
            .map(|index| {
                let (taken, order) = (Arc::clone(&line), Arc::clone(&order));
                let waiter = std::thread::spawn(move || {
                    let permit = taken.acquire(&[(REQUESTS, 1)]).unwrap();
                    // The instant it was granted at: the order the line served them in. (The
                    // order threads come back in is not: two granted at one instant of a
                    // window's reset may return either way on a loaded machine.)
                    let granted = permit
                        .ready_at()
                        .expect("a permit that went has its instant");
                    order.lock().unwrap().push((index, granted));
                    drop(permit);
                });
                // In the line (its ticket taken) before the next one comes: arrival order is
                // the order of the tickets, whatever order a loaded machine runs threads in.
                let tickets = line.tickets.as_ref().unwrap();
                let give_up = Instant::now() + Duration::from_secs(30);
                while tickets.counters.lock().unwrap().0 <= index {
                    assert!(
                        Instant::now() < give_up,
                        "waiter {index} never took a ticket"
                    );
                    std::thread::yield_now();
                }
                waiter
            })
            .collect();
        for waiter in waiters {
            waiter.join().unwrap();
        }
        let mut grants = order.lock().unwrap().clone();
        grants.sort_by_key(|&(index, _)| index);
        assert_eq!(grants.len(), 8);
        assert!(
            grants.windows(2).all(|pair| pair[0].1 <= pair[1].1),
            "served in arrival order: {grants:?}"
        );
        let elapsed = begun.elapsed();
        assert!(
            elapsed >= Duration::from_millis(950),
            "the last three a second later: {elapsed:?}"
        );
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    }
}
