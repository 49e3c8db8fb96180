//! The Redis [state store](crate::state): the reservations of one [`MultiLimiter`] whose state
//! lives in Redis. The decisions are the script's (`script.lua`); this side keeps each permit's
//! receipt (its charges' marks, its slot) and waits on the local clock until the granted
//! instant. (Unreachable Redis and [`Fallback::Local`](super::Fallback): `fallback.rs`.)
//!
//! It is a whole [`StateStore`], not an [`Accounts`](crate::reservation) under the in-memory
//! core: `Accounts` is called once per resource under the core's lock, while a shared decision
//! must take every resource in one round trip, and the FIFO order is the server's commit order,
//! not a local queue.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex};

mod store;

use super::connection::Arg;
use super::fallback::{micros, LocalFallback, Seen};
use super::{RedisError, RedisState};
use crate::multi::{Counting, LimitError, Limits};
use crate::reservation::{Patience, PerResource};
use crate::time::Due;
use crate::{Clock, MultiLimiter, Nanos, Permit, WaitPrecision};

/// The longest a call waiting for a slot held in another process sleeps between two polls.
const SLOT_POLL: Nanos = Nanos::from_millis(10);

/// A limiter's shared state: the keys, the parameters, the receipts of this process's permits.
pub(crate) struct Remote {
    state: RedisState,
    /// `{name}:state`, `{name}:slots`, then `{name}:window:i` per resource.
    keys: Vec<String>,
    /// The parameters every process must agree on, stored in the state hash.
    params: String,
    /// How each resource counts.
    meters: Vec<SharedMeter>,
    max_parallel: u64,
    max_hold: Nanos,
    clock: Clock,
    precision: WaitPrecision,
    receipts: Mutex<HashMap<u64, Receipt>>,
    changed: Condvar,
    next_id: AtomicU64,
    /// A prefix unique to this limiter in this process, for slot holders' ids.
    holder_prefix: String,
    /// The in-memory limiter of [`Fallback::Local`](super::Fallback::Local), if chosen.
    local: Option<LocalFallback>,
    renewing: AtomicBool,
    /// Itself, for the thread renewing its leases.
    me: Weak<Remote>,
}

/// How one resource counts in the script: GCRA (`a`: emission interval in ns, `b`: burst) or
/// an exact sliding window (`a`: period in ns, `b`: limit).
#[derive(Clone, Copy, Debug)]
pub(super) struct SharedMeter {
    pub(super) window: bool,
    pub(super) a: u64,
    b: u64,
}

impl SharedMeter {
    /// The most one call may take.
    pub(super) fn capacity(&self) -> u64 {
        self.b
    }

    /// The units in use at server instant `now` (microseconds) of a resource whose state (in
    /// the script's replies) is `state`: GCRA its TAT (units owed until it), a window the units
    /// its entries hold.
    pub(super) fn units_in_use(&self, state: i64, now: i64) -> u64 {
        if self.window {
            return u64::try_from(state).unwrap_or(0);
        }
        let backlog = u64::try_from(state.saturating_sub(now))
            .unwrap_or(0)
            .saturating_mul(1_000);
        backlog.div_ceil(self.a.max(1))
    }
}

/// What a permit granted by Redis holds.
#[derive(Clone, Debug)]
struct Receipt {
    costs: Vec<u64>,
    /// Per resource, the charge's mark (server microseconds; 0: nothing charged).
    marks: Vec<i64>,
    /// The instant it may go, on the server's clock (microseconds) and on the local clock.
    server_at: i64,
    local_at: Nanos,
    binding: Option<usize>,
    /// The slot's holder id in `{name}:slots`, if it holds one.
    holder: Option<String>,
}

/// The script's answer to a reservation.
enum Attempt {
    Granted(Receipt),
    NotInTime { wait: Duration },
    NoSlot { expiry: Nanos },
    HeldTooLong { resource: usize, wait: Duration },
}

static INSTANCE: AtomicU64 = AtomicU64::new(0);

