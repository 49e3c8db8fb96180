//! Durations on the command line: `90s`, `2m`, `1.5s`, `500ms`, `1h`; a bare number is seconds.

use std::time::Duration;

/// Parses a positive duration: a number (fractions allowed) followed by `ms`, `s`, `m` or `h`,
/// or by nothing (seconds).
///
/// # Errors
/// A message saying what to write instead, for clap to print.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let seconds_per_unit = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3_600.0,
        other => {
            return Err(format!(
                "unknown unit \"{other}\"; write a duration such as 90s, 2m, 500ms or 1h"
            ))
        }
    };
    let number: f64 = number
        .parse()
        .map_err(|_| format!("\"{text}\" is not a duration; write one such as 90s, 2m or 500ms"))?;
    Duration::try_from_secs_f64(number * seconds_per_unit)
        .ok()
        .filter(|duration| !duration.is_zero())
        .ok_or_else(|| format!("\"{text}\" is not a positive duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_bare_seconds() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1_500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3_600)));
    }

    #[test]
    fn nonsense_zero_and_negative_are_refused() {
        for bad in ["", "s", "0", "0s", "-1s", "ten", "5 days", "1e3", "1..2s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
