use std::collections::BTreeMap;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::accounts::Accounts;
use super::per_resource::PerResource;
use super::receipts::{id_of, Dropped, Receipts};
use crate::time::Wake;
use crate::{Clock, Nanos, RateError, WaitPrecision};

/// How long a reservation may wait for its instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Patience {
    /// As long as it takes.
    Forever,
    /// At most this long from the instant the reservation is made.
    For(Nanos),
    /// Until this instant of the core's clock.
    Until(Nanos),
}

/// Why the core did not grant a reservation. Each limiter maps it onto its own public error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `cost` of `resource` is above what it could ever hold.
    ExceedsCapacity {
        resource: usize,
        cost: u64,
        capacity: u64,
    },
    /// Not in time: the wait it would need (`None`: it waited for a concurrency slot).
    NotInTime { wait: Option<Duration> },
    /// Cancelled through a [`CancelHandle`](crate::CancelHandle) (or the limiter's own stop).
    Cancelled,
    /// A resource's rate cannot be enforced.
    InvalidRate { resource: usize, error: RateError },
    /// A server's hold on `resource` lasts longer than the core's longest hold allows: waiting
    /// `wait` for it is refused.
    HeldTooLong { resource: usize, wait: Duration },
}

/// What a granted reservation holds (its receipt): its cost and charge mark per resource, the
/// instant it went, the resource that made it wait, and whether it holds a concurrency slot.
#[derive(Clone, Debug)]
struct Grant {
    costs: PerResource<u64>,
    marks: PerResource<Nanos>,
    at: Nanos,
    binding: Option<usize>,
    slot: bool,
    /// Kept after it went, for a later settle or cancel (a public reservation); a plain
    /// acquire's grant is dropped once its thread collected it.
    keep: bool,
}

/// A grant as its charge made it: per resource, where the queue ended before the charge, where
/// the accounts keep one ([`Accounts::queue_end`]), to take the charge out exactly while it
/// waits (a grant that went keeps only its receipt).
#[derive(Debug)]
struct Charged {
    grant: Grant,
    before: PerResource<Option<Nanos>>,
}

#[derive(Debug)]
enum Plan {
    /// Behind a reservation waiting for a concurrency slot: no instant yet.
    Unplanned,
    /// Charged, to go at `grant.at`.
    Planned(Charged),
    /// Refused after it began waiting (its deadline can no longer be met, its cost no longer
    /// fits the capacity); its thread collects the refusal.
    Failed(Refusal),
}

#[derive(Debug)]
struct Waiter {
    costs: PerResource<u64>,
    deadline: Option<Nanos>,
    plan: Plan,
    keep: bool,
    /// Nobody waits for it any more (its reservation was dropped): once it goes, it keeps its
    /// charges and frees its slot.
    orphan: bool,
}

/// The state behind the core's lock: the accounts, the holds, the concurrency slots and every
/// live reservation.
pub(crate) struct Ledger<S> {
    pub(crate) accounts: S,
    /// The latest instant decided at: clock readings are clamped to it.
    latest: Nanos,
    /// Per resource: nothing that uses it goes before this instant (a server's hold).
    holds: Vec<Nanos>,
    /// Nothing at all goes before this instant (a pause).
    paused_until: Nanos,
    /// The fixed concurrency limit, if any (an adaptive one comes from the accounts).
    max_parallel: Option<u64>,
    /// Concurrency slots in use.
    slots_used: u64,
    /// The longest a reservation may wait for a server's hold.
    max_hold: Nanos,
    /// Reservations not yet gone, by arrival: the FIFO queue.
    waiting: BTreeMap<u64, Waiter>,
    /// Reservations gone whose receipts are kept (for a later settle or cancel).
    granted: Receipts<Grant>,
    /// The serial number of the next reservation (its id: [`id_of`]).
    next_id: u64,
    /// Total time reservations waited.
    pub(crate) waited: Nanos,
}

