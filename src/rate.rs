//! [`Rate`]: a quantity per period with a burst capacity, and its validation.

use std::error::Error;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The longest span any limiter plans with: burst × emission interval, and a rate's period, must
/// stay below it (about 146 years), so that instants computed from them cannot overflow.
const MAX_SPAN_NANOS: u128 = 1 << 62;

/// A sustained rate (`quantity` per `period`) and a burst capacity (default: `quantity`, the
/// whole period's allowance at once).
///
/// The bucket algorithms admit one unit every *emission interval* `period / quantity`, rounded
/// **up** to whole nanoseconds so the limit is never exceeded (the slowdown is below one part in
/// the interval's nanoseconds: under 0.1 % for anything slower than a million per second), and
/// hold up to `burst` units at once.
///
/// Constructing a `Rate` never fails; an impossible one (zero quantity, zero or absurd period,
/// burst 0, an interval that rounds to 0 ns, burst × interval beyond 146 years) is reported as a
/// [`RateError`] by [`Rate::validate`], by parsing, and by every limiter that is given it.
///
/// Rates parse from and print as `"quantity/period"`, with an optional burst:
///
/// ```
/// use std::time::Duration;
/// use tollgate::Rate;
///
/// let rate: Rate = "3500/min".parse()?;
/// assert_eq!(rate, Rate::per_minute(3_500));
/// assert_eq!("40/10s".parse::<Rate>()?, Rate::new(40, Duration::from_secs(10)));
/// assert_eq!(Rate::per_second(10).burst(5).to_string(), "10/s, burst 5");
/// assert_eq!("10/s, burst 5".parse::<Rate>()?, Rate::per_second(10).burst(5));
/// assert!("0/s".parse::<Rate>().is_err());
/// # Ok::<(), tollgate::RateError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    quantity: u64,
    period: Duration,
    burst: Option<u64>,
}

/// A [`Rate`] reduced to what the algorithms compute with: validated integers (see
/// [`Rate::pace`]).
///
/// ```
/// use tollgate::Rate;
///
/// let pace = "3/1500ms".parse::<Rate>()?.pace()?;
/// assert_eq!(pace.interval(), 500_000_000);
/// assert_eq!(pace.burst(), 3);
/// # Ok::<(), tollgate::RateError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pace {
    /// The emission interval `T`: nanoseconds per unit, rounded up.
    pub(crate) interval: u64,
    /// The burst capacity `B` in units.
    pub(crate) burst: u64,
    /// The quantity per period, for windowed counting.
    pub(crate) quantity: u64,
    /// The period in nanoseconds.
    pub(crate) period: u64,
}

impl Pace {
    /// The emission interval `T`: nanoseconds per unit, `period / quantity` rounded up.
    pub fn interval(&self) -> u64 {
        self.interval
    }

    /// The burst capacity in units.
    pub fn burst(&self) -> u64 {
        self.burst
    }

    /// The quantity per period.
    pub fn quantity(&self) -> u64 {
        self.quantity
    }

    /// The period in nanoseconds.
    pub fn period(&self) -> u64 {
        self.period
    }

    /// `units × T` in nanoseconds, saturating.
    pub(crate) fn span_of(&self, units: u64) -> u64 {
        units.saturating_mul(self.interval)
    }

    /// `B × T`: the nanoseconds of backlog a full burst represents.
    pub(crate) fn capacity_span(&self) -> u64 {
        self.burst * self.interval
    }
}

impl Rate {
    /// `quantity` units per `period`, burst `quantity`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::Rate;
    ///
    /// let rate = Rate::new(4, Duration::from_secs(2));
    /// assert_eq!(rate.to_string(), "4/2s");
    /// ```
    pub const fn new(quantity: u64, period: Duration) -> Rate {
        Rate {
            quantity,
            period,
            burst: None,
        }
    }

    /// `quantity` units per second.
    ///
    /// ```
    /// assert_eq!(tollgate::Rate::per_second(10).to_string(), "10/s");
    /// ```
    pub const fn per_second(quantity: u64) -> Rate {
        Rate::new(quantity, Duration::from_secs(1))
    }

