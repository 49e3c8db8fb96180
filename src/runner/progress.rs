//! The progress bar (cargo feature `progress`, drawn with indicatif on stderr when it is a
//! terminal); without the feature every method does nothing.

use std::time::Duration;

pub(super) struct Progress {
    #[cfg(feature = "progress")]
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    /// A bar for `total` jobs of which `done` are finished, if `enabled`.
    pub(super) fn new(enabled: bool, total: u64, done: u64) -> Progress {
        #[cfg(feature = "progress")]
        {
            let bar = enabled.then(|| {
                let bar = indicatif::ProgressBar::new(total);
                let style = indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} [{elapsed_precise}] {per_sec} ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
                bar.set_style(style);
                bar.set_position(done);
                bar
            });
            Progress { bar }
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

    /// Shows "waiting for <resource>: N.N s" while every worker waits for quota, else nothing.
    pub(super) fn waiting_for(&self, wait: Option<(String, Duration)>) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            match wait {
                Some((resource, left)) => bar.set_message(format!(
                    "waiting for {resource}: {:.1} s",
                    left.as_secs_f64()
                )),
                None => bar.set_message(""),
            }
        }
        #[cfg(not(feature = "progress"))]
        let _ = wait;
    }

    pub(super) fn finish(&self) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
