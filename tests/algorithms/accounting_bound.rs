//! The accounting invariant, end to end: **no window of one period ever admits more than the
//! bound**, over random sequences of acquires (blocking, policing, bounded), reservations held
//! while others queue behind them (waiters present), settles below and above the estimate, early
//! and late, cancels, drops, `observe` and `set_rate`, for every algorithm of [`RateLimiter`] and
//! for [`MultiLimiter`] with both countings (GCRA and sliding window), on the mock clock.
//!
//! # What is counted
//!
//! Every call that went is a **usage** at the instant `g` it went (the instant the limiter let
//! it go: `ready_at` once reached; for a blocking acquire the mock clock's instant after it
//! returns), of the units the caller was allowed to use and kept:
//!
//! - its cost, while it is not settled (dropping a reservation keeps it);
//! - after settles at or below the figure in force (the estimate, or the last settled figure),
//!   the last figure (the call went at `g` and used that much of what it was allowed then; the
//!   rest came back for others to use);
//! - a cancel after it went is a settle to 0 (the library gives back what the charge still
//!   holds); a cancel while it still waits, or a reservation refused while it waited (a rate
//!   change, or a settle above the capacity of a waiting one), is no usage at all;
//! - a settle **above** the figure in force is **debt**: the excess is a usage at the settle
//!   instant `s` (a later settle lower again takes back the newest debt first). Debt is declared,
//!   not admitted, so it may itself exceed the bound; what it must never do is let a *later*
//!   admission exceed it. So every check is made when admissions happen, on what is known then,
//!   and only over windows that contain one of those new admissions.
//!
//! A settle on a reservation still waiting just replaces its cost (the library waits for the
//! new figure): it is counted with that cost when it goes.
//!
//! Why the usage of a settled call sits at `g` and not at the settle instant: the library counts
//! the actual units from the settle, which is stricter for later callers; but a late settle of a
//! call long gone re-charges units the call used long ago (the bucket has long refilled), so
//! several late settles at one instant would "use" more than the burst at that instant without
//! the limiter admitting anything. The calls used those units when they went.
//!
//! # The bounds
//!
//! - Bucket algorithms (GCRA in both forms, token bucket, leaky bucket), and a `MultiLimiter`
//!   GCRA resource, for `Rate::new(q, period).burst(b)`: over any closed interval of length `L`
//!   at most `b + floor(L / T)` units, `T` the emission interval (`period / q` rounded up to
//!   whole nanoseconds, `Pace::interval`).
//! - Sliding windows: at most `q` units in any half-open window `[t, t + period)` (a bare
//!   `SlidingWindow` takes no other burst, so it is given `Rate::new(min(q, b), period)`; a
//!   `MultiLimiter` window takes a burst up to `q`, which paces it besides).
//! - With `set_rate` between two rates: the looser of the two (largest burst, shortest interval;
//!   largest limit, shortest period).
//!
//! # Cases
//!
//! Each property runs `TOLLGATE_PROPTEST_CASES` cases when that variable is set; by default
//! 20,000 in a release build (120,000 over the six properties; the `RateLimiter` ones run every
//! case on all five algorithms) and a tenth of that in a debug build. Failures are not persisted
//! to a regressions file.
//!
//! # Regressions
//!
//! The two `set_rate` properties found that a rate change re-scaled kept receipts from the
//! clock's instant while the bucket was re-scaled from its latest instant, and that a charge
//! counted from a later instant (waiting for a hold, or for another resource) left an idle
//! stretch that taking it out did not give back; a later cancel then gave back other calls'
//! units. The two tests at the end keep those smallest cases.

use std::time::Duration;

use proptest::prelude::*;
use tollgate::algorithm::{
    Algorithm, GcraContinuous, GcraVirtual, LeakyBucket, SlidingWindow, TokenBucket,
};
use tollgate::{
    Clock, Counting, Limits, MockTime, MultiLimiter, Permit, Rate, RateLimiter, Reservation,
};