    /// `quantity` units per minute.
    ///
    /// ```
    /// assert_eq!(tollgate::Rate::per_minute(3_500).to_string(), "3500/min");
    /// ```
    pub const fn per_minute(quantity: u64) -> Rate {
        Rate::new(quantity, Duration::from_secs(60))
    }

    /// `quantity` units per hour.
    ///
    /// ```
    /// assert_eq!(tollgate::Rate::per_hour(100).to_string(), "100/h");
    /// ```
    pub const fn per_hour(quantity: u64) -> Rate {
        Rate::new(quantity, Duration::from_secs(3_600))
    }

    /// `quantity` units per day (24 hours; `"10/d"` parses to the same rate).
    ///
    /// ```
    /// use tollgate::Rate;
    ///
    /// assert_eq!(Rate::per_day(1_500), "1500/d".parse()?);
    /// assert_eq!(Rate::per_day(1_500).to_string(), "1500/24h");
    /// # Ok::<(), tollgate::RateError>(())
    /// ```
    pub const fn per_day(quantity: u64) -> Rate {
        Rate::new(quantity, Duration::from_secs(86_400))
    }

    /// The same rate with burst capacity `burst`: **at most `burst` at once, `quantity` per
    /// period** (the largest cost one request may have is `burst`).
    ///
    /// That is the one meaning of a burst wherever a `Rate` is accepted:
    /// - a [`RateLimiter`](crate::RateLimiter) with a bucket algorithm (GCRA, token or leaky
    ///   bucket) and a rate resource of [`Limits`](crate::Limits) counted with GCRA hold up to
    ///   `burst` units and refill one every `period / quantity`;
    /// - an exact window of [`Limits::window`](crate::Limits::window) or a Runner
    ///   [`Resource`](crate::Resource) (which count exact windows by default) counts at most
    ///   `quantity` in any window of one period **and** paces the calls with GCRA at
    ///   `quantity / period` with burst `burst` when the burst is below the quantity: both must
    ///   pass, so `Rate::per_second(20).burst(1)` is one call every 50 ms, 20 per second;
    /// - where an algorithm cannot mean it, construction is a [`RateError::BurstOnWindow`]
    ///   saying what to write instead: a bare
    ///   [`RateLimiter::sliding_window`](crate::RateLimiter::sliding_window) with any burst
    ///   other than the quantity, and an exact window with a burst above the quantity (a window
    ///   of `quantity` per period never lets more than `quantity` go at once).
    ///
    /// ```
    /// use tollgate::{Clock, Limits, MultiLimiter, Nanos, Rate};
    ///
    /// let smooth = Rate::per_minute(600).burst(1); // one every 100 ms, no bursts
    /// assert_eq!(smooth.capacity(), 1);
    ///
    /// // The same meaning on an exact window: 600 per minute, one every 100 ms.
    /// let (clock, time) = Clock::mock();
    /// let api = MultiLimiter::new(Limits::new().window("calls", smooth))?.with_clock(clock);
    /// for _ in 0..3 {
    ///     let _permit = api.acquire(&[("calls", 1)])?;
    /// }
    /// assert_eq!(time.now(), Nanos::from_millis(200));
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    pub const fn burst(self, burst: u64) -> Rate {
        // A burst equal to the quantity is the default: stored as such, so equal rates compare
        // equal however they were written.
        Rate {
            burst: if burst == self.quantity {
                None
            } else {
                Some(burst)
            },
            ..self
        }
    }

    /// The quantity per period.
    pub const fn quantity(&self) -> u64 {
        self.quantity
    }

    /// The period.
    pub const fn period(&self) -> Duration {
        self.period
    }

    /// The burst capacity: the value given to [`Rate::burst`], else the quantity.
    pub const fn capacity(&self) -> u64 {
        match self.burst {
            Some(burst) => burst,
            None => self.quantity,
        }
    }

