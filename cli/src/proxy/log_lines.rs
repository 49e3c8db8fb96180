//! The proxy's log: one line per request at `info`, problems at `warn` and `error`, the
//! library's own events (quotas learnt, server pauses) at theirs; to stderr, through the `log`
//! facade, filtered by `--log LEVEL` or `RUST_LOG` as env_logger reads it (a bare level, or
//! `tollgate=LEVEL`). Only tollgate's own records are written, whose lines never hold a header
//! or a query string.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use log::{LevelFilter, Log, Metadata, Record};

/// The most detailed level written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogLevel(LevelFilter);

impl Default for LogLevel {
    /// `info`: a line per request.
    fn default() -> LogLevel {
        LogLevel(LevelFilter::Info)
    }
}

impl LogLevel {
    /// `off`, `error`, `warn`, `info`, `debug` or `trace` (any case).
    pub fn parse(text: &str) -> Option<LogLevel> {
        text.trim().parse::<LevelFilter>().ok().map(LogLevel)
    }

    /// The level `RUST_LOG` gives tollgate: its directive for a `tollgate` target, else its bare
    /// level, else `info`.
    pub fn from_environment() -> LogLevel {
        std::env::var("RUST_LOG")
            .ok()
            .and_then(|directives| LogLevel::from_directives(&directives))
            .unwrap_or_default()
    }

    /// The level env_logger-style `directives` (`"warn,tollgate=debug"`) give tollgate.
    fn from_directives(directives: &str) -> Option<LogLevel> {
        let mut bare = None;
        let mut ours = None;
        for directive in directives.split(',') {
            match directive.split_once('=') {
                Some((target, level)) if target.trim().starts_with("tollgate") => {
                    ours = LogLevel::parse(level).or(ours);
                }
                Some(_) => {}
                None => bare = LogLevel::parse(directive).or(bare),
            }
        }
        ours.or(bare)
    }

    /// Installs the stderr log at this level for the rest of the process (once; later calls
    /// keep the first).
    pub fn install(self) {
        static STDERR_LOG: StderrLog = StderrLog;
        if log::set_logger(&STDERR_LOG).is_ok() {
            log::set_max_level(self.0);
        }
    }
}

/// Writes each record as one line: `2026-12-07T05:40:01.123Z INFO  tollgate::proxy: ...`.
struct StderrLog;

impl Log for StderrLog {
    /// tollgate's records only: a dependency's (ureq's debug lines name the upstream URL with
    /// its query, which may hold a key) never.
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level() && metadata.target().starts_with("tollgate")
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format!(
            "{} {:<5} {}: {}\n",
            utc_now(),
            record.level(),
            record.target(),
            record.args()
        );
        // One write per line: lines of concurrent requests never interleave.
        std::io::stderr().lock().write_all(line.as_bytes()).ok();
    }

    fn flush(&self) {}
}

/// Now, as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn utc_now() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = since.as_secs();
    let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        second_of_day / 3_600,
        second_of_day / 60 % 60,
        second_of_day % 60,
        since.subsec_millis()
    )
}

/// The civil date of a day counted from 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_directives_for_tollgate_win_over_the_bare_level() {
        let level = |text: &str| LogLevel::from_directives(text).map(|level| level.0);
        assert_eq!(level("debug"), Some(LevelFilter::Debug));
        assert_eq!(level("warn,tollgate=trace"), Some(LevelFilter::Trace));
        assert_eq!(level("tollgate_cli=off,info"), Some(LevelFilter::Off));
        assert_eq!(level("hyper=debug"), None);
        assert_eq!(level("nonsense"), None);
    }

    #[test]
    fn days_become_civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_429), (2025, 12, 7));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