/// The reservation core: one FIFO queue of reservations over some [`Accounts`], one function
/// that re-plans it after every change of capacity, one wait loop.
///
/// Rules (the whole crate's accounting):
/// - A reservation is charged at the instant it may go (every resource at that same instant);
///   it waits behind every reservation that arrived before it (FIFO), and behind holds.
/// - Any change of capacity (refund, cancel, settle, rate change, server feedback, a slot
///   freed, a deadline that fails) goes through [`change`](Core::change): the waiting
///   reservations' charges are taken out newest first, the change applied, and the waiters
///   charged again in arrival order. They move earlier when capacity came back; a newcomer
///   always queues behind them.
/// - A refund gives back only what the charge still holds ([`Accounts::refund`]); when it moves
///   later charges earlier (a bucket's queue), the kept receipts behind it are moved too.
pub(crate) struct Core<S> {
    clock: Clock,
    precision: WaitPrecision,
    ledger: Mutex<Ledger<S>>,
    /// The places of [`Ledger::granted`] whose reservations were dropped, marked without the lock.
    dropped: Dropped,
    changed: Condvar,
}

impl<S: Accounts> Core<S> {
    pub(crate) fn new(
        clock: Clock,
        accounts: S,
        max_parallel: Option<u64>,
        max_hold: Duration,
    ) -> Core<S> {
        let resources = accounts.resources();
        Core {
            clock,
            precision: WaitPrecision::default(),
            ledger: Mutex::new(Ledger {
                accounts,
                latest: Nanos::ZERO,
                holds: vec![Nanos::ZERO; resources],
                paused_until: Nanos::ZERO,
                max_parallel,
                slots_used: 0,
                max_hold: Nanos::from(max_hold),
                waiting: BTreeMap::new(),
                granted: Receipts::new(),
                next_id: 0,
                waited: Nanos::ZERO,
            }),
            dropped: Dropped::new(),
            changed: Condvar::new(),
        }
    }

    /// Takes the lock, and back the places of receipts whose reservations were dropped.
    #[inline]
    fn lock(&self) -> MutexGuard<'_, Ledger<S>> {
        let mut guard = self.ledger.lock();
        guard.granted.take_back(&self.dropped);
        guard
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    pub(crate) fn set_precision(&mut self, precision: WaitPrecision) {
        self.precision = precision;
    }

    pub(crate) fn precision(&self) -> WaitPrecision {
        self.precision
    }

    pub(crate) fn max_hold(&self) -> Duration {
        self.lock().max_hold.as_duration()
    }

    /// Runs `read` on the ledger at the current instant (nothing re-planned).
    pub(crate) fn read<R>(&self, read: impl FnOnce(&Ledger<S>, Nanos) -> R) -> R {
        let mut ledger = self.lock();
        let now = ledger.observe(self.clock.now());
        read(&ledger, now)
    }