impl Remote {
    /// The shared state of `limits` (read by `clock`) on `state`; checks what can be checked
    /// without the server.
    pub(super) fn new(
        limits: &Limits,
        clock: Clock,
        state: RedisState,
    ) -> Result<Arc<Remote>, RedisError> {
        let mut meters = Vec::with_capacity(limits.resources.len());
        let mut params = String::from("tollgate-1");
        for resource in &limits.resources {
            let counting = resource.counting.unwrap_or(limits.counting);
            if let Counting::Algorithm(algorithm) = counting {
                return Err(RedisError::Unsupported {
                    what: format!(
                        "resource {:?} is counted with {algorithm:?}: a shared limiter counts \
                         with GCRA (Limits::rate) or an exact window (Limits::window)",
                        resource.name
                    ),
                });
            }
            let window = counting == Counting::SlidingWindow;
            let pace = resource
                .rate
                .pace()
                .map_err(|error| RedisError::Unsupported {
                    what: format!("resource {:?}: {error}", resource.name),
                })?;
            if window && pace.burst != pace.quantity {
                return Err(RedisError::Unsupported {
                    what: format!(
                        "resource {:?}: an exact window with a burst ({}) is not shared yet; \
                         count it with GCRA (Limits::rate, Resource::smoothed) or drop the burst",
                        resource.name, resource.rate
                    ),
                });
            }
            let meter = match window {
                true => SharedMeter {
                    window,
                    a: pace.period,
                    b: pace.quantity,
                },
                false => SharedMeter {
                    window,
                    a: pace.interval,
                    b: pace.burst,
                },
            };
            let kind = if window { "window" } else { "gcra" };
            // The name quoted and escaped: no name can print like several resources.
            params.push_str(&format!(
                " {:?}={kind}:{}ns*{}",
                resource.name, meter.a, meter.b
            ));
            meters.push(meter);
        }
        let max_parallel = limits.max_parallel.unwrap_or(0);
        if max_parallel > 0 {
            params.push_str(&format!(" parallel={max_parallel}"));
        }
        let local = LocalFallback::of(state.fallback, limits, clock.clone())?;
        let name = state.name.clone();
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        Ok(Arc::new_cyclic(|me| Remote {
            keys: [format!("{{{name}}}:state"), format!("{{{name}}}:slots")]
                .into_iter()
                .chain((1..=meters.len()).map(|i| format!("{{{name}}}:window:{i}")))
                .collect(),
            params,
            meters,
            max_parallel,
            max_hold: Nanos::from(limits.max_hold),
            precision: limits.precision,
            clock,
            receipts: Mutex::new(HashMap::new()),
            changed: Condvar::new(),
            next_id: AtomicU64::new(0),
            holder_prefix: format!(
                "{}-{since_epoch:x}-{}",
                std::process::id(),
                INSTANCE.fetch_add(1, Ordering::Relaxed)
            ),
            local,
            renewing: AtomicBool::new(false),
            me: me.clone(),
            state,
        }))
    }

