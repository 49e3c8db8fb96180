//! The progress bar (cargo feature `progress`, drawn with indicatif on stderr when it is a
//! terminal); without the feature every method does nothing.
//!
//! `████████░░░░ 120/400 [00:00:15] 7.8/s ETA 36s waiting for the tokens quota: 1.2 s`: the
//! bar (empty, not full, while nothing is known), the counts, the elapsed time, the recent
//! rate, the time left at that rate (`ETA ?` while nothing has finished or every call waits),
//! and what holds the run back: the quota every call waits for, or the concurrency limit.

#[cfg(feature = "progress")]
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(feature = "progress")]
use std::sync::Arc;
use std::time::Duration;

pub(super) struct Progress {
    #[cfg(feature = "progress")]
    bar: Option<indicatif::ProgressBar>,
    /// Every worker waits for quota: the rate says nothing about the time left.
    #[cfg(feature = "progress")]
    stuck: Arc<AtomicBool>,
}

#[cfg(feature = "progress")]
/// The bar's width in characters.
const BAR_WIDTH: u64 = 40;

impl Progress {
    /// A bar for `total` jobs of which `done` are finished, if `enabled`.
    pub(super) fn new(enabled: bool, total: u64, done: u64) -> Progress {
        #[cfg(feature = "progress")]
        {
            let stuck = Arc::new(AtomicBool::new(false));
            let bar = enabled.then(|| {
                let bar = indicatif::ProgressBar::new(total);
                let waiting = Arc::clone(&stuck);
                let style = indicatif::ProgressStyle::with_template(
                    "{filled} {pos}/{len} [{elapsed_precise}] {rate} {left} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .with_key(
                    "filled",
                    |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                        out.write_str(&bar_text(state.pos(), state.len().unwrap_or(0)))
                            .ok();
                    },
                )
                .with_key(
                    "rate",
                    |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                        out.write_str(&rate_text(state.per_sec())).ok();
                    },
                )
                .with_key(
                    "left",
                    move |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                        let rate = (!waiting.load(Ordering::Relaxed)).then(|| state.per_sec());
                        let left = eta_text(state.pos(), state.len().unwrap_or(0), rate);
                        out.write_str(&left).ok();
                    },
                );
                bar.set_style(style);
                bar.set_position(done);
                bar
            });
            Progress { bar, stuck }
        }
        #[cfg(not(feature = "progress"))]
        {
            let _ = (enabled, total, done);
            Progress {}
        }
    }

    /// `done` of `total` jobs are finished (the total grows as jobs are sent during a run).
    pub(super) fn set_counts(&self, done: u64, total: u64) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
        }
        #[cfg(not(feature = "progress"))]
        let _ = (done, total);
    }

    /// Says what holds the run back: "waiting for the <resource> quota: N.N s" while every
    /// worker waits for quota (`wait`), "all N workers busy (the concurrency limit)" while
    /// `in_flight` calls take every one of the `workers`, else nothing.
    pub(super) fn held_back(
        &self,
        wait: Option<(String, Duration)>,
        in_flight: usize,
        workers: usize,
    ) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            self.stuck.store(wait.is_some(), Ordering::Relaxed);
            bar.set_message(held_back_text(wait, in_flight, workers));
        }
        #[cfg(not(feature = "progress"))]
        let _ = (wait, in_flight, workers);
    }

    pub(super) fn finish(&self) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(feature = "progress")]
/// The bar: `done` of `total` filled; empty (not full) while the total is 0.
fn bar_text(done: u64, total: u64) -> String {
    let filled = match total {
        0 => 0,
        total => (done.min(total) * BAR_WIDTH / total) as usize,
    };
    format!(
        "{}{}",
        "█".repeat(filled),
        "░".repeat(BAR_WIDTH as usize - filled)
    )
}

#[cfg(feature = "progress")]
/// A rate in jobs per second, to one decimal: "7.8/s".
fn rate_text(per_second: f64) -> String {
    format!("{:.1}/s", per_second.max(0.0))
}

#[cfg(feature = "progress")]
/// The time left for `total - done` jobs at `rate` per second: "ETA 36s", "ETA 2m 05s",
/// "ETA 1h 02m"; "ETA ?" while it cannot be told (nothing finished yet, no rate, or every call
/// waiting: `rate` is `None`); nothing once done.
fn eta_text(done: u64, total: u64, rate: Option<f64>) -> String {
    if done >= total {
        return String::new();
    }
    let seconds = match rate {
        Some(rate) if done > 0 && rate > 1e-3 => ((total - done) as f64 / rate).ceil(),
        _ => return "ETA ?".to_owned(),
    };
    if !seconds.is_finite() || seconds > 99.0 * 3_600.0 {
        return "ETA ?".to_owned();
    }
    let seconds = seconds as u64;
    match (seconds / 3_600, seconds / 60 % 60, seconds % 60) {
        (0, 0, s) => format!("ETA {s}s"),
        (0, m, s) => format!("ETA {m}m {s:02}s"),
        (h, m, _) => format!("ETA {h}h {m:02}m"),
    }
}

#[cfg(feature = "progress")]
/// "waiting for the tokens quota: 1.2 s", "all 32 workers busy (the concurrency limit)", or
/// nothing.
fn held_back_text(wait: Option<(String, Duration)>, in_flight: usize, workers: usize) -> String {
    match wait {
        Some((resource, left)) => format!(
            "waiting for the {resource} quota: {:.1} s",
            left.as_secs_f64()
        ),
        None if workers > 0 && in_flight >= workers => {
            format!("all {workers} workers busy (the concurrency limit)")
        }
        None => String::new(),
    }
}

#[cfg(all(test, feature = "progress"))]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_total_draws_an_empty_bar_not_a_full_one() {
        assert_eq!(bar_text(0, 0), "░".repeat(40));
        assert_eq!(
            bar_text(5, 10),
            format!("{}{}", "█".repeat(20), "░".repeat(20))
        );
        assert_eq!(bar_text(10, 10), "█".repeat(40));
        assert_eq!(bar_text(12, 10), "█".repeat(40));
    }

    #[test]
    fn rates_have_one_decimal() {
        assert_eq!(rate_text(7.8130), "7.8/s");
        assert_eq!(rate_text(0.0), "0.0/s");
        assert_eq!(rate_text(1234.56), "1234.6/s");
    }

    #[test]
    fn the_time_left_is_unknown_rather_than_zero_while_stuck() {
        assert_eq!(eta_text(0, 100, Some(5.0)), "ETA ?");
        assert_eq!(eta_text(10, 100, None), "ETA ?");
        assert_eq!(eta_text(10, 100, Some(0.0)), "ETA ?");
        assert_eq!(eta_text(10, 100, Some(3.0)), "ETA 30s");
        assert_eq!(eta_text(10, 1_000, Some(2.0)), "ETA 8m 15s");
        assert_eq!(eta_text(10, 100_000, Some(2.0)), "ETA 13h 53m");
        assert_eq!(eta_text(100, 100, Some(2.0)), "");
    }

    #[test]
    fn what_holds_the_run_back_is_named() {
        let wait = Some(("tokens".to_owned(), Duration::from_millis(1_250)));
        assert_eq!(
            held_back_text(wait, 32, 32),
            "waiting for the tokens quota: 1.2 s"
        );
        assert_eq!(
            held_back_text(None, 32, 32),
            "all 32 workers busy (the concurrency limit)"
        );
        assert_eq!(held_back_text(None, 5, 32), "");
    }
}
