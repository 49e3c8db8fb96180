//! The sliding window against an exact log (its reference on the grid), its bound, its grid
//! and its costs.

use super::*;
use std::time::{Duration, Instant};

#[test]
fn a_reservation_counts_from_its_own_instant() {
    let mut window = SlidingWindow::new(&Rate::per_minute(2)).unwrap();
    let at = |s| Nanos::from_secs(s);
    assert_eq!(window.reserve(at(0), 2), Ok(at(0)));
    assert_eq!(window.reserve(at(1), 1), Ok(at(60)));
    // The reserved unit counts during [60 s, 120 s): only one more fits at 60 s.
    assert_eq!(window.try_take(at(61), 1), Decision::Admitted);
    assert_eq!(window.try_take(at(61), 1), Decision::NotBefore(at(120)));
}

#[test]
fn the_log_keeps_only_the_current_window() {
    let mut window = SlidingWindow::new(&Rate::per_second(5)).unwrap();
    for i in 0..10_000u64 {
        let now = Nanos::from_millis(i * 200);
        assert_eq!(window.try_take(now, 1), Decision::Admitted);
        assert!(window.log.len() <= 5);
    }
}

/// SplitMix64: a small deterministic generator for the randomised tests.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn rate_of(quantity: u64, period: u64, burst: u64) -> Rate {
    Rate::new(quantity, Duration::from_nanos(period)).burst(burst)
}

#[test]
fn common_periods_get_a_round_step_that_divides_them() {
    let ms = 1_000_000;
    for (period, step) in [
        (ms, 500),
        (5 * ms, 2_000),
        (200 * ms, 100_000),
        (1_000 * ms, 500_000),
        (1_500 * ms, ms),
        (10_000 * ms, 5 * ms),
        (60_000 * ms, 50 * ms),
        (3_600_000 * ms, 2_000 * ms),
        (86_400_000 * ms, 50_000 * ms),
        (4_096, 1),
        (17, 1),
    ] {
        assert_eq!(grid_for(period), (step, period), "period {period}");
    }
}

#[test]
fn every_period_gets_between_1024_and_4096_steps() {
    let mut random = Random(7);
    let periods = (0..20_000).map(|_| 4_097 + random.below(1 << 40));
    for period in periods.chain([4_097, 1_000_000_007, (1 << 62) - 1, 2 * 1_000_000_007]) {
        let (step, rounded) = grid_for(period);
        let steps = rounded / step;
        assert_eq!(rounded % step, 0, "period {period}");
        assert!(
            (MIN_STEPS..=MAX_STEPS).contains(&steps),
            "period {period}: {steps} steps"
        );
        // Under a step of rounding plus the longer period: less than period / 1024 late.
        assert!(
            step - 1 + (rounded - period) < period / MIN_STEPS,
            "period {period}"
        );
    }
}

#[test]
fn a_unit_counts_its_whole_period_and_less_than_period_over_1024_longer() {
    let mut random = Random(11);
    for round in 0..5_000 {
        let period = match round % 4 {
            0 => 1 + random.below(4_096),
            1 => 1_000_000 * (1 + random.below(3_600_000)),
            2 => 1_000_000_007,
            _ => 1 + random.below(1 << 42),
        };
        let mut window = SlidingWindow::new(&rate_of(1, period, 1)).unwrap();
        let t = Nanos::new(random.below(1 << 50));
        assert_eq!(window.try_take(t, 1), Decision::Admitted);
        let end = t.as_u64() + period;
        assert_eq!(window.in_use(Nanos::new(end - 1)), 1, "period {period}");
        let late = Nanos::new(end + period / MIN_STEPS);
        assert_eq!(window.in_use(late), 0, "period {period}");
        assert_eq!(window.available(late), 1);
        assert_eq!(window.decide(late, 1), Decision::Admitted);
    }
}

/// The exact log this window replaced (one entry per charge at its exact instant): the
/// reference for instants on the grid. Instants must not go backwards.
struct Exact {
    limit: u64,
    period: Nanos,
    log: VecDeque<(Nanos, u64)>,
}

impl Exact {
    fn new(rate: &Rate) -> Exact {
        let pace = rate.pace().unwrap();
        Exact {
            limit: pace.quantity.min(pace.burst),
            period: Nanos::new(pace.period),
            log: VecDeque::new(),
        }
    }

    fn counting(&self, now: Nanos) -> impl Iterator<Item = &(Nanos, u64)> {
        let period = self.period;
        self.log
            .iter()
            .skip_while(move |(at, _)| at.saturating_add(period) <= now)
    }

    fn used(&self, now: Nanos) -> u64 {
        self.counting(now).map(|(_, cost)| *cost).sum()
    }

