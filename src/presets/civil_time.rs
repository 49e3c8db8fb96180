use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses an HTTP-date in its preferred form (IMF-fixdate, RFC 9110 §5.6.7), as in `Date` and
/// `retry-after` headers: `"Sun, 06 Nov 1994 08:49:37 GMT"`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use tollgate::presets::parse_http_date;
///
/// let date = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
/// assert_eq!(date, UNIX_EPOCH + Duration::from_secs(784_111_777));
/// assert_eq!(parse_http_date("yesterday"), None);
/// ```
pub fn parse_http_date(text: &str) -> Option<SystemTime> {
    let (_weekday, rest) = text.trim().split_once(", ")?;
    let mut parts = rest.split(' ');
    let day: u32 = parts.next()?.parse().ok()?;
    let month = month_number(parts.next()?)?;
    let year: i64 = parts.next()?.parse().ok()?;
    let (hour, minute, second) = parse_clock(parts.next()?)?;
    if parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    to_system_time(year, month, day, hour, minute, second, 0, 0)
}

/// Parses an RFC 3339 timestamp, as in Anthropic's reset headers:
/// `"2024-05-01T12:00:30Z"`, `"2024-05-01T12:00:30.25+02:00"`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use tollgate::presets::parse_rfc3339;
///
/// let reset = parse_rfc3339("1970-01-01T00:01:00.5Z").unwrap();
/// assert_eq!(reset, UNIX_EPOCH + Duration::from_millis(60_500));
/// assert_eq!(parse_rfc3339("1970-01-01T01:00:00+01:00"), Some(UNIX_EPOCH));
/// ```
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let (date, time) = text.split_once(['T', 't', ' '])?;
    let mut date_parts = date.split('-');
    let year: i64 = fixed_digits(date_parts.next()?, 4)?;
    let month: u32 = fixed_digits(date_parts.next()?, 2)?;
    let day: u32 = fixed_digits(date_parts.next()?, 2)?;
    if date_parts.next().is_some() {
        return None;
    }
    let (clock, offset_seconds) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else {
        let sign_at = time.rfind(['+', '-'])?;
        let (clock, offset) = time.split_at(sign_at);
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let (hours, minutes) = offset[1..].split_once(':')?;
        let offset: i64 =
            fixed_digits::<i64>(hours, 2)? * 3_600 + fixed_digits::<i64>(minutes, 2)? * 60;
        (clock, sign * offset)
    };
    let (whole, fraction) = match clock.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (clock, ""),
    };
    let (hour, minute, second) = parse_clock(whole)?;
    let nanos = fraction_nanos(fraction)?;
    to_system_time(
        year,
        month,
        day,
        hour,
        minute,
        second,
        nanos,
        offset_seconds,
    )
}

fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS
        .iter()
        .position(|month| *month == name)
        .map(|index| index as u32 + 1)
}

/// `"HH:MM:SS"`.
fn parse_clock(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.split(':');
    let hour = fixed_digits(parts.next()?, 2)?;
    let minute = fixed_digits(parts.next()?, 2)?;
    let second = fixed_digits(parts.next()?, 2)?;
    if parts.next().is_some() {
        return None;
    }
    Some((hour, minute, second))
}

/// A number of exactly `width` ASCII digits.
fn fixed_digits<N: std::str::FromStr>(text: &str, width: usize) -> Option<N> {
    (text.len() == width && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// Nanoseconds from the digits after a decimal point (at most 9 count).
fn fraction_nanos(digits: &str) -> Option<u32> {
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let kept = &digits[..digits.len().min(9)];
    let padded = format!("{kept:0<9}");
    padded.parse().ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[allow(clippy::too_many_arguments)]
fn to_system_time(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    offset_seconds: i64,
) -> Option<SystemTime> {
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=days_in_month).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
        || !(1..=9999).contains(&year)
    {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400
        + i64::from(hour) * 3_600
        + i64::from(minute) * 60
        + i64::from(second)
        - offset_seconds;
    let since_epoch = Duration::new(u64::try_from(seconds).ok()?, nanos);
    UNIX_EPOCH.checked_add(since_epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(unix(0))
        );
        assert_eq!(
            parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(unix(1_445_412_480))
        );
        assert_eq!(
            parse_http_date("Thu, 29 Feb 2024 23:59:59 GMT"),
            Some(unix(1_709_251_199))
        );
        for bad in [
            "",
            "Wed, 21 Oct 2015 07:28:00",
            "Wed, 32 Oct 2015 07:28:00 GMT",
            "Wed, 21 Foo 2015 07:28:00 GMT",
            "Fri, 29 Feb 2023 00:00:00 GMT",
            "Wed, 21 Oct 2015 24:00:00 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc3339_timestamps() {
        assert_eq!(
            parse_rfc3339("2015-10-21T07:28:00Z"),
            Some(unix(1_445_412_480))
        );
        assert_eq!(
            parse_rfc3339("2015-10-21T09:28:00+02:00"),
            Some(unix(1_445_412_480))
        );
        assert_eq!(
            parse_rfc3339("2015-10-21T05:28:00-02:00"),
            Some(unix(1_445_412_480))
        );
        assert_eq!(
            parse_rfc3339("2015-10-21T07:28:00.123456789123Z"),
            Some(unix(1_445_412_480) + Duration::from_nanos(123_456_789))
        );
        for bad in [
            "",
            "2015-10-21",
            "2015-10-21T07:28Z",
            "2015-13-01T00:00:00Z",
            "2015-10-21T07:28:00",
            "2015-10-21T07:28:00.x1Z",
            "１９７０-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