    /// Reserves `costs` (one per resource) and, when the core limits concurrency, a slot,
    /// waiting at most `patience`. Nothing is written when the answer is a refusal. The ticket
    /// says whether it must [`wait`](Core::wait). `keep` keeps its receipts for a later settle,
    /// cancel or [`forget`](Core::forget), which frees its slot: it must be `true` on a core
    /// with slots.
    pub(crate) fn reserve(
        &self,
        costs: &[u64],
        patience: Patience,
        keep: bool,
    ) -> Result<Ticket, Refusal> {
        let mut guard = self.lock();
        let ledger = &mut *guard;
        let now = ledger.observe(self.clock.now());
        ledger.graduate(now);
        let deadline = match patience {
            Patience::Forever => None,
            Patience::For(wait) => Some(now.saturating_add(wait)),
            Patience::Until(deadline) => Some(deadline),
        };
        let serial = ledger.next_id;
        let id = id_of(serial, None);
        let blocked = ledger.slot_queue() || !ledger.slot_free(now);
        if blocked {
            ledger.check_capacity(costs)?;
            if deadline.is_some_and(|deadline| deadline <= now) {
                return Err(Refusal::NotInTime { wait: None });
            }
            ledger.next_id += 1;
            ledger.waiting.insert(
                id,
                Waiter {
                    costs: PerResource::from_slice(costs),
                    deadline,
                    plan: Plan::Unplanned,
                    keep,
                    orphan: false,
                },
            );
            return Ok(Ticket { id, waiting: true });
        }
        let floor = ledger.floor(now);
        let (at, binding) = ledger.plan_at(costs, now, floor)?;
        ledger.check_hold(at, binding, now)?;
        if !in_time(at, deadline) {
            let wait = at.saturating_sub(now).as_duration();
            return Err(Refusal::NotInTime { wait: Some(wait) });
        }
        ledger.next_id += 1;
        if at <= now && !keep && costs.len() == 1 && ledger.accounts.take(0, now, costs[0]) {
            // Gone at once and nobody settles it later: charged, no receipt kept.
            ledger.publish(now);
            return Ok(Ticket { id, waiting: false });
        }
        let charged = ledger.charge(PerResource::from_slice(costs), now, at, binding, keep);
        let at = charged.grant.at;
        if !in_time(at, deadline) {
            // The lock-free path took units meanwhile: no longer in time. Undone, refused.
            ledger.undo(&charged, now);
            ledger.publish(now);
            let wait = at.saturating_sub(now).as_duration();
            return Err(Refusal::NotInTime { wait: Some(wait) });
        }
        let id = if at <= now {
            // Gone at once: holding no slot, it is kept where its drop needs no lock.
            let placed = keep && !charged.grant.slot;
            ledger.granted.keep(serial, charged.grant, placed)
        } else {
            ledger.waiting.insert(
                id,
                Waiter {
                    costs: charged.grant.costs.clone(),
                    deadline,
                    plan: Plan::Planned(charged),
                    keep,
                    orphan: false,
                },
            );
            id
        };
        ledger.publish(now);
        Ok(Ticket {
            id,
            waiting: at > now,
        })
    }

    /// Takes `costs` if they fit now and nobody waits (no slots, holds or queue in the way):
    /// the short path of an admitted decision. `false` changes nothing: [`reserve`](Core::reserve)
    /// then decides (and explains a refusal).
    pub(crate) fn take_now(&self, costs: &[u64]) -> bool {
        let mut guard = self.lock();
        let ledger = &mut *guard;
        // A cost of 0 takes nothing: it goes at once, before anyone waiting and through any hold
        // (as on the lock-free path), once the rate is known valid.
        if costs == [0] {
            return ledger.accounts.capacity(0).is_ok();
        }
        let now = ledger.observe(self.clock.now());
        if !ledger.waiting.is_empty()
            || ledger.paused_until > now
            || ledger.slot_limit(now).is_some()
        {
            return false;
        }
        // One resource (the limiter's own): `take` checks that it fits.
        let [cost] = costs else {
            return false;
        };
        if ledger.holds[0] > now
            || now == Nanos::MAX
            || !ledger.accounts.capacity(0).is_ok_and(|c| *cost <= c)
            || !ledger.accounts.take(0, now, *cost)
        {
            return false;
        }
        ledger.publish(now);
        true
    }

    /// When reservation `id` may go and the resource that set that instant: `None` while it
    /// waits for a concurrency slot, or once it is unknown (cancelled, refused, or gone without
    /// receipts).
    pub(crate) fn plan(&self, id: u64) -> Option<(Nanos, Option<usize>)> {
        let ledger = self.lock();
        let grant = match ledger.granted.get(id) {
            Some(grant) => grant,
            None => match &ledger.waiting.get(&id)?.plan {
                Plan::Planned(charged) => &charged.grant,
                _ => return None,
            },
        };
        Some((grant.at, grant.binding))
    }