    /// Checks that this rate can be enforced exactly.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::{Rate, RateError};
    ///
    /// assert!(Rate::per_second(10).validate().is_ok());
    /// assert!(matches!(Rate::per_second(0).validate(), Err(RateError::ZeroQuantity)));
    /// assert!(matches!(Rate::per_second(5).burst(0).validate(), Err(RateError::ZeroBurst)));
    /// assert!(matches!(
    ///     Rate::new(3, Duration::from_nanos(2)).validate(),
    ///     Err(RateError::TooFast { .. })
    /// ));
    /// ```
    pub fn validate(&self) -> Result<(), RateError> {
        self.pace().map(|_| ())
    }

    /// This rate as validated integers, or why it cannot be enforced.
    pub fn pace(&self) -> Result<Pace, RateError> {
        let period = self.period.as_nanos();
        if self.quantity == 0 {
            return Err(RateError::ZeroQuantity);
        }
        if period == 0 {
            return Err(RateError::ZeroPeriod);
        }
        if period >= MAX_SPAN_NANOS {
            return Err(RateError::TooLong { rate: *self });
        }
        let burst = self.capacity();
        if burst == 0 {
            return Err(RateError::ZeroBurst);
        }
        let quantity = u128::from(self.quantity);
        if period / quantity == 0 {
            return Err(RateError::TooFast { rate: *self });
        }
        let interval = period.div_ceil(quantity);
        if interval * u128::from(burst) >= MAX_SPAN_NANOS {
            return Err(RateError::TooLong { rate: *self });
        }
        // Both fit: each is below 2^62.
        Ok(Pace {
            interval: interval as u64,
            burst,
            quantity: self.quantity,
            period: period as u64,
        })
    }
}

impl fmt::Debug for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rate({self})")
    }
}