    fn forget_expired(&mut self, now: Nanos) {
        while let Some((at, _)) = self.log.front() {
            if at.saturating_add(self.period) > now {
                break;
            }
            self.log.pop_front();
        }
    }

    fn conforms_at(&self, now: Nanos, cost: u64) -> Nanos {
        let allowed = self.limit.saturating_sub(cost);
        let mut used = self.used(now);
        if used <= allowed {
            return now;
        }
        for (at, entry_cost) in self.counting(now) {
            used -= entry_cost;
            if used <= allowed {
                return at.saturating_add(self.period).max(now);
            }
        }
        now
    }

    fn charge_at(&mut self, now: Nanos, at: Nanos, cost: u64) -> Nanos {
        let at = at.max(self.conforms_at(now, cost));
        self.forget_expired(now);
        let index = self.log.partition_point(|(logged, _)| *logged <= at);
        self.log.insert(index, (at, cost));
        at
    }

    fn refund(&mut self, now: Nanos, mut cost: u64) {
        self.forget_expired(now);
        while cost > 0 {
            let Some(newest) = self.log.back_mut() else {
                break;
            };
            let given_back = newest.1.min(cost);
            newest.1 -= given_back;
            cost -= given_back;
            if newest.1 == 0 {
                self.log.pop_back();
            }
        }
    }

    fn refund_charge(&mut self, now: Nanos, mark: Nanos, mut cost: u64) -> u64 {
        self.forget_expired(now);
        let mut units = 0;
        for entry in self.log.iter_mut().filter(|(at, _)| *at == mark) {
            let given_back = entry.1.min(cost);
            entry.1 -= given_back;
            cost -= given_back;
            units += given_back;
        }
        self.log.retain(|(_, cost)| *cost > 0);
        units
    }

    fn decide(&self, now: Nanos, cost: u64) -> Decision {
        if cost > self.limit {
            return Decision::Never {
                capacity: self.limit,
            };
        }
        match self.conforms_at(now, cost) {
            at if at <= now => Decision::Admitted,
            at => Decision::NotBefore(at),
        }
    }
}

/// Runs the same random operations on the window and on the exact log, with every instant
/// a multiple of `unit`, and checks they answer alike. Periods up to 4096 ns have a 1 ns
/// step: `unit = 1` and rate changes are compared too.
fn compare_with_the_exact_log(seed: u64, rates: &[Rate], unit: u64, change_rates: bool) {
    let mut random = Random(seed);
    let rate = rates[random.below(rates.len() as u64) as usize];
    let mut window = SlidingWindow::new(&rate).unwrap();
    let mut exact = Exact::new(&rate);
    let period = rate.period().as_nanos() as u64;
    let mut now = Nanos::ZERO;
    let mut marks = Vec::new();
    for _ in 0..300 {
        let gap = match random.below(4) {
            0 => 0,
            1 => random.below(period / unit / 4 + 1),
            _ => random.below(2 * period / unit + 1),
        };
        now = now.saturating_add(Nanos::new(gap * unit));
        let limit = exact.limit;
        let cost = 1 + random.below(limit + 1);
        match random.below(9) {
            0 | 1 => {
                let decision = exact.decide(now, cost);
                assert_eq!(window.try_take(now, cost), decision);
                if decision == Decision::Admitted {
                    exact.charge_at(now, now, cost);
                }
            }
            2 => {
                let expected = match exact.decide(now, cost) {
                    Decision::Admitted => Ok(now),
                    Decision::NotBefore(at) => Ok(at),
                    never => Err(never),
                };
                assert_eq!(window.reserve(now, cost), expected);
                if expected.is_ok() {
                    exact.charge_at(now, now, cost);
                }
            }
            3 | 4 => {
                let at = now.saturating_add(Nanos::new(random.below(period / unit + 1) * unit));
                let mark = exact.charge_at(now, at, cost);
                assert_eq!(window.charge_at(now, at, cost), mark);
                marks.push((mark, cost));
            }
            5 if !marks.is_empty() => {
                let (mark, cost) = marks.swap_remove(random.below(marks.len() as u64) as usize);
                let units = exact.refund_charge(now, mark, cost);
                assert_eq!(window.refund_charge(now, mark, cost).units, units);
            }
            6 => {
                let cost = random.below(limit + 1);
                exact.refund(now, cost);
                window.refund(now, cost);
            }
            7 if change_rates => {
                let rate = rates[random.below(rates.len() as u64) as usize];
                let replacement = Exact::new(&rate);
                exact.limit = replacement.limit;
                exact.period = replacement.period;
                exact.forget_expired(now);
                window.set_rate(now, &rate).unwrap();
            }
            _ => {
                assert_eq!(window.decide(now, cost), exact.decide(now, cost));
            }
        }
        assert_eq!(window.in_use(now), exact.used(now));
        assert_eq!(
            window.available(now),
            exact.limit.saturating_sub(exact.used(now))
        );
    }
}