    /// Blocks until reservation `id` may go (its grant) or is refused (cancelled, or its
    /// deadline failed: then it holds nothing).
    pub(crate) fn wait(&self, id: u64) -> Result<(), Refusal> {
        let mut guard = self.lock();
        let asked = guard.latest;
        let outcome = self.clock.block_on(
            &self.changed,
            &mut guard,
            self.precision,
            |ledger, reading| {
                let now = ledger.observe(reading);
                ledger.graduate(now);
                if let Some(grant) = ledger.granted.get(id) {
                    return Wake::Ready(Ok((grant.at, grant.keep)));
                }
                let Some(waiter) = ledger.waiting.get(&id) else {
                    return Wake::Ready(Err(Refusal::Cancelled));
                };
                match &waiter.plan {
                    Plan::Failed(refusal) => {
                        let refusal = refusal.clone();
                        ledger.waiting.remove(&id);
                        Wake::Ready(Err(refusal))
                    }
                    Plan::Unplanned if ledger.slot_free(now) => {
                        // A slot rose or came free since it queued: plan the line again.
                        ledger.replan(now);
                        self.changed.notify_all();
                        Wake::At(Some(now))
                    }
                    Plan::Unplanned if waiter.deadline.is_some_and(|d| now >= d) => {
                        ledger.waiting.remove(&id);
                        Wake::Ready(Err(Refusal::NotInTime { wait: None }))
                    }
                    Plan::Unplanned => {
                        // A slot may come free when the limit rises, or when a planned waiter
                        // (one dropped unwaited, whose slot no thread releases) goes.
                        let next_graduation =
                            ledger
                                .waiting
                                .values()
                                .find_map(|waiter| match &waiter.plan {
                                    Plan::Planned(charged) => Some(charged.grant.at),
                                    _ => None,
                                });
                        let wakes = [
                            waiter.deadline,
                            ledger.accounts.next_slot_rise(now),
                            next_graduation,
                        ];
                        Wake::At(wakes.into_iter().flatten().min())
                    }
                    Plan::Planned(charged) => Wake::At(Some(charged.grant.at)),
                }
            },
        );
        let ledger = &mut *guard;
        let (at, keep) = outcome?;
        ledger.waited = ledger.waited.saturating_add(at.saturating_sub(asked));
        if !keep {
            ledger.granted.remove(id);
        }
        Ok(())
    }

    /// Cancels reservation `id`: a waiting one leaves the queue and gives back all it was
    /// charged; one already gone gives back what its charges still hold. Frees its slot.
    pub(crate) fn cancel(&self, id: u64) {
        self.change(|ledger, now| {
            if let Some(grant) = ledger.granted.remove(id) {
                for resource in 0..grant.costs.len() {
                    ledger.refund(&grant, resource, now);
                }
                ledger.release_slot(grant.slot);
            } else {
                // Waiting: its charges were taken out before this change and are not put back.
                ledger.waiting.remove(&id);
            }
        });
    }

    /// Cancels reservation `id` only if it is still waiting (a stop that must not take back a
    /// call already let go). Returns whether it was.
    pub(crate) fn withdraw(&self, id: u64) -> bool {
        if !self.lock().waiting.contains_key(&id) {
            return false;
        }
        self.change(|ledger, _| ledger.waiting.remove(&id).is_some())
    }

    /// Drops the receipts of reservation `id`, keeping its charges; frees its slot. Once only,
    /// when the reservation is dropped (its id may name a place handed out again later).
    pub(crate) fn forget(&self, id: u64) {
        if self.dropped.mark(id) {
            // Went at once holding no slot: its charges stay, nothing changes for anyone; its
            // place comes back at the next lock round.
            return;
        }
        let mut guard = self.lock();
        let ledger = &mut *guard;
        let release_slot = match ledger.granted.remove(id) {
            Some(grant) if grant.slot => true,
            Some(_) => return, // its charges stay: nothing changes for anyone
            None => match ledger.waiting.get_mut(&id) {
                // Planned: it goes when its turn comes (its charges stay), but nobody collects
                // it; its slot comes free then.
                Some(waiter) if matches!(waiter.plan, Plan::Planned(_)) => {
                    waiter.orphan = true;
                    return;
                }
                // Refused, or still waiting for a slot: it holds nothing; it leaves the line.
                Some(_) => {
                    ledger.waiting.remove(&id);
                    false
                }
                None => return,
            },
        };
        // Those behind it may go now (in the same lock round).
        self.change_in(guard, |ledger, _| ledger.release_slot(release_slot));
    }

