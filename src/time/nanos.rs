use std::fmt;
use std::ops::{Add, AddAssign};
use std::time::Duration;

/// A count of nanoseconds: an instant on a [`Clock`](crate::Clock)'s timeline (nanoseconds since
/// the clock's origin) or a span between two such instants.
///
/// Arithmetic saturates: an instant too far in the future to represent becomes [`Nanos::MAX`],
/// which every limiter treats as "never", so extreme rates and debts cannot wrap around. The same
/// holds for `Nanos + Duration` (and `+=`), the usual way to write a deadline:
/// `clock.now() + Duration::from_secs(2)`.
///
/// ```
/// use std::time::Duration;
/// use tollgate::Nanos;
///
/// let t = Nanos::from_millis(1_500);
/// assert_eq!(t.as_duration(), Duration::from_millis(1_500));
/// assert_eq!(t.saturating_sub(Nanos::from_secs(2)), Nanos::ZERO);
/// assert_eq!(Nanos::MAX.saturating_add(t), Nanos::MAX);
/// assert_eq!(t + Duration::from_millis(500), Nanos::from_secs(2));
/// assert_eq!(Nanos::MAX + Duration::from_secs(1), Nanos::MAX); // saturates: still "never"
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Nanos(u64);

impl Nanos {
    /// Zero nanoseconds: the origin of a clock's timeline.
    pub const ZERO: Nanos = Nanos(0);
    /// The largest representable count (about 584 years): "never".
    pub const MAX: Nanos = Nanos(u64::MAX);

    /// `n` nanoseconds.
    pub const fn new(n: u64) -> Nanos {
        Nanos(n)
    }

    /// `ms` milliseconds, saturating at [`Nanos::MAX`].
    pub const fn from_millis(ms: u64) -> Nanos {
        Nanos(ms.saturating_mul(1_000_000))
    }

    /// `s` seconds, saturating at [`Nanos::MAX`].
    pub const fn from_secs(s: u64) -> Nanos {
        Nanos(s.saturating_mul(1_000_000_000))
    }

    /// The count of nanoseconds.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// The same span as a [`Duration`].
    pub const fn as_duration(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// `self + rhs`, or [`Nanos::MAX`] on overflow.
    pub const fn saturating_add(self, rhs: Nanos) -> Nanos {
        Nanos(self.0.saturating_add(rhs.0))
    }

    /// `self - rhs`, or [`Nanos::ZERO`] when `rhs` is later.
    pub const fn saturating_sub(self, rhs: Nanos) -> Nanos {
        Nanos(self.0.saturating_sub(rhs.0))
    }
}

impl From<Duration> for Nanos {
    /// Converts a duration, saturating at [`Nanos::MAX`] (a duration longer than 584 years is
    /// "never").
    fn from(d: Duration) -> Nanos {
        Nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }
}

impl Add<Duration> for Nanos {
    type Output = Nanos;

    /// The instant `rhs` after `self`, saturating at [`Nanos::MAX`] ("never").
    fn add(self, rhs: Duration) -> Nanos {
        self.saturating_add(Nanos::from(rhs))
    }
}

impl AddAssign<Duration> for Nanos {
    /// Moves `self` forward by `rhs`, saturating at [`Nanos::MAX`] ("never").
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl From<Nanos> for Duration {
    fn from(n: Nanos) -> Duration {
        n.as_duration()
    }
}

impl fmt::Debug for Nanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_duration())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_conversion_saturates() {
        assert_eq!(Nanos::from(Duration::MAX), Nanos::MAX);
        assert_eq!(Nanos::from(Duration::from_micros(3)), Nanos::new(3_000));
        assert_eq!(Nanos::from_secs(u64::MAX), Nanos::MAX);
    }
}