/// Units for printing and parsing periods, largest first: (suffix, nanoseconds).
const UNITS: [(&str, u128); 6] = [
    ("h", 3_600_000_000_000),
    ("min", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

/// Further spellings accepted when parsing.
const UNIT_ALIASES: [(&str, u128); 9] = [
    ("d", 86_400_000_000_000),
    ("day", 86_400_000_000_000),
    ("hr", 3_600_000_000_000),
    ("hour", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("sec", 1_000_000_000),
    ("second", 1_000_000_000),
    ("minute", 60_000_000_000),
    ("µs", 1_000),
];

impl fmt::Display for Rate {
    /// `"10/s"`, `"3500/min"`, `"40/10s"`, `"1/2h"`; `", burst B"` is added when the burst differs
    /// from the quantity. The output parses back to the same `Rate`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let period = self.period.as_nanos();
        write!(f, "{}/", self.quantity)?;
        match UNITS
            .iter()
            .find(|(_, unit)| period != 0 && period % unit == 0)
        {
            Some((suffix, unit)) if period == *unit => write!(f, "{suffix}")?,
            Some((suffix, unit)) => write!(f, "{}{suffix}", period / unit)?,
            None => write!(f, "0s")?,
        }
        match self.burst {
            Some(burst) if burst != self.quantity => write!(f, ", burst {burst}"),
            _ => Ok(()),
        }
    }
}

impl FromStr for Rate {
    type Err = RateError;

    /// Parses `"<quantity>/<period>[, burst <n>]"`: the period is an optional whole number and a
    /// unit (`ns`, `us`, `ms`, `s`, `m`/`min`, `h`, `d`), as in `"10/s"`, `"5/500ms"`,
    /// `"1/2h"`. The rate is validated as by [`Rate::validate`].
    fn from_str(input: &str) -> Result<Rate, RateError> {
        let malformed = |reason: &'static str| RateError::Malformed {
            input: input.to_owned(),
            reason,
        };
        let (rate_part, burst_part) = match input.split_once(',') {
            Some((rate, burst)) => (rate, Some(burst)),
            None => (input, None),
        };
        if rate_part.contains("burst") {
            return Err(malformed(
                "put the burst after a comma, as in `10/s, burst 5`",
            ));
        }
        let (quantity, period) = rate_part
            .split_once('/')
            .ok_or_else(|| malformed("expected `quantity/period`, as in `10/s`"))?;
        let quantity =
            parse_count(quantity).ok_or_else(|| malformed("quantity is not a whole number"))?;
        let period = period.trim();
        let digits = period
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(period.len());
        let (count, unit) = period.split_at(digits);
        let count: u128 = match count {
            "" => 1,
            count => count
                .parse()
                .map_err(|_| malformed("period count is too large"))?,
        };
        let unit_nanos = UNITS
            .iter()
            .chain(UNIT_ALIASES.iter())
            .find(|(suffix, _)| *suffix == unit.trim())
            .map(|(_, nanos)| *nanos)
            .ok_or_else(|| malformed("unknown period unit; use ns, us, ms, s, min, h or d"))?;
        let period_nanos = count
            .checked_mul(unit_nanos)
            .filter(|n| *n < MAX_SPAN_NANOS)
            .ok_or_else(|| malformed("period is longer than 146 years"))?;
        let mut rate = Rate::new(quantity, Duration::from_nanos(period_nanos as u64));
        if let Some(burst) = burst_part {
            let burst = burst
                .trim()
                .strip_prefix("burst")
                .and_then(parse_count)
                .ok_or_else(|| malformed("expected `, burst <whole number>` after the rate"))?;
            rate = rate.burst(burst);
        }
        rate.validate()?;
        Ok(rate)
    }
}

/// A whole number, allowing `_` separators and surrounding spaces.
fn parse_count(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() || text.starts_with('_') {
        return None;
    }
    text.replace('_', "").parse().ok()
}

/// Why a [`Rate`] cannot be enforced.
///
/// ```
/// use tollgate::{Rate, RateError};
///
/// let err = "0/s".parse::<Rate>().unwrap_err();
/// assert!(matches!(err, RateError::ZeroQuantity));
/// assert!(err.to_string().contains("quantity"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RateError {
    /// The quantity per period is 0: nothing would ever be admitted.
    ZeroQuantity,
    /// The period is 0.
    ZeroPeriod,
    /// The burst capacity is 0: no request could ever fit.
    ZeroBurst,
    /// More than one unit per nanosecond: the emission interval rounds to 0 ns.
    TooFast {
        /// The offending rate.
        rate: Rate,
    },
    /// The period, or burst × emission interval, is longer than 146 years.
    TooLong {
        /// The offending rate.
        rate: Rate,
    },
    /// A burst an exact sliding window cannot mean: any burst other than the quantity on a bare
    /// [`SlidingWindow`](crate::algorithm::SlidingWindow) (it has no pacing of its own), or a
    /// burst above the quantity on any exact window (it never lets more than the quantity go
    /// at once). See [`Rate::burst`] for the one meaning of a burst.
    BurstOnWindow {
        /// The offending rate.
        rate: Rate,
    },
    /// Text that is not a rate.
    Malformed {
        /// The text given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for RateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateError::ZeroQuantity => {
                f.write_str("rate quantity is 0: nothing would ever be admitted; give at least 1 per period")
            }
            RateError::ZeroPeriod => f.write_str("rate period is 0; give a period of at least 1 ns"),
            RateError::ZeroBurst => {
                f.write_str("burst is 0: no request could ever fit; give a burst of at least 1")
            }
            RateError::TooFast { rate } => write!(
                f,
                "rate {rate} is faster than 1 per nanosecond; use a longer period or a smaller quantity"
            ),
            RateError::TooLong { rate } => write!(
                f,
                "rate {rate} spans more than 146 years (period, or burst x interval); use a shorter period or a smaller burst"
            ),
            RateError::BurstOnWindow { rate } if rate.capacity() > rate.quantity() => write!(
                f,
                "rate {rate}: an exact window of {} per {:?} never lets more than {} go at once, so \
                 a burst of {} cannot be honoured; count it with GCRA (Limits::rate, \
                 Resource::smoothed, RateLimiter::new) or raise the quantity",
                rate.quantity(),
                rate.period(),
                rate.quantity(),
                rate.capacity()
            ),
            RateError::BurstOnWindow { rate } => write!(
                f,
                "rate {rate}: a bare sliding window counts {} per {:?} and cannot also cap a burst \
                 at {}; use Limits::window (a window paced with GCRA, burst {}), or \
                 RateLimiter::new (GCRA), or drop the burst: {}",
                rate.quantity(),
                rate.period(),
                rate.capacity(),
                rate.capacity(),
                Rate::new(rate.quantity(), rate.period())
            ),
            RateError::Malformed { input, reason } => {
                write!(f, "cannot parse rate {input:?}: {reason}")
            }
        }
    }
}