    /// Replaces what reservation `id` is charged for `resource` by `actual`, counted from now:
    /// what its charge still holds comes back, `actual` is charged at this instant (beyond the
    /// capacity if need be: debt, never a wait). A reservation still waiting waits for `actual` instead
    /// (refused, changing nothing, when `actual` exceeds the capacity: it could never go).
    pub(crate) fn settle(&self, id: u64, resource: usize, actual: u64) -> Result<(), Refusal> {
        self.change(|ledger, now| {
            if ledger.waiting.contains_key(&id) {
                let capacity = ledger
                    .accounts
                    .capacity(resource)
                    .map_err(|error| Refusal::InvalidRate { resource, error })?;
                if actual > capacity {
                    return Err(Refusal::ExceedsCapacity {
                        resource,
                        cost: actual,
                        capacity,
                    });
                }
                if let Some(waiter) = ledger.waiting.get_mut(&id) {
                    waiter.costs[resource] = actual;
                }
                return Ok(());
            }
            let Some(mut grant) = ledger.granted.remove(id) else {
                return Err(Refusal::Cancelled);
            };
            ledger.refund(&grant, resource, now);
            grant.costs[resource] = actual;
            if actual > 0 {
                grant.marks[resource] = ledger.accounts.record(resource, now, actual);
            }
            ledger.granted.insert(id, grant);
            Ok(())
        })
    }

    /// Applies `change` to the ledger with every waiting reservation's charges taken out, then
    /// re-plans the queue in arrival order and wakes the waiters. The one path of every change
    /// of capacity.
    pub(crate) fn change<R>(&self, change: impl FnOnce(&mut Ledger<S>, Nanos) -> R) -> R {
        self.change_in(self.lock(), change)
    }

    /// [`change`](Core::change) under a lock already taken.
    fn change_in<R>(
        &self,
        mut guard: MutexGuard<'_, Ledger<S>>,
        change: impl FnOnce(&mut Ledger<S>, Nanos) -> R,
    ) -> R {
        let ledger = &mut *guard;
        let now = ledger.observe(self.clock.now());
        ledger.graduate(now);
        ledger.accounts.begin_change();
        ledger.take_out_waiters(now);
        let changed = change(ledger, now);
        ledger.replan(now);
        ledger.publish(now);
        drop(guard);
        self.changed.notify_all();
        changed
    }
}

/// Whether a reservation planned at `at` can go by `deadline`. `Nanos::MAX` is the end of the
/// clock's time, which no reservation reaches: planned there, it could never go.
/// Takes `charged`'s charges off `accounts` exactly (it is the newest on them).
fn take_out<S: Accounts>(accounts: &mut S, charged: &Charged, now: Nanos) {
    let grant = &charged.grant;
    for (resource, (&cost, &mark)) in grant.costs.iter().zip(grant.marks.iter()).enumerate() {
        match (cost, charged.before[resource]) {
            (0, _) => {}
            (_, Some(before)) => accounts.undo(resource, now, before, mark, cost),
            (_, None) => {
                accounts.refund(resource, now, mark, cost);
            }
        }
    }
}

fn in_time(at: Nanos, deadline: Option<Nanos>) -> bool {
    at < Nanos::MAX && deadline.map_or(true, |deadline| at <= deadline)
}

/// A reservation as the core hands it out.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ticket {
    pub(crate) id: u64,
    /// In the queue: [`Core::wait`] for it (else it went at once).
    pub(crate) waiting: bool,
}

