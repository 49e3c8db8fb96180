use std::time::{Duration, SystemTime};

use super::civil_time::parse_http_date;

/// Parses a Go duration, the form OpenAI's `x-ratelimit-reset-*` headers use: a sequence of
/// decimal numbers with units `h`, `m`, `s`, `ms`, `us`/`µs`, `ns`, as in `"1s"`, `"6m0s"`,
/// `"20ms"`, `"2m59.56s"`; a bare `"0"` is zero.
///
/// ```
/// use std::time::Duration;
/// use tollgate::presets::parse_go_duration;
///
/// assert_eq!(parse_go_duration("2m59.56s"), Some(Duration::from_millis(179_560)));
/// assert_eq!(parse_go_duration("6m0s"), Some(Duration::from_secs(360)));
/// assert_eq!(parse_go_duration("-1s"), None);
/// ```
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    const UNITS: [(&str, u128); 8] = [
        ("ns", 1),
        ("us", 1_000),
        ("µs", 1_000),
        ("μs", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
    ];
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = text;
    let mut total: u128 = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_end);
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let unit_nanos = UNITS.iter().find(|(name, _)| *name == unit)?.1;
        total = total.checked_add(decimal_nanos(number, unit_nanos)?)?;
        rest = next;
    }
    nanos_to_duration(total)
}

/// Parses a `retry-after` value: delay seconds (`"120"`, or fractional, `"1.5"`) or an
/// HTTP-date, measured from `now` (a date already past is zero).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use tollgate::presets::parse_retry_after;
///
/// let now = UNIX_EPOCH + Duration::from_secs(784_111_700);
/// assert_eq!(parse_retry_after("1.5", now), Some(Duration::from_millis(1_500)));
/// assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::from_secs(77)));
/// assert_eq!(parse_retry_after("soon", now), None);
/// ```
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Some(nanos) = decimal_nanos(value, 1_000_000_000) {
        return nanos_to_duration(nanos);
    }
    let date = parse_http_date(value)?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses a `retry-after-ms` value: milliseconds, possibly fractional (`"1500"` is 1.5 s).
pub(super) fn parse_retry_after_ms(value: &str) -> Option<Duration> {
    nanos_to_duration(decimal_nanos(value.trim(), 1_000_000)?)
}

/// `digits[.digits]` times `unit_nanos`, exactly (fractions below a nanosecond are dropped).
pub(super) fn decimal_nanos(number: &str, unit_nanos: u128) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut nanos = whole.checked_mul(unit_nanos)?;
    let mut scale = unit_nanos;
    for digit in fraction.bytes() {
        scale /= 10;
        nanos = nanos.checked_add(u128::from(digit - b'0') * scale)?;
    }
    Some(nanos)
}

/// `nanos` as a duration, if it fits one.
pub(super) fn nanos_to_duration(nanos: u128) -> Option<Duration> {
    let seconds = u64::try_from(nanos / 1_000_000_000).ok()?;
    Some(Duration::new(seconds, (nanos % 1_000_000_000) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_from_openai_headers() {
        let cases = [
            ("1s", Duration::from_secs(1)),
            ("6m0s", Duration::from_secs(360)),
            ("20ms", Duration::from_millis(20)),
            ("2m59.56s", Duration::from_millis(179_560)),
            ("1h2m3s", Duration::from_secs(3_723)),
            ("0.5ms", Duration::from_micros(500)),
            ("300µs", Duration::from_micros(300)),
            ("7ns", Duration::from_nanos(7)),
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_go_duration(text), Some(expected), "{text}");
        }
        for bad in [
            "",
            "s",
            "1",
            "1x",
            "1.2.3s",
            "-5s",
            "1s-",
            "nan",
            "inf",
            "1e3s",
            "9999999999999999999999h",
        ] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn retry_after_in_every_form() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(parse_retry_after("37", now), Some(Duration::from_secs(37)));
        assert_eq!(
            parse_retry_after(" 0.25 ", now),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", now),
            Some(Duration::ZERO)
        );
        for bad in ["", "-1", "NaN", "inf", "1e2", "abc"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
        assert_eq!(
            parse_retry_after_ms("1500"),
            Some(Duration::from_millis(1_500))
        );
        assert_eq!(
            parse_retry_after_ms("2.5"),
            Some(Duration::from_micros(2_500))
        );
    }
}