#[test]
fn on_the_grid_it_decides_exactly_as_the_exact_log() {
    let short: Vec<Rate> = [(3, 1_000, 3), (2, 4_096, 2), (1, 17, 1), (20, 2_500, 20)]
        .iter()
        .map(|&(q, p, b)| rate_of(q, p, b))
        .collect();
    for seed in 0..300 {
        compare_with_the_exact_log(seed, &short, 1, true);
    }
    for (rate, step) in [
        (Rate::per_minute(5), 50_000_000),
        (Rate::per_second(4), 500_000),
        (rate_of(7, 1_500_000_000, 7), 1_000_000),
        (Rate::per_hour(12), 2_000_000_000),
    ] {
        assert_eq!(SlidingWindow::new(&rate).unwrap().step, step);
        for seed in 0..100 {
            compare_with_the_exact_log(seed, &[rate], step, false);
        }
    }
}

/// What actually went out: `(instant, units)` per admission, checked against "at most
/// `limit` in any window `[t, t + period)`" by brute force.
fn check_bound(admitted: &mut [(Nanos, u64)], limit: u64, period: u64) {
    admitted.sort();
    for (i, &(start, _)) in admitted.iter().enumerate() {
        let end = start.as_u64() + period;
        let total: u64 = admitted[i..]
            .iter()
            .take_while(|(at, _)| at.as_u64() < end)
            .map(|(_, units)| units)
            .sum();
        assert!(
            total <= limit,
            "{total} units within [{start:?}, +{period} ns)"
        );
    }
}

#[test]
fn never_more_than_the_limit_in_any_window() {
    let mut random = Random(3);
    for _ in 0..1_500 {
        let period = match random.below(4) {
            0 => 1 + random.below(5_000),
            1 => 1_000_000 * (1 + random.below(2_000)),
            2 => 1_000_000_007,
            _ => 4_097 + random.below(1 << 36),
        };
        let limit = 1 + random.below(20);
        let limit = limit.min(period);
        let rate = rate_of(limit, period, limit);
        let mut window = SlidingWindow::new(&rate).unwrap();
        // `(instant, units, mark)`: the instant the units actually went out at.
        let mut admitted: Vec<(Nanos, u64, Option<Nanos>)> = Vec::new();
        let mut now = Nanos::ZERO;
        // The latest instant the window has taken in (the read-only methods take in none).
        let mut seen = Nanos::ZERO;
        for _ in 0..120 {
            now = match random.below(6) {
                // A stale reading: what it takes goes out at the latest instant seen.
                0 => now.saturating_sub(Nanos::new(random.below(period))),
                1 => now,
                _ => seen.saturating_add(Nanos::new(random.below(period + period / 2))),
            };
            let cost = 1 + random.below(limit);
            match random.below(4) {
                0 => {
                    if window.try_take(now, cost) == Decision::Admitted {
                        seen = seen.max(now);
                        admitted.push((seen, cost, None));
                    }
                }
                1 => {
                    let at = window.reserve(now, cost).unwrap();
                    seen = seen.max(now);
                    admitted.push((at.max(seen), cost, None));
                }
                2 => {
                    let conforms = window.conforms_at(now, cost);
                    let at = conforms.saturating_add(Nanos::new(random.below(period)));
                    let mark = window.charge_at(now, at, cost);
                    seen = seen.max(now);
                    admitted.push((at.max(seen), cost, Some(mark)));
                }
                _ => {
                    let charges: Vec<usize> = (0..admitted.len())
                        .filter(|&i| admitted[i].2.is_some() && admitted[i].1 > 0)
                        .collect();
                    if let Some(&i) = charges.get(random.below(charges.len() as u64 + 1) as usize) {
                        let (_, units, mark) = admitted[i];
                        let refunded = window.refund_charge(now, mark.unwrap(), units);
                        seen = seen.max(now);
                        assert!(refunded.units <= units);
                        admitted[i].1 -= refunded.units;
                    }
                }
            }
            assert_eq!(window.latest, seen);
            assert!(window.available(now) <= limit);
        }
        let mut admitted: Vec<(Nanos, u64)> = admitted
            .into_iter()
            .map(|(at, units, _)| (at, units))
            .collect();
        check_bound(&mut admitted, limit, period);
    }
}