impl<S: Accounts> Ledger<S> {
    fn observe(&mut self, reading: Nanos) -> Nanos {
        self.latest = self.latest.max(reading);
        self.latest
    }

    /// Resources are held until `until` (a server said so); `None`: every resource (a pause).
    pub(crate) fn hold(&mut self, resource: Option<usize>, until: Nanos) {
        match resource {
            Some(resource) => self.holds[resource] = self.holds[resource].max(until),
            None => self.paused_until = self.paused_until.max(until),
        }
    }

    /// Reservations waiting (not yet gone).
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Units of `resource` charged to reservations whose instant is still after `now`
    /// (counted by the accounts already, from that instant).
    pub(crate) fn reserved_by_waiters(&self, resource: usize, now: Nanos) -> u64 {
        self.waiting
            .values()
            .filter_map(|waiter| match &waiter.plan {
                Plan::Planned(charged) if charged.grant.at > now => {
                    Some(charged.grant.costs[resource])
                }
                _ => None,
            })
            .fold(0, u64::saturating_add)
    }

    /// Whether the ledger is as new at `now`: nothing in use, held, waiting or kept.
    pub(crate) fn is_idle(&self, now: Nanos) -> bool {
        self.waiting.is_empty()
            && self.granted.is_empty()
            && self.slots_in_use() == 0
            && self.paused_until <= now
            && self.holds.iter().all(|hold| *hold <= now)
            && (0..self.holds.len()).all(|resource| self.accounts.in_use(resource, now) == 0)
    }

    /// Concurrency slots in use.
    pub(crate) fn slots_in_use(&self) -> u64 {
        self.slots_used
    }

    /// The concurrency limit at `now`, if there is one.
    pub(crate) fn slot_limit(&self, now: Nanos) -> Option<u64> {
        self.accounts.slot_limit(now).or(self.max_parallel)
    }

    /// Moves every kept receipt of `resource` through `remap` (after a rate change re-scaled
    /// what a bucket owes).
    pub(crate) fn remap_marks(&mut self, resource: usize, remap: impl Fn(&S, Nanos) -> Nanos) {
        let accounts = &self.accounts;
        for grant in self.granted.values_mut() {
            grant.marks[resource] = remap(accounts, grant.marks[resource]);
        }
    }

    /// Refuses costs one of which is above what its resource could ever hold (or a resource
    /// that cannot be used).
    fn check_capacity(&self, costs: &[u64]) -> Result<(), Refusal> {
        for (resource, &cost) in costs.iter().enumerate() {
            self.check_cost(resource, cost)?;
        }
        Ok(())
    }

    fn check_cost(&self, resource: usize, cost: u64) -> Result<(), Refusal> {
        let capacity = self
            .accounts
            .capacity(resource)
            .map_err(|error| Refusal::InvalidRate { resource, error })?;
        if cost > capacity {
            return Err(Refusal::ExceedsCapacity {
                resource,
                cost,
                capacity,
            });
        }
        Ok(())
    }

    /// Refuses an instant set by a server's hold further away than the longest hold allowed.
    fn check_hold(&self, at: Nanos, binding: Option<usize>, now: Nanos) -> Result<(), Refusal> {
        let wait = at.saturating_sub(now);
        match binding {
            Some(resource) if self.holds[resource] == at && wait > self.max_hold => {
                Err(Refusal::HeldTooLong {
                    resource,
                    wait: wait.as_duration(),
                })
            }
            _ => Ok(()),
        }
    }

    fn slot_free(&self, now: Nanos) -> bool {
        self.slot_limit(now)
            .map_or(true, |max| self.slots_used < max)
    }

    fn release_slot(&mut self, slot: bool) {
        if slot {
            self.slots_used = self.slots_used.saturating_sub(1);
        }
    }

