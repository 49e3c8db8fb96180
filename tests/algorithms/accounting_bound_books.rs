//! The books of the accounting-bound properties (`accounting_bound_random_calls`): the usage of
//! every call that went (its units at the instant it went, its debts at their settle instants)
//! and the bound it is checked against, over the intervals around each new admission.

use tollgate::Rate;

// ---------------------------------------------------------------------------------------------
// The books: usage per call, and the bound
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
pub(crate) enum Bound {
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
    pub(crate) fn of(rates: &[Rate], window: bool) -> Bound {
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
pub(crate) struct Call {
    at: u64,
    base: Vec<u64>,
    debts: Vec<Vec<(u64, u64)>>,
}

impl Call {
    pub(crate) fn figure(&self, resource: usize) -> u64 {
        self.base[resource] + self.debts[resource].iter().map(|d| d.1).sum::<u64>()
    }

    /// The call now says it used `actual` of `resource`, at `now`.
    pub(crate) fn settle(&mut self, resource: usize, actual: u64, now: u64) {
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

pub(crate) struct Books {
    pub(crate) calls: Vec<Call>,
    /// `(resource, instant)` of the admissions since the last check that took units of the
    /// resource (a call of cost 0 takes nothing, whatever the debt).
    pub(crate) fresh: Vec<(usize, u64)>,
    pub(crate) trace: Option<Vec<String>>,
}

impl Books {
    pub(crate) fn log(&mut self, line: impl FnOnce() -> String) {
        if let Some(trace) = &mut self.trace {
            trace.push(line());
        }
    }

    pub(crate) fn admit(&mut self, at: u64, costs: &[u64]) -> usize {
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
    pub(crate) fn check(&mut self, bounds: &[Bound]) -> Result<(), String> {
        let fresh = std::mem::take(&mut self.fresh);
        self.check_around(&fresh, bounds)
    }

    /// Checks every interval (window) over every usage (only without debt).
    pub(crate) fn check_all(&self, bounds: &[Bound]) -> Result<(), String> {
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