#[test]
fn a_stale_instant_counts_as_the_latest_seen() {
    // 5 per 5 ms. Read at 105 ms, then a reading of 103 ms taken before it arrives late.
    let mut window = SlidingWindow::new(&"5/5ms".parse().unwrap()).unwrap();
    let ms = Nanos::from_millis;
    assert_eq!(window.try_take(ms(105), 2), Decision::Admitted);
    // It fits at 105 ms, and is logged there: counting until 110 ms, not 108 ms.
    assert_eq!(window.try_take(ms(103), 3), Decision::Admitted);
    assert_eq!(window.in_use(ms(103)), 5);
    assert_eq!(window.in_use(ms(109)), 5);
    // So nothing more before 110 ms: 5 in [105, 110), not 8.
    assert_eq!(window.try_take(ms(108), 3), Decision::NotBefore(ms(110)));
    assert_eq!(window.try_take(ms(104), 1), Decision::NotBefore(ms(110)));
    assert_eq!(window.available(ms(100)), 0);
    // A reservation read late is queued from the latest instant too.
    assert_eq!(window.reserve(ms(101), 5), Ok(ms(110)));
    assert_eq!(window.try_take(ms(110), 1), Decision::NotBefore(ms(115)));
    // Refunds and charges at a stale instant act at the latest one.
    let mark = window.charge_at(ms(112), ms(112), 1);
    assert_eq!(mark, ms(115));
    assert_eq!(window.refund_charge(ms(100), mark, 1).units, 1);
    assert_eq!(window.in_use(ms(100)), 5);
}

#[test]
fn the_log_stays_small_whatever_the_quantity() {
    // 10⁹ per hour: a 2 s step, so at most 1 801 entries for the current window.
    let mut window = SlidingWindow::new(&Rate::per_hour(1_000_000_000)).unwrap();
    let bound = (3_600 / 2 + 1) as usize;
    // 10⁶ admissions of 1 unit, one every 13 ms: 3.6 hours of simulated time.
    for i in 0..1_000_000u64 {
        let now = Nanos::new(i * 13_000_000);
        assert_eq!(window.try_take(now, 1), Decision::Admitted);
        assert!(window.log.len() <= bound);
    }
    // Between the exact count and one step (2 s, 154 admissions) more.
    let last = 999_999 * 13_000_000;
    let exact = (0..1_000_000u64)
        .filter(|i| i * 13_000_000 + 3_600_000_000_000 > last)
        .count() as u64;
    let counted = window.in_use(Nanos::new(last));
    assert!(
        (exact..=exact + 154).contains(&counted),
        "{counted} counted, {exact} exactly"
    );
    // 10⁶ more within one second: one entry more at most.
    let now = Nanos::new(1_000_000 * 13_000_000);
    for i in 0..1_000_000u64 {
        assert_eq!(
            window.try_take(now.saturating_add(Nanos::new(i)), 1),
            Decision::Admitted
        );
    }
    assert!(window.log.len() <= bound);
    assert!(window.log.capacity() <= 4_096);
}

#[test]
fn decisions_at_a_hundred_thousand_live_entries_are_fast() {
    // 10⁵ units of a 10⁵/hour window, reserved one per grid instant (2 s) ahead: 10⁵ entries,
    // all counting now.
    let mut window = SlidingWindow::new(&Rate::per_hour(100_000)).unwrap();
    let step = Nanos::from_secs(2);
    for i in 0..100_000u64 {
        let at = Nanos::new(i * step.as_u64());
        assert_eq!(window.charge_at(Nanos::ZERO, at, 1), at);
    }
    assert_eq!(window.log.len(), 100_000);
    assert_eq!(window.in_use(Nanos::ZERO), 100_000);
    let started = Instant::now();
    for i in 0..100_000u64 {
        let now = Nanos::new(i * 1_000);
        assert_eq!(
            window.try_take(now, 1 + i % 7),
            Decision::NotBefore(Nanos::from_secs(3_600 + 2 * (i % 7)))
        );
        assert_eq!(window.available(now), 0);
    }
    // A linear scan would take tens of seconds; binary searches take milliseconds.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?} for 10⁵ decisions",
        started.elapsed()
    );
}

#[test]
fn debt_is_kept_and_waited_for() {
    let mut window = SlidingWindow::new(&Rate::per_minute(10)).unwrap();
    let s = Nanos::from_secs;
    window.charge(s(0), 25);
    assert_eq!(window.in_use(s(1)), 25);
    assert_eq!(window.available(s(1)), 0);
    assert_eq!(window.decide(s(1), 1), Decision::NotBefore(s(60)));
    // A second debt waits for the window to empty.
    assert_eq!(window.charge_at(s(1), s(1), 15), s(60));
    assert_eq!(window.decide(s(61), 1), Decision::NotBefore(s(120)));
    assert_eq!(window.in_use(s(120)), 0);
    window.observe(s(120), 4);
    assert_eq!(window.available(s(121)), 4);
}
