//! One case of the accounting-bound properties (`accounting_bound_random_calls`): the operations
//! applied to a fresh limiter on the mock clock, every call that went entered in the books, the
//! bound checked after each operation; on a violation, the case again with a trace.

use std::time::Duration;

use proptest::test_runner::TestCaseError;
use tollgate::{MockTime, Rate};

use crate::accounting_bound_books::{Books, Bound};
use crate::accounting_bound_limiters::{Handle, Mode, Op, Subject};

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
pub(crate) fn check_case(
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