impl Error for RateError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let cases = [
            ("10/s", Rate::per_second(10)),
            ("3500/min", Rate::per_minute(3_500)),
            ("3_500 / m", Rate::per_minute(3_500)),
            ("40/10s", Rate::new(40, Duration::from_secs(10))),
            ("5/500ms", Rate::new(5, Duration::from_millis(500))),
            ("1/2h", Rate::new(1, Duration::from_secs(7_200))),
            ("1/d", Rate::new(1, Duration::from_secs(86_400))),
            ("7/s, burst 2", Rate::per_second(7).burst(2)),
        ];
        for (text, rate) in cases {
            assert_eq!(text.parse::<Rate>(), Ok(rate), "{text}");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "10/s",
            "3500/min",
            "40/10s",
            "5/500ms",
            "1/2h",
            "9/90s",
            "3/7ns",
            "2/s, burst 9",
        ] {
            let rate: Rate = text.parse().unwrap();
            assert_eq!(rate.to_string(), text);
            assert_eq!(rate.to_string().parse::<Rate>(), Ok(rate));
        }
    }

    #[test]
    fn a_burst_equal_to_the_quantity_is_the_same_rate() {
        let explicit = Rate::per_second(10).burst(10);
        assert_eq!(explicit, Rate::per_second(10));
        assert_eq!(explicit.to_string().parse::<Rate>(), Ok(explicit));
        assert_eq!("10/s, burst 10".parse::<Rate>(), Ok(Rate::per_second(10)));
    }

    #[test]
    fn a_burst_without_a_comma_says_where_it_goes() {
        let err = "10/s burst 5".parse::<Rate>().unwrap_err();
        assert!(err.to_string().contains("`10/s, burst 5`"), "{err}");
    }

    #[test]
    fn rejects_bad_text_with_a_reason() {
        for text in [
            "",
            "10",
            "x/s",
            "10/",
            "10/fortnight",
            "10/s, burst",
            "-1/s",
            "10/99999999999999999999999h",
        ] {
            assert!(
                matches!(text.parse::<Rate>(), Err(RateError::Malformed { .. })),
                "{text}"
            );
        }
        assert_eq!("0/s".parse::<Rate>(), Err(RateError::ZeroQuantity));
        assert_eq!("1/0s".parse::<Rate>(), Err(RateError::ZeroPeriod));
        assert_eq!("1/s, burst 0".parse::<Rate>(), Err(RateError::ZeroBurst));
    }

    #[test]
    fn validation_names_each_problem() {
        assert_eq!(
            Rate::new(5, Duration::ZERO).validate(),
            Err(RateError::ZeroPeriod)
        );
        let too_fast = Rate::new(2_000_000_001, Duration::from_secs(1));
        assert!(matches!(
            too_fast.validate(),
            Err(RateError::TooFast { .. })
        ));
        let too_long = Rate::new(1, Duration::from_secs(200 * 365 * 86_400));
        assert!(matches!(
            too_long.validate(),
            Err(RateError::TooLong { .. })
        ));
        let huge_burst = Rate::per_hour(1).burst(u64::MAX);
        assert!(matches!(
            huge_burst.validate(),
            Err(RateError::TooLong { .. })
        ));
        assert!(Rate::new(1_000_000_000, Duration::from_secs(1))
            .validate()
            .is_ok());
    }

    #[test]
    fn interval_rounds_up_so_the_rate_is_never_exceeded() {
        let pace = Rate::per_minute(3_500).pace().unwrap();
        assert_eq!(pace.interval, 17_142_858);
        assert!(u128::from(pace.interval) * 3_500 >= 60_000_000_000);
    }
}