    /// Checks the server: reachable (unless a fallback is chosen) and with the same parameters.
    pub(super) fn check(&self) -> Result<(), RedisError> {
        match self.usage_reply() {
            Ok(_) => Ok(()),
            Err(error) if error.is_unreachable() && self.local.is_some() => {
                event!(warn, "{error}; deciding locally for now");
                self.mark_down();
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    /// Runs the script with `op` and its arguments.
    fn run(&self, op: &str, args: &[Arg<'_>]) -> Result<Vec<i64>, RedisError> {
        let n = i64::try_from(self.meters.len()).unwrap_or(i64::MAX);
        let mut all = Vec::with_capacity(args.len() + 3 + 3 * self.meters.len());
        all.extend([Arg::Str(op), Arg::Str(&self.params), Arg::Int(n)]);
        for meter in &self.meters {
            let kind = if meter.window { "w" } else { "g" };
            all.extend([Arg::Str(kind), int(meter.a), int(meter.b)]);
        }
        all.extend_from_slice(args);
        let reply = self.state.connector.run(&self.keys, &all)?;
        if let Some(::redis::Value::Int(-1)) = reply.first() {
            let stored = match reply.get(1) {
                Some(::redis::Value::BulkString(bytes)) => String::from_utf8_lossy(bytes).into(),
                _ => String::new(),
            };
            return Err(RedisError::ParametersDiffer {
                name: self.state.name.clone(),
                stored,
                ours: self.params.clone(),
            });
        }
        reply
            .iter()
            .map(|value| match value {
                ::redis::Value::Int(int) => Ok(*int),
                other => Err(RedisError::Server {
                    detail: format!("unexpected reply {other:?}"),
                }),
            })
            .collect()
    }

    /// Redis could not be reached: calls go to the fallback for a while.
    fn mark_down(&self) {
        if let Some(local) = &self.local {
            local.mark_down(self.clock.now(), &self.meters);
        }
    }

    /// Charges Redis with what the fallback granted since Redis last answered and still holds.
    fn charge_local_use(&self) -> Result<(), RedisError> {
        let Some(local) = &self.local else {
            return Ok(());
        };
        local.charge_local_use(|held| {
            let mut args = Vec::with_capacity(4 * held.len() + 1);
            for &units in held {
                // Nothing to give back; what is still held recorded from the server's now.
                args.extend([int(0), Arg::Int(0), int(units), Arg::Int(0)]);
            }
            args.push(Arg::Str(""));
            self.run("refund", &args).map(|_| ())
        })
    }

    /// The fallback, if Redis is known to be down and there is one.
    fn fallback_now(&self) -> Option<&LocalFallback> {
        let local = self.local.as_ref()?;
        local.deciding(self.clock.now()).then_some(local)
    }

    /// The local instant matching server instant `at`, given the server's `now` and the local
    /// clock's reading when the reply arrived.
    fn local_instant(local_now: Nanos, server_now: i64, at: i64) -> Nanos {
        let ahead = u64::try_from(at.saturating_sub(server_now)).unwrap_or(0);
        local_now.saturating_add(Nanos::new(ahead.saturating_mul(1_000)))
    }

    /// Reserves `slots` for `limiter` (whose state this is) within `patience`: on Redis its
    /// resources (Redis keeps no pacing slots: it refuses a window with a burst), on the
    /// fallback every slot.
    fn reserve_shared(
        &self,
        limiter: &MultiLimiter,
        slots: PerResource<u64>,
        patience: Patience,
    ) -> Result<Permit, LimitError> {
        let costs = PerResource::from_slice(&slots[..self.meters.len()]);
        for (resource, (&cost, meter)) in costs.iter().zip(&self.meters).enumerate() {
            if cost > meter.capacity() {
                return Err(LimitError::ExceedsCapacity {
                    resource: limiter.name_of(resource).to_owned(),
                    cost,
                    capacity: meter.capacity(),
                });
            }
        }
        if let Some(local) = self.fallback_now() {
            return local.reserve(slots, patience);
        }
        let now = self.clock.now();
        let due = patience.due(now);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let holder = (self.max_parallel > 0).then(|| format!("{}:{id}", self.holder_prefix));
        let receipt = loop {
            let attempt = self
                .charge_local_use()
                .and_then(|()| self.attempt(&costs, due, holder.as_deref()));
            let attempt = match attempt {
                Ok(attempt) => attempt,
                Err(error) if error.is_unreachable() => match &self.local {
                    Some(local) => {
                        event!(warn, "{error}; deciding locally for a second");
                        self.mark_down();
                        return local.reserve(slots, patience);
                    }
                    None => return Err(LimitError::Redis(error)),
                },
                Err(error) => return Err(LimitError::Redis(error)),
            };
            match attempt {
                Attempt::Granted(receipt) => break receipt,
                Attempt::NotInTime { wait } => {
                    return Err(LimitError::NotInTime { wait: Some(wait) })
                }
                Attempt::HeldTooLong { resource, wait } => {
                    return Err(limiter.held_too_long(resource, wait))
                }
                Attempt::NoSlot { expiry } => {
                    // Held in other processes: poll until one frees (or a lease runs out).
                    let now = self.clock.now();
                    if due.passed(now) {
                        return Err(LimitError::NotInTime { wait: None });
                    }
                    let wake = [Some(expiry), Some(now.saturating_add(SLOT_POLL)), due.at()]
                        .into_iter()
                        .flatten()
                        .min()
                        .unwrap_or(now);
                    self.clock.sleep_until(wake.max(now));
                }
            }
        };
        let slot = receipt.holder.is_some();
        self.receipts.lock().insert(id, receipt);
        if slot {
            self.renew_leases();
        }
        Ok(Permit::new(limiter.clone(), id, costs, false, false))
    }

    /// One reservation round trip.
    fn attempt(
        &self,
        costs: &[u64],
        due: Due,
        holder: Option<&str>,
    ) -> Result<Attempt, RedisError> {
        let mut args: Vec<Arg<'_>> = costs.iter().map(|&cost| int(cost)).collect();
        let patience = match due.at() {
            None => -1,
            Some(deadline) => micros(deadline.saturating_sub(self.clock.now())),
        };
        args.extend([
            int(self.max_parallel),
            Arg::Str(holder.unwrap_or("")),
            micros_arg(Nanos::from(self.state.lease)),
            Arg::Int(patience),
            micros_arg(self.max_hold),
        ]);
        let reply = self.run("reserve", &args)?;
        let local_now = self.clock.now();
        let field = |index: usize| reply.get(index).copied().unwrap_or(0);
        let (server_now, at) = (field(1), field(2));
        let wait = || Remote::local_instant(Nanos::ZERO, server_now, at).as_duration();
        let n = self.meters.len();
        Ok(match field(0) {
            0 => {
                if let Some(local) = &self.local {
                    local.saw(Seen {
                        local_at: local_now,
                        server_now,
                        states: reply.get(4 + n..4 + 2 * n).unwrap_or_default().to_vec(),
                    });
                }
                Attempt::Granted(Receipt {
                    costs: costs.to_vec(),
                    marks: reply.get(4..4 + n).unwrap_or_default().to_vec(),
                    server_at: at,
                    local_at: Remote::local_instant(local_now, server_now, at),
                    binding: usize::try_from(field(3))
                        .ok()
                        .and_then(|binding| binding.checked_sub(1))
                        .filter(|_| at > server_now),
                    holder: holder.map(str::to_owned),
                })
            }
            1 => Attempt::NotInTime { wait: wait() },
            2 => Attempt::NoSlot {
                expiry: Remote::local_instant(local_now, server_now, at),
            },
            3 => Attempt::HeldTooLong {
                resource: usize::try_from(field(3)).unwrap_or(1).saturating_sub(1),
                wait: wait(),
            },
            other => {
                return Err(RedisError::Server {
                    detail: format!("unexpected status {other}"),
                })
            }
        })
    }

    /// Gives back what `receipt`'s charges still hold (all resources), records `record` of
    /// `resource` if given, and releases the slot if `release`; returns the new marks.
    fn refund(
        &self,
        receipt: &Receipt,
        record: Option<(usize, u64)>,
        release: bool,
    ) -> Result<Vec<i64>, RedisError> {
        let mut args = Vec::with_capacity(4 * self.meters.len() + 1);
        for resource in 0..self.meters.len() {
            let (refunded, recorded) = match record {
                Some((settled, actual)) if settled == resource => (receipt.costs[resource], actual),
                Some(_) => (0, 0),
                None => (receipt.costs[resource], 0),
            };
            args.extend([
                int(refunded),
                Arg::Int(receipt.marks.get(resource).copied().unwrap_or(0)),
                int(recorded),
                Arg::Int(receipt.server_at),
            ]);
        }
        let holder = receipt.holder.as_deref().filter(|_| release).unwrap_or("");
        args.push(Arg::Str(holder));
        let reply = self.run("refund", &args)?;
        Ok(reply.get(2..).unwrap_or_default().to_vec())
    }

    /// Replaces what permit `id` was charged of `resource` by `actual` (see `Permit::settle`).
    fn settle_shared(
        &self,
        limiter: &MultiLimiter,
        id: u64,
        resource: usize,
        actual: u64,
    ) -> Result<(), LimitError> {
        let Some(receipt) = self.receipts.lock().get(&id).cloned() else {
            return Err(LimitError::Cancelled);
        };
        let capacity = self.meters[resource].capacity();
        if receipt.local_at > self.clock.now() && actual > capacity {
            return Err(LimitError::ExceedsCapacity {
                resource: limiter.name_of(resource).to_owned(),
                cost: actual,
                capacity,
            });
        }
        let marks = self
            .refund(&receipt, Some((resource, actual)), false)
            .map_err(LimitError::Redis)?;
        if let Some(receipt) = self.receipts.lock().get_mut(&id) {
            receipt.costs[resource] = actual;
            receipt.marks[resource] = marks.get(resource).copied().unwrap_or(0);
        }
        Ok(())
    }

    /// The instant permit `id` may go, on the server's clock (microseconds since the epoch).
    pub(super) fn server_at(&self, id: u64) -> Option<i64> {
        Some(self.receipts.lock().get(&id)?.server_at)
    }

    /// Takes in what the server said about `resource` (see `MultiLimiter::observe`).
    fn observe_shared(
        &self,
        resource: usize,
        remaining: u64,
        reset: Option<Duration>,
    ) -> Result<(), LimitError> {
        let index = int(resource as u64 + 1);
        let args = match (remaining, reset) {
            (0, Some(reset)) => [index, Arg::Str("hold"), micros_arg(Nanos::from(reset))],
            _ => [index, Arg::Str("remaining"), int(remaining)],
        };
        match self.run("observe", &args) {
            Ok(_) => Ok(()),
            Err(error) if error.is_unreachable() => match &self.local {
                Some(local) => {
                    self.mark_down();
                    let local = local.limiter();
                    local.observe(local.name_of(resource), remaining, reset)
                }
                None => Err(LimitError::Redis(error)),
            },
            Err(error) => Err(LimitError::Redis(error)),
        }
    }

    /// No call of any process goes before `until` (an instant of the local clock).
    fn pause_shared(&self, until: Nanos) {
        let wait = until.saturating_sub(self.clock.now());
        let args = [int(0), Arg::Str("hold"), micros_arg(wait)];
        if let Err(error) = self.run("observe", &args) {
            event!(warn, "could not share a pause: {error}");
            if let Some(local) = &self.local {
                local.limiter().pause_until(until);
            }
        }
    }

    fn usage_reply(&self) -> Result<Vec<i64>, RedisError> {
        self.run("usage", &[])
    }

    /// Per resource, units in use in every process (debt included); and slots held.
    fn usage_shared(&self) -> Result<(Vec<u64>, u64), RedisError> {
        let reply = self.usage_reply()?;
        let now = reply.get(1).copied().unwrap_or(0);
        let n = self.meters.len();
        let used = self
            .meters
            .iter()
            .enumerate()
            .map(|(resource, meter)| {
                meter.units_in_use(reply.get(2 + resource).copied().unwrap_or(0), now)
            })
            .collect();
        let active = u64::try_from(reply.get(2 + n).copied().unwrap_or(0)).unwrap_or(0);
        Ok((used, active))
    }

    /// Starts (once) the thread that renews the leases of the slots this process holds, every
    /// third of the lease, for as long as this state lives.
    fn renew_leases(&self) {
        if self.renewing.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = self.me.clone();
        let every = (self.state.lease / 3).max(Duration::from_millis(3));
        let spawned = std::thread::Builder::new()
            .name("tollgate-lease".into())
            .spawn(move || loop {
                std::thread::sleep(every);
                let Some(remote) = weak.upgrade() else {
                    return;
                };
                let holders: Vec<String> = remote
                    .receipts
                    .lock()
                    .values()
                    .filter_map(|receipt| receipt.holder.clone())
                    .collect();
                if holders.is_empty() {
                    continue;
                }
                let mut args = vec![micros_arg(Nanos::from(remote.state.lease))];
                args.extend(holders.iter().map(|holder| Arg::Str(holder)));
                if let Err(error) = remote.run("renew", &args) {
                    event!(warn, "could not renew concurrency leases: {error}");
                }
            });
        if spawned.is_err() {
            self.renewing.store(false, Ordering::Release);
        }
    }

    /// Takes permit `id`'s receipt out (cancel, forget); wakes its waiter.
    fn take(&self, id: u64) -> Option<Receipt> {
        let receipt = self.receipts.lock().remove(&id);
        self.changed.notify_all();
        receipt
    }
}

fn int(value: u64) -> Arg<'static> {
    Arg::Int(i64::try_from(value).unwrap_or(i64::MAX))
}

fn micros_arg(span: Nanos) -> Arg<'static> {
    Arg::Int(micros(span))
}