    /// Whether a reservation waits for a concurrency slot (those after it wait behind it).
    fn slot_queue(&self) -> bool {
        !self.waiting.is_empty()
            && self
                .waiting
                .values()
                .any(|waiter| matches!(waiter.plan, Plan::Unplanned))
    }

    /// No reservation goes before this: now, the pause, and (FIFO) the last waiter's instant.
    fn floor(&self, now: Nanos) -> Nanos {
        if self.waiting.is_empty() {
            return now.max(self.paused_until);
        }
        let last_planned = self
            .waiting
            .values()
            .rev()
            .find_map(|waiter| match &waiter.plan {
                Plan::Planned(charged) => Some(charged.grant.at),
                _ => None,
            })
            .unwrap_or(Nanos::ZERO);
        now.max(self.paused_until).max(last_planned)
    }

    /// The instant every resource allows `costs` (no earlier than `floor`), and the resource
    /// that sets it when it is later than `floor`; refused as by
    /// [`check_capacity`](Ledger::check_capacity) (in the same pass).
    fn plan_at(
        &self,
        costs: &[u64],
        now: Nanos,
        floor: Nanos,
    ) -> Result<(Nanos, Option<usize>), Refusal> {
        let mut at = floor;
        let mut binding = None;
        for (resource, &cost) in costs.iter().enumerate() {
            self.check_cost(resource, cost)?;
            if cost == 0 {
                continue;
            }
            let fits = self
                .accounts
                .conforms_at(resource, now, cost)
                .max(self.holds[resource]);
            if fits > at {
                at = fits;
                binding = Some(resource);
            }
        }
        Ok((at, binding))
    }

    fn charge(
        &mut self,
        costs: PerResource<u64>,
        now: Nanos,
        at: Nanos,
        binding: Option<usize>,
        keep: bool,
    ) -> Charged {
        let slot = self.slot_limit(now).is_some();
        let mut before = PerResource::filled(costs.len(), None);
        let mut marks = PerResource::filled(costs.len(), Nanos::ZERO);
        let mut at = at;
        let each = costs.iter().zip(before.iter_mut()).zip(marks.iter_mut());
        for (resource, ((&cost, before), mark)) in each.enumerate() {
            if cost > 0 {
                let (end, charged, from) = self.accounts.charge_after_end(resource, now, at, cost);
                *before = end;
                at = at.max(from);
                *mark = charged;
            }
        }
        if slot {
            self.slots_used += 1;
        }
        Charged {
            grant: Grant {
                costs,
                marks,
                at,
                binding: binding.filter(|_| at > now),
                slot,
                keep,
            },
            before,
        }
    }

    /// Gives back what `grant`'s charge of `resource` still holds; the kept receipts queued
    /// behind it move earlier by as much as the queue did.
    fn refund(&mut self, grant: &Grant, resource: usize, now: Nanos) {
        let (cost, mark) = (grant.costs[resource], grant.marks[resource]);
        if cost == 0 {
            return;
        }
        let refunded = self.accounts.refund(resource, now, mark, cost);
        let shift = refunded.later_marks_earlier_by;
        if shift > Nanos::ZERO {
            for other in self.granted.values_mut() {
                if other.marks[resource] > mark {
                    other.marks[resource] = other.marks[resource].saturating_sub(shift);
                }
            }
        }
    }

    /// Waiters whose instant has come are granted, in order (inline: with nobody waiting, as
    /// on most decisions, it is one test).
    #[inline]
    fn graduate(&mut self, now: Nanos) {
        if !self.waiting.is_empty() {
            self.graduate_waiters(now);
        }
    }

