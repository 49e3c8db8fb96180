//! [`Fallback::Local`]: while Redis cannot be reached, a shared limiter decides on an
//! in-memory limiter holding a share of every limit, started from what Redis last said was
//! left, and charges Redis with what it granted when Redis answers again.

use parking_lot::Mutex;

use super::remote::SharedMeter;
use super::{Fallback, RedisError};
use crate::multi::{LimitError, Limits, Then};
use crate::reservation::{Patience, PerResource};
use crate::{Clock, MultiLimiter, Nanos, Permit, Rate};

/// How long a process decides locally after Redis could not be reached, before trying again.
const RETRY_AFTER_UNREACHABLE: Nanos = Nanos::from_secs(1);

/// The in-memory limiter of [`Fallback::Local`] and what it knows of the shared state.
pub(super) struct LocalFallback {
    limiter: MultiLimiter,
    share: f64,
    /// Until when (local clock) calls go to `limiter` without trying Redis.
    down_until: Mutex<Nanos>,
    /// What the last grant's reply said of the shared state: the fallback starts from it.
    seen: Mutex<Option<Seen>>,
    /// Per resource, the units `limiter` granted since Redis last answered: charged to Redis
    /// before the next decision there.
    grants: Mutex<Vec<u64>>,
}

/// The shared state as a grant's reply showed it.
#[derive(Clone, Debug)]
pub(super) struct Seen {
    /// The local instant the reply arrived at.
    pub(super) local_at: Nanos,
    /// The server's time in the reply (microseconds).
    pub(super) server_now: i64,
    /// Per resource, its state after the grant: GCRA its TAT (server microseconds), a window the
    /// units its entries hold.
    pub(super) states: Vec<i64>,
}

impl LocalFallback {
    /// The fallback of `fallback` for `limits` on `clock`, if it decides locally.
    pub(super) fn of(
        fallback: Fallback,
        limits: &Limits,
        clock: Clock,
    ) -> Result<Option<LocalFallback>, RedisError> {
        let Fallback::Local { share } = fallback else {
            return Ok(None);
        };
        Ok(Some(LocalFallback {
            limiter: local_share(limits, share, clock)?,
            share,
            down_until: Mutex::new(Nanos::ZERO),
            seen: Mutex::new(None),
            grants: Mutex::new(vec![0; limits.resources.len()]),
        }))
    }

    /// The in-memory limiter.
    pub(super) fn limiter(&self) -> &MultiLimiter {
        &self.limiter
    }

    /// Whether Redis is known to be down at `now`: calls go to the local limiter.
    pub(super) fn deciding(&self, now: Nanos) -> bool {
        now < *self.down_until.lock()
    }

    /// Records what a grant's reply said of the shared state.
    pub(super) fn saw(&self, seen: Seen) {
        *self.seen.lock() = Some(seen);
    }

    /// Redis could not be reached at `now`: calls go to the local limiter for a while. On a
    /// switch from Redis, it starts from the shared state Redis last showed (see
    /// [`start`](Self::start)).
    pub(super) fn mark_down(&self, now: Nanos, meters: &[SharedMeter]) {
        let was_up = {
            let mut down_until = self.down_until.lock();
            let was_up = *down_until <= now;
            *down_until = now.saturating_add(RETRY_AFTER_UNREACHABLE);
            was_up
        };
        if was_up {
            self.start(now, meters);
        }
    }

    /// Lowers what the local limiter has available to its share of what the shared state had
    /// left when Redis last answered, as of `now`: a GCRA's backlog has drained since, a
    /// window's units count until a period has passed. (A fallback that starts full would add a
    /// whole burst to the quota at every switch.) What other processes took after that answer
    /// is not known here.
    fn start(&self, now: Nanos, meters: &[SharedMeter]) {
        let Some(seen) = self.seen.lock().clone() else {
            return;
        };
        let elapsed = micros(now.saturating_sub(seen.local_at));
        let server_now = seen.server_now.saturating_add(elapsed);
        for (resource, (meter, &state)) in meters.iter().zip(&seen.states).enumerate() {
            let used = if meter.window && elapsed >= micros(Nanos::new(meter.a)) {
                0 // every entry has left the window
            } else {
                meter.units_in_use(state, server_now)
            };
            let left = meter.capacity().saturating_sub(used);
            let remaining = (left as f64 * self.share).floor() as u64;
            let _ = self
                .limiter
                .observe(self.limiter.name_of(resource), remaining, None);
        }
    }

    /// Decides on the local limiter; counts what it granted, for Redis to be charged with when
    /// it answers again.
    pub(super) fn reserve(
        &self,
        slots: PerResource<u64>,
        patience: Patience,
    ) -> Result<Permit, LimitError> {
        let granted: Vec<u64> = slots.to_vec();
        let permit = self.limiter.reserve_slots(&slots, patience, Then::Return)?;
        let mut pending = self.grants.lock();
        for (units, &cost) in pending.iter_mut().zip(&granted) {
            *units = units.saturating_add(cost);
        }
        Ok(permit)
    }

    /// Charges Redis, through `charge` (per resource, the units to record), with what the local
    /// limiter granted since Redis last answered and still holds (Redis may have been restarted
    /// empty, or not have seen these calls): one round trip before the first decision on Redis
    /// again, none otherwise. A unit may then count twice, in the shared state and in what the
    /// local limiter held (stricter, never looser).
    pub(super) fn charge_local_use(
        &self,
        charge: impl FnOnce(&[u64]) -> Result<(), RedisError>,
    ) -> Result<(), RedisError> {
        let granted = {
            let mut pending = self.grants.lock();
            if pending.iter().all(|&units| units == 0) {
                return Ok(());
            }
            let empty = vec![0; pending.len()];
            std::mem::replace(&mut *pending, empty)
        };
        let in_use = self.limiter.usage();
        let held: Vec<u64> = granted
            .iter()
            .enumerate()
            .map(|(resource, &units)| {
                let held = in_use.get(resource).map_or(0, |(_, usage)| usage.charged());
                units.min(held)
            })
            .collect();
        if let Err(error) = charge(&held) {
            // Charged with the next answer instead.
            let mut pending = self.grants.lock();
            for (units, granted) in pending.iter_mut().zip(&granted) {
                *units = units.saturating_add(*granted);
            }
            return Err(error);
        }
        Ok(())
    }
}

/// The in-memory limiter holding `share` of every limit of `limits`.
fn local_share(limits: &Limits, share: f64, clock: Clock) -> Result<MultiLimiter, RedisError> {
    if !(share > 0.0 && share <= 1.0) {
        return Err(RedisError::Unsupported {
            what: format!("a fallback share of {share}; give a share in (0, 1]"),
        });
    }
    // Rounded down, at least 1: the shares of N processes never add up to more than the quota.
    let part = |units: u64| ((units as f64 * share).floor() as u64).max(1);
    let mut local = limits.clone();
    for resource in &mut local.resources {
        let rate = resource.rate;
        resource.rate =
            Rate::new(part(rate.quantity()), rate.period()).burst(part(rate.capacity()));
    }
    local.max_parallel = limits.max_parallel.map(part);
    MultiLimiter::build(local, clock).map_err(|error| RedisError::Unsupported {
        what: format!("the fallback share: {error}"),
    })
}

/// A span in whole microseconds (Redis `TIME`'s resolution).
pub(super) fn micros(span: Nanos) -> i64 {
    i64::try_from(span.as_u64() / 1_000).unwrap_or(i64::MAX)
}