/// Cases per property: `TOLLGATE_PROPTEST_CASES`, else `release` in a release build and a tenth
/// of it in a debug build.
fn cases(release: u32) -> u32 {
    if let Some(cases) = std::env::var("TOLLGATE_PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.trim().parse().ok())
    {
        return cases;
    }
    if cfg!(debug_assertions) {
        release / 10
    } else {
        release
    }
}

fn config(release: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases(release),
        // The only file this suite may write is itself: no regressions file.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

/// A span of mock time: `quarters` quarters of the case's emission interval, plus `jitter` ns
/// (to land on and next to the instants the limiter computes).
#[derive(Clone, Copy, Debug)]
struct Step {
    quarters: u64,
    jitter: u64,
}

impl Step {
    fn nanos(self, scale: u64) -> u64 {
        scale * self.quarters / 4 + self.jitter
    }
}

/// One call on the limiter. Costs, slots and figures are selectors, mapped onto what exists when
/// the operation runs (the capacity in force, the reservations held, the figure in force).
#[derive(Clone, Debug)]
enum Op {
    /// Blocking acquire of the costs (per resource).
    Acquire([u64; 2]),
    /// Policing: take the costs if they fit now.
    TryAcquire([u64; 2]),
    /// Take the costs if they fit within the step.
    TryAcquireFor([u64; 2], Step),
    /// Reserve and hold the reservation (waiting or not).
    Reserve([u64; 2]),
    /// Wait for a held reservation still waiting.
    Wait(usize),
    /// Settle resource `.1` of a held reservation with a figure chosen by `.2`.
    Settle(usize, usize, u64),
    /// Cancel a held reservation.
    Cancel(usize),
    /// Drop a held reservation that went (keeps its charge).
    Drop(usize),
    /// Let mock time pass.
    Advance(Step),
    /// The server says `remaining` (selector) is left of resource `.0`, maybe with a reset.
    Observe(usize, u64, Option<Step>),
    /// Switch to the case's rate `.0` (single limiter only).
    SetRate(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Settles at or below the figure in force; exact bound.
    WithinEstimate,
    /// Settles also above the figure in force (debt); the bound counted with the debt.
    Debt,
    /// Settles within the estimate, plus `set_rate` between two rates; the looser bound.
    SetRate,
}

fn step() -> impl Strategy<Value = Step> {
    (
        prop_oneof![3 => 0u64..6, 2 => 0u64..17, 1 => 17u64..48],
        prop_oneof![4 => Just(0u64), 1 => 1u64..3, 1 => 0u64..2_000],
    )
        .prop_map(|(quarters, jitter)| Step { quarters, jitter })
}

fn costs() -> impl Strategy<Value = [u64; 2]> {
    [0u64..1_000, 0u64..1_000]
}

fn op(mode: Mode) -> BoxedStrategy<Op> {
    // With `set_rate`, what makes a rate change interesting: holds and reservations waiting for
    // them (or for another resource), and calls settled or cancelled while those wait.
    let set_rate = mode == Mode::SetRate;
    let (advance, observe) = if set_rate { (5, 4) } else { (5, 2) };
    let common = prop_oneof![
        2 => costs().prop_map(Op::Acquire),
        2 => costs().prop_map(Op::TryAcquire),
        1 => (costs(), step()).prop_map(|(c, s)| Op::TryAcquireFor(c, s)),
        5 => costs().prop_map(Op::Reserve),
        2 => any::<usize>().prop_map(Op::Wait),
        5 => (any::<usize>(), 0usize..2, any::<u64>()).prop_map(|(i, r, a)| Op::Settle(i, r, a)),
        2 => any::<usize>().prop_map(Op::Cancel),
        1 => any::<usize>().prop_map(Op::Drop),
        advance => step().prop_map(Op::Advance),
        observe => (
            0usize..2,
            prop_oneof![Just(0u64), any::<u64>()],
            proptest::option::of(step())
        )
            .prop_map(|(r, rem, reset)| Op::Observe(r, rem, reset)),
    ];
    if set_rate {
        prop_oneof![3 => common, 1 => any::<usize>().prop_map(Op::SetRate)].boxed()
    } else {
        common.boxed()
    }
}

fn ops(mode: Mode) -> impl Strategy<Value = Vec<Op>> {
    // Longer with `set_rate`: a rate change matters through what was reserved and held before it
    // and what is settled or cancelled after it.
    let len = if mode == Mode::SetRate { 150 } else { 60 };
    prop::collection::vec(op(mode), 1..len)
}

/// A rate with a period that is rarely a multiple of the quantity (so the interval rounds up),
/// and a burst independent of the quantity (below, equal or above).
fn rate() -> impl Strategy<Value = Rate> {
    (
        1u64..=10,
        1u64..=2_000,
        prop_oneof![Just(0u64), 1u64..1_000],
        1u64..=12,
    )
        .prop_map(|(quantity, millis, nanos, burst)| {
            Rate::new(quantity, Duration::from_nanos(millis * 1_000_000 + nanos)).burst(burst)
        })
}

// ---------------------------------------------------------------------------------------------
// The limiters under test, behind one interface
// ---------------------------------------------------------------------------------------------

/// A held reservation of either limiter.
enum Handle {
    Single(Reservation),
    Multi(Permit),
}

impl Handle {
    /// `None`: unknown (cancelled or refused). A `Reservation` says `ZERO` then, which is
    /// never later than now: the caller then asks `wait`, which tells.
    fn ready_at(&self) -> Option<u64> {
        match self {
            Handle::Single(reservation) => Some(reservation.ready_at().as_u64()),
            Handle::Multi(permit) => permit.ready_at().map(|at| at.as_u64()),
        }
    }

    fn wait(&self) -> Result<(), String> {
        match self {
            Handle::Single(reservation) => reservation.wait().map_err(|e| format!("{e:?}")),
            Handle::Multi(permit) => permit.wait().map_err(|e| format!("{e:?}")),
        }
    }

    fn settle(&self, resource: usize, actual: u64) -> Result<(), String> {
        match self {
            Handle::Single(reservation) => reservation.settle(actual).map_err(|e| format!("{e:?}")),
            Handle::Multi(permit) => permit
                .settle(NAMES[resource], actual)
                .map_err(|e| format!("{e:?}")),
        }
    }

    fn cancel(self) {
        match self {
            Handle::Single(reservation) => reservation.cancel(),
            Handle::Multi(permit) => permit.cancel(),
        }
    }
}

const NAMES: [&str; 2] = ["x", "y"];

trait Subject {
    fn resources(&self) -> usize;
    /// The most one call may cost of `resource` now.
    fn capacity(&self, resource: usize) -> u64;
    /// `Ok(None)`: admitted with nothing to hold (a `RateLimiter` acquire).
    fn acquire(&self, costs: &[u64]) -> Result<Option<Handle>, String>;
    fn try_acquire(&self, costs: &[u64]) -> Result<Option<Handle>, String>;
    fn try_acquire_for(&self, costs: &[u64], timeout: Duration) -> Result<Option<Handle>, String>;
    fn reserve(&self, costs: &[u64]) -> Result<Handle, String>;
    fn observe(
        &self,
        resource: usize,
        remaining: u64,
        reset: Option<Duration>,
    ) -> Result<(), String>;
    fn set_rate(&self, resource: usize, rate: Rate) -> Result<(), String>;
}

/// The capacity of `rate` counted as a bucket (`burst`) or as a window (`min(quantity, burst)`).
fn capacity_of(rate: &Rate, window: bool) -> u64 {
    if window {
        rate.quantity().min(rate.capacity())
    } else {
        rate.capacity()
    }
}

struct Single<A: Algorithm> {
    limiter: RateLimiter<A>,
    window: bool,
}

impl<A: Algorithm> Subject for Single<A> {
    fn resources(&self) -> usize {
        1
    }
    fn capacity(&self, _resource: usize) -> u64 {
        capacity_of(&self.limiter.rate(), self.window)
    }
    fn acquire(&self, costs: &[u64]) -> Result<Option<Handle>, String> {
        self.limiter
            .acquire_n(costs[0])
            .map(|()| None)
            .map_err(|e| format!("{e:?}"))
    }
    fn try_acquire(&self, costs: &[u64]) -> Result<Option<Handle>, String> {
        self.limiter
            .try_acquire_n(costs[0])
            .map(|()| None)
            .map_err(|e| format!("{e:?}"))
    }
    fn try_acquire_for(&self, costs: &[u64], timeout: Duration) -> Result<Option<Handle>, String> {
        self.limiter
            .try_acquire_for(costs[0], timeout)
            .map(|()| None)
            .map_err(|e| format!("{e:?}"))
    }
    fn reserve(&self, costs: &[u64]) -> Result<Handle, String> {
        self.limiter
            .reserve(costs[0])
            .map(Handle::Single)
            .map_err(|e| format!("{e:?}"))
    }
    fn observe(
        &self,
        _resource: usize,
        remaining: u64,
        reset: Option<Duration>,
    ) -> Result<(), String> {
        self.limiter
            .observe(remaining, reset)
            .map_err(|e| format!("{e:?}"))
    }
    fn set_rate(&self, _resource: usize, rate: Rate) -> Result<(), String> {
        self.limiter.set_rate(rate).map_err(|e| format!("{e:?}"))
    }
}

struct Multi {
    limiter: MultiLimiter,
    windows: [bool; 2],
}

impl Multi {
    fn named(costs: &[u64]) -> Vec<(&'static str, u64)> {
        costs.iter().zip(NAMES).map(|(&c, n)| (n, c)).collect()
    }
}

impl Subject for Multi {
    fn resources(&self) -> usize {
        2
    }
    fn capacity(&self, resource: usize) -> u64 {
        capacity_of(
            &self.limiter.rate(NAMES[resource]).unwrap(),
            self.windows[resource],
        )
    }
    fn acquire(&self, costs: &[u64]) -> Result<Option<Handle>, String> {
        self.limiter
            .acquire(&Multi::named(costs))
            .map(|p| Some(Handle::Multi(p)))
            .map_err(|e| format!("{e:?}"))
    }
    fn try_acquire(&self, costs: &[u64]) -> Result<Option<Handle>, String> {
        self.limiter
            .try_acquire(&Multi::named(costs))
            .map(|p| Some(Handle::Multi(p)))
            .map_err(|e| format!("{e:?}"))
    }
    fn try_acquire_for(&self, costs: &[u64], timeout: Duration) -> Result<Option<Handle>, String> {
        self.limiter
            .try_acquire_for(&Multi::named(costs), timeout)
            .map(|p| Some(Handle::Multi(p)))
            .map_err(|e| format!("{e:?}"))
    }
    fn reserve(&self, costs: &[u64]) -> Result<Handle, String> {
        self.limiter
            .reserve(&Multi::named(costs))
            .map(Handle::Multi)
            .map_err(|e| format!("{e:?}"))
    }
    fn observe(
        &self,
        resource: usize,
        remaining: u64,
        reset: Option<Duration>,
    ) -> Result<(), String> {
        self.limiter
            .observe(NAMES[resource], remaining, reset)
            .map_err(|e| format!("{e:?}"))
    }
    fn set_rate(&self, resource: usize, rate: Rate) -> Result<(), String> {
        self.limiter
            .set_rate(NAMES[resource], rate)
            .map_err(|e| format!("{e:?}"))
    }
}

// ---------------------------------------------------------------------------------------------
// The books: usage per call, and the bound
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Bound {
    /// Over any closed interval of length `L`: at most `burst + floor(L / interval)`.
    Bucket { burst: u64, interval: u64 },
    /// In any half-open window `[t, t + period)`: at most `limit`; and, for a `MultiLimiter`
    /// window whose every rate has a burst below its quantity (paced), also the bucket bound
    /// `(burst, interval)` of its pacing.
    Window {
        limit: u64,
        period: u64,
        pacing: Option<(u64, u64)>,
    },
}

impl Bound {
    /// The looser bound over `rates` (one rate: its own bound).
    fn of(rates: &[Rate], window: bool) -> Bound {
        let paces: Vec<_> = rates.iter().map(|r| r.pace().unwrap()).collect();
        if window {
            Bound::Window {
                limit: paces.iter().map(|p| p.quantity()).max().unwrap(),
                period: paces.iter().map(|p| p.period()).min().unwrap(),
                pacing: None,
            }
        } else {
            Bound::Bucket {
                burst: paces.iter().map(|p| p.burst()).max().unwrap(),
                interval: paces.iter().map(|p| p.interval()).min().unwrap(),
            }
        }
    }
}

/// One call that went: the instant it went, per resource the units it keeps at that instant
/// and the debts declared after (`(instant, units)`, oldest first).
#[derive(Debug)]
struct Call {
    at: u64,
    base: Vec<u64>,
    debts: Vec<Vec<(u64, u64)>>,
}

impl Call {
    fn figure(&self, resource: usize) -> u64 {
        self.base[resource] + self.debts[resource].iter().map(|d| d.1).sum::<u64>()
    }

    /// The call now says it used `actual` of `resource`, at `now`.
    fn settle(&mut self, resource: usize, actual: u64, now: u64) {
        let figure = self.figure(resource);
        if actual > figure {
            self.debts[resource].push((now, actual - figure));
            return;
        }
        let mut cut = figure - actual;
        while cut > 0 {
            match self.debts[resource].last_mut() {
                Some(debt) => {
                    let taken = debt.1.min(cut);
                    debt.1 -= taken;
                    cut -= taken;
                    if debt.1 == 0 {
                        self.debts[resource].pop();
                    }
                }
                None => {
                    self.base[resource] -= cut;
                    cut = 0;
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Piece {
    at: u64,
    units: u64,
    call: usize,
    debt: bool,
}

struct Books {
    calls: Vec<Call>,
    /// `(resource, instant)` of the admissions since the last check that took units of the
    /// resource (a call of cost 0 takes nothing, whatever the debt).
    fresh: Vec<(usize, u64)>,
    trace: Option<Vec<String>>,
}

impl Books {
    fn log(&mut self, line: impl FnOnce() -> String) {
        if let Some(trace) = &mut self.trace {
            trace.push(line());
        }
    }

    fn admit(&mut self, at: u64, costs: &[u64]) -> usize {
        let id = self.calls.len();
        self.calls.push(Call {
            at,
            base: costs.to_vec(),
            debts: vec![Vec::new(); costs.len()],
        });
        for (resource, &cost) in costs.iter().enumerate() {
            if cost > 0 {
                self.fresh.push((resource, at));
            }
        }
        self.log(|| format!("    call #{id} went at {at} ns with {costs:?}"));
        id
    }

    fn pieces(&self, resource: usize) -> Vec<Piece> {
        let mut pieces = Vec::new();
        for (id, call) in self.calls.iter().enumerate() {
            pieces.push(Piece {
                at: call.at,
                units: call.base[resource],
                call: id,
                debt: false,
            });
            for &(at, units) in &call.debts[resource] {
                pieces.push(Piece {
                    at,
                    units,
                    call: id,
                    debt: true,
                });
            }
        }
        pieces.sort_by_key(|p| p.at);
        pieces
    }

    /// Checks every interval (window) of a resource that contains one of its instants in
    /// `around` against `bounds`, on the usage known now.
    fn check_around(&self, around: &[(usize, u64)], bounds: &[Bound]) -> Result<(), String> {
        for (resource, bound) in bounds.iter().enumerate() {
            let around: Vec<u64> = around
                .iter()
                .filter(|(r, _)| *r == resource)
                .map(|(_, at)| *at)
                .collect();
            if around.is_empty() {
                continue;
            }
            let pieces = self.pieces(resource);
            // Distinct instants and prefix sums over them.
            let mut instants: Vec<u64> = Vec::with_capacity(pieces.len());
            let mut prefix: Vec<u64> = vec![0];
            for piece in &pieces {
                if instants.last() == Some(&piece.at) {
                    *prefix.last_mut().unwrap() += piece.units;
                } else {
                    instants.push(piece.at);
                    let sum = *prefix.last().unwrap() + piece.units;
                    prefix.push(sum);
                }
            }
            let violation = match *bound {
                Bound::Bucket { burst, interval } => {
                    bucket_violation(&instants, &prefix, &around, burst, interval)
                }
                Bound::Window {
                    limit,
                    period,
                    pacing,
                } => window_violation(&instants, &prefix, &around, limit, period).or_else(|| {
                    pacing.and_then(|(burst, interval)| {
                        bucket_violation(&instants, &prefix, &around, burst, interval)
                    })
                }),
            };
            if let Some((from, to, used, allowed)) = violation {
                let inside: Vec<String> = pieces
                    .iter()
                    .filter(|p| p.at >= from && p.at <= to && p.units > 0)
                    .map(|p| {
                        format!(
                            "{} units at {} ns ({} of call #{})",
                            p.units,
                            p.at,
                            if p.debt { "debt" } else { "use" },
                            p.call
                        )
                    })
                    .collect();
                return Err(format!(
                    "resource {resource}: {used} units within [{from}, {to}] ns, bound {bound:?} \
                     allows {allowed}:\n      {}",
                    inside.join("\n      ")
                ));
            }
        }
        Ok(())
    }

    /// Checks the intervals around the admissions made since the last check.
    fn check(&mut self, bounds: &[Bound]) -> Result<(), String> {
        let fresh = std::mem::take(&mut self.fresh);
        self.check_around(&fresh, bounds)
    }

    /// Checks every interval (window) over every usage (only without debt).
    fn check_all(&self, bounds: &[Bound]) -> Result<(), String> {
        let all: Vec<(usize, u64)> = (0..bounds.len())
            .flat_map(|r| self.calls.iter().map(move |c| (r, c.at)))
            .collect();
        self.check_around(&all, bounds)
    }
}

/// `(from, to, used, allowed)` of a closed interval containing one of `around` where the units
/// exceed `burst + floor(length / interval)`.
fn bucket_violation(
    instants: &[u64],
    prefix: &[u64],
    around: &[u64],
    burst: u64,
    interval: u64,
) -> Option<(u64, u64, u64, u64)> {
    for &y in around {
        let starts = instants.partition_point(|&t| t <= y);
        let ends = instants.partition_point(|&t| t < y);
        for i in 0..starts {
            for j in ends..instants.len() {
                if instants[j] < instants[i] {
                    continue;
                }
                let used = prefix[j + 1] - prefix[i];
                let allowed = burst + (instants[j] - instants[i]) / interval;
                if used > allowed {
                    return Some((instants[i], instants[j], used, allowed));
                }
            }
        }
    }
    None
}

/// `(from, last ns, used, limit)` of a window `[t, t + period)` containing one of `around` that
/// holds more than `limit` (windows starting at a usage instant are the fullest).
fn window_violation(
    instants: &[u64],
    prefix: &[u64],
    around: &[u64],
    limit: u64,
    period: u64,
) -> Option<(u64, u64, u64, u64)> {
    for &y in around {
        let starts = instants.partition_point(|&t| t <= y);
        for i in (0..starts).rev() {
            if instants[i] + period <= y {
                break;
            }
            let end = instants.partition_point(|&t| t < instants[i] + period);
            let used = prefix[end] - prefix[i];
            if used > limit {
                return Some((instants[i], instants[i] + period - 1, used, limit));
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

enum Slot {
    /// Reserved, its instant not reached; the cost it waits for.
    Waiting(Handle, Vec<u64>),
    /// Went: the call's books, and the handle while it is held.
    Gone(Option<Handle>, usize),
    /// Cancelled, refused, or dropped.
    Done,
}

struct Run<'a> {
    subject: &'a dyn Subject,
    time: &'a MockTime,
    mode: Mode,
    bounds: &'a [Bound],
    /// Per resource, the rates `set_rate` switches between.
    rates: &'a [Vec<Rate>],
    scale: u64,
    slots: Vec<Slot>,
    books: Books,
}

impl Run<'_> {
    fn now(&self) -> u64 {
        self.time.now().as_u64()
    }

    fn costs(&self, selectors: &[u64; 2]) -> Vec<u64> {
        (0..self.subject.resources())
            .map(|r| selectors[r] % (self.subject.capacity(r) + 2))
            .collect()
    }

    fn fits(&self, costs: &[u64]) -> bool {
        costs
            .iter()
            .enumerate()
            .all(|(r, &c)| c <= self.subject.capacity(r))
    }

    /// The index of the `selector`-th slot that `wanted` accepts.
    fn pick(&self, selector: usize, wanted: impl Fn(&Slot) -> bool) -> Option<usize> {
        let live: Vec<usize> = (0..self.slots.len())
            .filter(|&i| wanted(&self.slots[i]))
            .collect();
        (!live.is_empty()).then(|| live[selector % live.len()])
    }

    /// The figure a settle gives, from the figure in force.
    fn actual(&self, selector: u64, figure: u64, resource: usize) -> u64 {
        match self.mode {
            Mode::WithinEstimate | Mode::SetRate => selector % (figure + 1),
            Mode::Debt => {
                let above = selector % 3 == 0;
                let selector = selector / 3;
                if above {
                    figure + 1 + selector % (2 * self.subject.capacity(resource) + 1)
                } else {
                    selector % (figure + 1)
                }
            }
        }
    }

    /// A call admitted at once or after its own wait: it went at the instant now.
    fn went(&mut self, costs: &[u64], handle: Option<Handle>) {
        let now = self.now();
        if let Some(at) = handle.as_ref().and_then(Handle::ready_at) {
            assert_eq!(at, now, "an admitted call's instant is now");
        }
        let call = self.books.admit(now, costs);
        if handle.is_some() {
            self.slots.push(Slot::Gone(handle, call));
        }
    }

    /// Reservations whose instant has come went at that instant (or were refused meanwhile).
    fn poll(&mut self) -> Result<(), String> {
        let now = self.now();
        for i in 0..self.slots.len() {
            let due = match &self.slots[i] {
                Slot::Waiting(handle, _) => handle.ready_at().map_or(true, |at| at <= now),
                _ => false,
            };
            if !due {
                continue;
            }
            let Slot::Waiting(handle, costs) = std::mem::replace(&mut self.slots[i], Slot::Done)
            else {
                unreachable!()
            };
            let at = handle.ready_at();
            match handle.wait() {
                Ok(()) => {
                    if self.now() != now {
                        return Err(format!(
                            "waiting for a due reservation moved time to {}",
                            self.now()
                        ));
                    }
                    let at = at.ok_or("a reservation that went has no instant")?;
                    let call = self.books.admit(at, &costs);
                    self.slots[i] = Slot::Gone(Some(handle), call);
                }
                Err(error) => self
                    .books
                    .log(|| format!("    reservation slot {i} refused while waiting: {error}")),
            }
        }
        Ok(())
    }

    /// Waits for the reservation of slot `i` (still waiting): it goes at its instant, which
    /// the mock clock reaches.
    fn wait_slot(&mut self, i: usize) -> Result<(), String> {
        let now = self.now();
        let Slot::Waiting(handle, costs) = std::mem::replace(&mut self.slots[i], Slot::Done) else {
            unreachable!()
        };
        let outcome = handle.wait();
        let after = self.now();
        self.books
            .log(|| format!("t={now}: wait slot {i} -> {outcome:?}, now {after}"));
        if outcome.is_ok() {
            let at = handle
                .ready_at()
                .ok_or("a reservation that went has no instant")?;
            if at != after {
                return Err(format!(
                    "waited until {after} for a reservation ready at {at}"
                ));
            }
            let call = self.books.admit(at, &costs);
            self.slots[i] = Slot::Gone(Some(handle), call);
        }
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> Result<(), String> {
        let now = self.now();
        match op {
            Op::Acquire(selectors) => {
                let costs = self.costs(selectors);
                let outcome = self.subject.acquire(&costs);
                self.books
                    .log(|| format!("t={now}: acquire {costs:?} -> {}", ok(&outcome)));
                match outcome {
                    Ok(handle) => self.went(&costs, handle),
                    Err(error) if self.fits(&costs) => {
                        return Err(format!("acquire {costs:?} within capacity failed: {error}"))
                    }
                    Err(_) => {}
                }
            }
            Op::TryAcquire(selectors) => {
                let costs = self.costs(selectors);
                let outcome = self.subject.try_acquire(&costs);
                self.books
                    .log(|| format!("t={now}: try_acquire {costs:?} -> {}", ok(&outcome)));
                if let Ok(handle) = outcome {
                    self.went(&costs, handle);
                }
            }
            Op::TryAcquireFor(selectors, step) => {
                let costs = self.costs(selectors);
                let timeout = step.nanos(self.scale);
                let outcome = self
                    .subject
                    .try_acquire_for(&costs, Duration::from_nanos(timeout));
                self.books.log(|| {
                    format!(
                        "t={now}: try_acquire_for {costs:?} within {timeout} ns -> {}",
                        ok(&outcome)
                    )
                });
                if let Ok(handle) = outcome {
                    self.went(&costs, handle);
                }
            }
            Op::Reserve(selectors) => {
                let costs = self.costs(selectors);
                let outcome = self.subject.reserve(&costs);
                let slot = self.slots.len();
                match outcome {
                    Ok(handle) => {
                        let at = handle.ready_at();
                        self.books.log(|| {
                            format!("t={now}: reserve {costs:?} -> slot {slot}, ready at {at:?}")
                        });
                        match at {
                            Some(at) if at <= now => self.went(&costs, Some(handle)),
                            _ => self.slots.push(Slot::Waiting(handle, costs)),
                        }
                    }
                    Err(error) => {
                        self.books
                            .log(|| format!("t={now}: reserve {costs:?} -> {error}"));
                        if self.fits(&costs) {
                            return Err(format!(
                                "reserve {costs:?} within capacity failed: {error}"
                            ));
                        }
                    }
                }
            }
            Op::Wait(selector) => {
                if let Some(i) = self.pick(*selector, |s| matches!(s, Slot::Waiting(..))) {
                    self.wait_slot(i)?;
                }
            }
            Op::Settle(selector, resource, figure) => {
                let resource = resource % self.subject.resources();
                let Some(i) = self.pick(*selector, |s| {
                    matches!(s, Slot::Waiting(..) | Slot::Gone(Some(_), _))
                }) else {
                    return Ok(());
                };
                match &self.slots[i] {
                    Slot::Waiting(handle, costs) => {
                        let actual = self.actual(*figure, costs[resource], resource);
                        let outcome = handle.settle(resource, actual);
                        self.books.log(|| {
                            format!(
                                "t={now}: settle waiting slot {i} resource {resource} {} -> {actual}: {outcome:?}",
                                costs[resource]
                            )
                        });
                        match outcome {
                            Ok(()) => {
                                if let Slot::Waiting(_, costs) = &mut self.slots[i] {
                                    costs[resource] = actual;
                                }
                            }
                            // A waiting reservation cannot be settled above the capacity (it
                            // could never go): refused, nothing changes.
                            Err(e) if e.contains("ExceedsCapacity") => {}
                            Err(e) => return Err(format!("settle of a waiting reservation: {e}")),
                        }
                    }
                    Slot::Gone(Some(handle), call) => {
                        let call = *call;
                        let before = self.books.calls[call].figure(resource);
                        let actual = self.actual(*figure, before, resource);
                        let outcome = handle.settle(resource, actual);
                        self.books.log(|| {
                            format!(
                                "t={now}: settle slot {i} (call #{call}) resource {resource} {before} -> {actual}: {outcome:?}"
                            )
                        });
                        outcome.map_err(|e| format!("settle of a call that went: {e}"))?;
                        self.books.calls[call].settle(resource, actual, now);
                    }
                    _ => unreachable!(),
                }
            }
            Op::Cancel(selector) => {
                let Some(i) = self.pick(*selector, |s| {
                    matches!(s, Slot::Waiting(..) | Slot::Gone(Some(_), _))
                }) else {
                    return Ok(());
                };
                match std::mem::replace(&mut self.slots[i], Slot::Done) {
                    Slot::Waiting(handle, _) => {
                        self.books
                            .log(|| format!("t={now}: cancel waiting slot {i}"));
                        handle.cancel();
                    }
                    Slot::Gone(Some(handle), call) => {
                        self.books.log(|| {
                            format!("t={now}: cancel slot {i} (call #{call}) after it went")
                        });
                        handle.cancel();
                        for resource in 0..self.subject.resources() {
                            self.books.calls[call].settle(resource, 0, now);
                        }
                    }
                    _ => unreachable!(),
                }
            }
            Op::Drop(selector) => {
                let Some(i) = self.pick(*selector, |s| matches!(s, Slot::Gone(Some(_), _))) else {
                    return Ok(());
                };
                if let Slot::Gone(handle, call) = &mut self.slots[i] {
                    let call = *call;
                    drop(handle.take());
                    self.books
                        .log(|| format!("t={now}: drop slot {i} (call #{call})"));
                }
            }
            Op::Advance(step) => {
                let by = step.nanos(self.scale);
                self.time.advance(Duration::from_nanos(by));
                self.books.log(|| format!("t={now}: advance {by} ns"));
            }
            Op::Observe(resource, remaining, reset) => {
                let resource = resource % self.subject.resources();
                let remaining = remaining % (self.subject.capacity(resource) + 1);
                let reset = reset.map(|s| Duration::from_nanos(s.nanos(self.scale)));
                let outcome = self.subject.observe(resource, remaining, reset);
                self.books.log(|| {
                    format!("t={now}: observe resource {resource} remaining {remaining} reset {reset:?}: {outcome:?}")
                });
                outcome?;
            }
            Op::SetRate(selector) => {
                let resource = selector % self.subject.resources();
                let choices = &self.rates[resource];
                let rate = choices[selector / self.subject.resources() % choices.len()];
                let outcome = self.subject.set_rate(resource, rate);
                self.books
                    .log(|| format!("t={now}: set_rate resource {resource} {rate:?}: {outcome:?}"));
                outcome?;
            }
        }
        Ok(())
    }

    fn steps(&mut self, ops: &[Op]) -> Result<(), String> {
        for op in ops {
            self.apply(op)?;
            self.poll()?;
            self.books.check(self.bounds)?;
        }
        // Everything still waiting goes, in arrival order.
        for i in 0..self.slots.len() {
            if let Slot::Waiting(..) = &self.slots[i] {
                self.books
                    .log(|| "end of the sequence: wait for the rest".to_owned());
                self.wait_slot(i)?;
                self.poll()?;
                self.books.check(self.bounds)?;
            }
        }
        if self.mode != Mode::Debt {
            self.books
                .check_all(self.bounds)
                .map_err(|e| format!("{e}\n    (final check over every interval)"))?;
        }
        Ok(())
    }
}

fn ok<T>(outcome: &Result<T, String>) -> String {
    match outcome {
        Ok(_) => "ok".to_owned(),
        Err(error) => error.clone(),
    }
}

/// Runs `ops` on a fresh subject; on a violation runs them again with a trace for the message.
fn check_case(
    name: &str,
    make: &dyn Fn() -> (Box<dyn Subject>, MockTime),
    ops: &[Op],
    mode: Mode,
    bounds: &[Bound],
    rates: &[Vec<Rate>],
    scale: u64,
) -> Result<(), TestCaseError> {
    let attempt = |trace: bool| {
        let (subject, time) = make();
        let mut run = Run {
            subject: &*subject,
            time: &time,
            mode,
            bounds,
            rates,
            scale,
            slots: Vec::new(),
            books: Books {
                calls: Vec::new(),
                fresh: Vec::new(),
                trace: trace.then(Vec::new),
            },
        };
        let outcome = run.steps(ops);
        (outcome, run.books.trace.take().unwrap_or_default())
    };
    if attempt(false).0.is_ok() {
        return Ok(());
    }
    let (outcome, trace) = attempt(true);
    let error = outcome
        .err()
        .unwrap_or_else(|| "passed when traced".to_owned());
    Err(TestCaseError::fail(format!(
        "{name}, rates {rates:?}, mode {mode:?}: {error}\n  trace:\n  {}",
        trace.join("\n  ")
    )))
}

fn single<A: Algorithm>(
    name: &str,
    window: bool,
    rates: &[Rate],
    ops: &[Op],
    mode: Mode,
) -> Result<(), TestCaseError> {
    let bounds = [Bound::of(rates, window)];
    let scale = rates[0].pace().unwrap().interval();
    let first = rates[0];
    let make = move || -> (Box<dyn Subject>, MockTime) {
        let (clock, time) = Clock::mock();
        let limiter = RateLimiter::<A>::with_algorithm(first).with_clock(clock);
        (Box::new(Single { limiter, window }), time)
    };
    check_case(name, &make, ops, mode, &bounds, &[rates.to_vec()], scale)
}

fn every_algorithm(rates: &[Rate], ops: &[Op], mode: Mode) -> Result<(), TestCaseError> {
    single::<GcraVirtual>("RateLimiter<GcraVirtual>", false, rates, ops, mode)?;
    single::<GcraContinuous>("RateLimiter<GcraContinuous>", false, rates, ops, mode)?;
    single::<TokenBucket>("RateLimiter<TokenBucket>", false, rates, ops, mode)?;
    single::<LeakyBucket>("RateLimiter<LeakyBucket>", false, rates, ops, mode)?;
    // A bare window takes no burst: its limit, as the quantity.
    let windowed: Vec<Rate> = rates
        .iter()
        .map(|r| Rate::new(r.quantity().min(r.capacity()), r.period()))
        .collect();
    single::<SlidingWindow>("RateLimiter<SlidingWindow>", true, &windowed, ops, mode)
}

/// `x` and `y` counted as windows (`true`) or with GCRA; both windows use the limits' default
/// counting (`Counting::SlidingWindow`), the mixed ones `rate` and `window`. Each starts at the
/// first of its rates; `set_rate` switches between them.
fn multi(
    rates: [Vec<Rate>; 2],
    windows: [bool; 2],
    ops: &[Op],
    mode: Mode,
) -> Result<(), TestCaseError> {
    // A window takes a burst up to its quantity (above, it is refused at construction).
    let rates = [0, 1].map(|i| {
        rates[i]
            .iter()
            .map(|r| match windows[i] {
                true => r.burst(r.capacity().min(r.quantity())),
                false => *r,
            })
            .collect::<Vec<_>>()
    });
    // A `MultiLimiter` window paced by its burst (below its quantity, in every rate it takes)
    // also keeps the bucket bound: at most `burst` at once.
    let bounds = [0, 1].map(|i| match Bound::of(&rates[i], windows[i]) {
        Bound::Window { limit, period, .. }
            if rates[i].iter().all(|r| r.capacity() < r.quantity()) =>
        {
            let Bound::Bucket { burst, interval } = Bound::of(&rates[i], false) else {
                unreachable!()
            };
            Bound::Window {
                limit,
                period,
                pacing: Some((burst, interval)),
            }
        }
        bound => bound,
    });
    let scale = rates[0][0].pace().unwrap().interval();
    let (x, y) = (rates[0][0], rates[1][0]);
    let make = move || -> (Box<dyn Subject>, MockTime) {
        let (clock, time) = Clock::mock();
        let limits = match windows {
            [true, true] => Limits::new()
                .counting(Counting::SlidingWindow)
                .rate("x", x)
                .rate("y", y),
            [false, true] => Limits::new().rate("x", x).window("y", y),
            [true, false] => Limits::new().window("x", x).rate("y", y),
            [false, false] => Limits::new().rate("x", x).rate("y", y),
        };
        let limiter = MultiLimiter::new(limits).unwrap().with_clock(clock);
        (Box::new(Multi { limiter, windows }), time)
    };
    let name = format!(
        "MultiLimiter(x window: {}, y window: {})",
        windows[0], windows[1]
    );
    check_case(&name, &make, ops, mode, &bounds, &rates, scale)
}

proptest! {
    #![proptest_config(config(20_000))]

    /// Every algorithm of `RateLimiter`: settles at or below the estimate, cancels, drops,
    /// observe, waiters: the exact bound.
    #[test]
    fn rate_limiter_never_admits_more_than_the_bound(rate in rate(), ops in ops(Mode::WithinEstimate)) {
        every_algorithm(&[rate], &ops, Mode::WithinEstimate)?;
    }

    /// Settles above the estimate (debt, even above the burst): later admissions never exceed
    /// the bound counted with the debt declared before them.
    #[test]
    fn rate_limiter_debt_never_lets_later_admissions_exceed_the_bound(rate in rate(), ops in ops(Mode::Debt)) {
        every_algorithm(&[rate], &ops, Mode::Debt)?;
    }

    /// `set_rate` back and forth between two rates, with waiters: the looser of the two bounds.
    #[test]
    fn rate_limiter_with_set_rate_keeps_the_looser_bound(first in rate(), second in rate(), ops in ops(Mode::SetRate)) {
        every_algorithm(&[first, second], &ops, Mode::SetRate)?;
    }

    /// `MultiLimiter`, GCRA and sliding-window resources in every combination: each resource's
    /// exact bound.
    #[test]
    fn multi_limiter_never_admits_more_than_the_bound(
        x in rate(), y in rate(), windows in any::<[bool; 2]>(), ops in ops(Mode::WithinEstimate)
    ) {
        multi([vec![x], vec![y]], windows, &ops, Mode::WithinEstimate)?;
    }

    /// `MultiLimiter` with debt: later admissions never exceed each resource's bound counted with
    /// the debt declared before them.
    #[test]
    fn multi_limiter_debt_never_lets_later_admissions_exceed_the_bound(
        x in rate(), y in rate(), windows in any::<[bool; 2]>(), ops in ops(Mode::Debt)
    ) {
        multi([vec![x], vec![y]], windows, &ops, Mode::Debt)?;
    }

    /// `MultiLimiter::set_rate` on either resource, back and forth between two rates each, with
    /// waiters: each resource's looser bound.
    #[test]
    fn multi_limiter_with_set_rate_keeps_the_looser_bound(
        x in [rate(), rate()], y in [rate(), rate()], windows in any::<[bool; 2]>(), ops in ops(Mode::SetRate)
    ) {
        multi([x.to_vec(), y.to_vec()], windows, &ops, Mode::SetRate)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions: a rate change with receipts kept, while a charge waits at a later instant.
// ---------------------------------------------------------------------------------------------

/// The units that went at the instant the third call went, for one `RateLimiter` algorithm:
/// 5 units at 0 (kept), a hold until 2 ms, 4 units reserved behind it, a rate change, the
/// 4 go at 2 ms, 8 more are reserved (881 ms at the new rate), the first call is cancelled.
fn set_rate_behind_a_hold<A: Algorithm>() -> (u64, u64, Vec<String>) {
    let (clock, time) = Clock::mock();
    let fast = Rate::new(4, Duration::from_millis(1)).burst(11); // T = 250 µs
    let slow = Rate::new(1, Duration::from_millis(293)).burst(9);
    let limiter = RateLimiter::<A>::with_algorithm(fast).with_clock(clock);
    let mut log = Vec::new();
    let first = limiter.reserve(5).unwrap();
    log.push(format!("t=0: reserve(5) goes at {:?}", first.ready_at()));
    limiter.observe(0, Some(Duration::from_millis(2))).unwrap();
    let second = limiter.reserve(4).unwrap();
    log.push(format!(
        "t=0: observe(0, 2 ms); reserve(4) ready at {:?}",
        second.ready_at()
    ));
    limiter.set_rate(slow).unwrap();
    second.wait().unwrap();
    let went = time.now().as_u64();
    log.push(format!("t=0: set_rate({slow:?}); the 4 go at {went} ns"));
    let third = limiter.reserve(8).unwrap();
    log.push(format!(
        "t={went}: reserve(8) ready at {:?}",
        third.ready_at()
    ));
    first.cancel();
    log.push(format!(
        "t={went}: cancel the first call (5 units at 0); reserve(8) now ready at {:?}",
        third.ready_at()
    ));
    third.wait().unwrap();
    let third_went = time.now().as_u64();
    let units = if third_went == went { 4 + 8 } else { 8 };
    (third_went, units, log)
}

/// `RateLimiter` with a hold and `set_rate`: never more than the burst at one instant (12 units
/// went at 2 ms, with a burst of 11 then 9, before the fix).
#[test]
fn a_rate_change_behind_a_hold_then_a_cancel_stays_within_the_burst() {
    let mut failures = Vec::new();
    for (name, (at, units, log)) in [
        ("GcraVirtual", set_rate_behind_a_hold::<GcraVirtual>()),
        ("GcraContinuous", set_rate_behind_a_hold::<GcraContinuous>()),
        ("TokenBucket", set_rate_behind_a_hold::<TokenBucket>()),
        ("LeakyBucket", set_rate_behind_a_hold::<LeakyBucket>()),
    ] {
        // Both rates allow at most 11 units at one instant (burst 11, then 9).
        if units > 11 {
            failures.push(format!(
                "{name}: {units} units at {at} ns, the largest burst is 11:\n    {}",
                log.join("\n    ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `MultiLimiter` (x: GCRA, y: sliding window) and `set_rate` on x while a call waits for y:
/// never more than the burst of x at one instant (12 went, with a burst of 11 then 9, before the
/// fix).
#[test]
fn a_rate_change_while_waiting_for_another_resource_then_a_cancel_stays_within_the_burst() {
    let (clock, time) = Clock::mock();
    let fast = Rate::new(4, Duration::from_millis(1)).burst(11); // T = 250 µs
    let slow = Rate::new(1, Duration::from_millis(293)).burst(9);
    let window = Rate::new(2, Duration::from_millis(2));
    let api = MultiLimiter::new(Limits::new().rate("x", fast).window("y", window))
        .unwrap()
        .with_clock(clock);
    let first = api.acquire(&[("x", 5), ("y", 1)]).unwrap(); // at 0
    let second = api.reserve(&[("x", 4), ("y", 2)]).unwrap(); // waits for y: 2 ms
    assert_eq!(second.ready_at(), Some(tollgate::Nanos::from_millis(2)));
    api.set_rate("x", slow).unwrap();
    second.wait().unwrap();
    let went = time.now();
    let third = api.reserve(&[("x", 8)]).unwrap();
    let before = third.ready_at();
    first.cancel();
    third.wait().unwrap();
    assert!(
        time.now() > went,
        "x: the second call's 4 units and the third call's 8 went at {went:?}, burst 11 then 9 \
         (the third was ready at {before:?} before the first call, 5 units at 0, was cancelled)"
    );
}