    fn graduate_waiters(&mut self, now: Nanos) {
        let ready: Vec<u64> = self
            .waiting
            .iter()
            .take_while(|(_, waiter)| !matches!(waiter.plan, Plan::Unplanned))
            .filter(|(_, waiter)| matches!(&waiter.plan, Plan::Planned(c) if c.grant.at <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in ready {
            if let Some(Waiter {
                plan: Plan::Planned(Charged { grant, .. }),
                orphan,
                ..
            }) = self.waiting.remove(&id)
            {
                if orphan {
                    self.release_slot(grant.slot);
                } else {
                    self.granted.insert(id, grant);
                }
            }
        }
    }

    /// Takes `charged`'s charges out exactly (it is the newest on the state) and frees its slot.
    fn undo(&mut self, charged: &Charged, now: Nanos) {
        take_out(&mut self.accounts, charged, now);
        self.release_slot(charged.grant.slot);
    }

    /// The accounts as they would be without the waiters' charges: what the calls that went
    /// use. (A waiter is charged at its future instant; read with it, some algorithms count the
    /// time before that instant as use, as a GCRA's backlog does.)
    pub(crate) fn accounts_of_calls_gone(&self, now: Nanos) -> S
    where
        S: Clone,
    {
        let mut accounts = self.accounts.clone();
        for waiter in self.waiting.values().rev() {
            if let Plan::Planned(charged) = &waiter.plan {
                take_out(&mut accounts, charged, now);
            }
        }
        accounts
    }

    /// Takes every waiting reservation's charges out, newest first (so each comes off the
    /// state exactly as it went on), and frees their slots.
    fn take_out_waiters(&mut self, now: Nanos) {
        let planned: Vec<u64> = self.waiting.keys().rev().copied().collect();
        for id in planned {
            let Some(waiter) = self.waiting.get_mut(&id) else {
                continue;
            };
            if !matches!(waiter.plan, Plan::Planned(_)) {
                continue;
            }
            if let Plan::Planned(charged) = std::mem::replace(&mut waiter.plan, Plan::Unplanned) {
                self.undo(&charged, now);
            }
        }
    }

    /// Charges the waiters again in arrival order: each at the earliest instant its costs fit,
    /// no earlier than the one before it. A waiter whose cost no longer fits the capacity, or
    /// whose deadline can no longer be met, is refused (and holds nothing).
    fn replan(&mut self, now: Nanos) {
        let mut floor = self.floor(now);
        let mut blocked = false;
        let ids: Vec<u64> = self.waiting.keys().copied().collect();
        for id in ids {
            let waiter = &self.waiting[&id];
            if !matches!(waiter.plan, Plan::Unplanned) {
                continue;
            }
            let costs = waiter.costs.clone();
            let (deadline, keep) = (waiter.deadline, waiter.keep);
            let plan = if blocked || !self.slot_free(now) {
                match self.check_capacity(&costs) {
                    Err(refusal) => Plan::Failed(refusal),
                    Ok(()) => {
                        blocked = true;
                        Plan::Unplanned
                    }
                }
            } else {
                match self.plan_at(&costs, now, floor) {
                    Err(refusal) => Plan::Failed(refusal),
                    Ok((at, binding)) => {
                        if let Err(refusal) = self.check_hold(at, binding, now) {
                            Plan::Failed(refusal)
                        } else if !in_time(at, deadline) {
                            let wait = at.saturating_sub(now).as_duration();
                            Plan::Failed(Refusal::NotInTime { wait: Some(wait) })
                        } else {
                            let charged = self.charge(costs, now, at, binding, keep);
                            if in_time(charged.grant.at, deadline) {
                                floor = charged.grant.at;
                                Plan::Planned(charged)
                            } else {
                                // The lock-free path took units meanwhile: no longer in time.
                                let wait = charged.grant.at.saturating_sub(now).as_duration();
                                self.undo(&charged, now);
                                Plan::Failed(Refusal::NotInTime { wait: Some(wait) })
                            }
                        }
                    }
                }
            };
            if let Some(waiter) = self.waiting.get_mut(&id) {
                waiter.plan = plan;
            }
        }
        self.graduate(now);
    }

    fn publish(&mut self, now: Nanos) {
        self.accounts.publish(now, &self.holds, self.paused_until);
    }
}
