use std::any::TypeId;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use crate::algorithm::{Algorithm, GcraVirtual, SlidingWindow};
use crate::reservation::Meter;
use crate::{Rate, RateError, WaitPrecision};

/// The longest a caller waits for a server's hold unless told otherwise: a hold further away
/// fails the call at once (the same default as a Runner's longest retry-after).
pub const DEFAULT_MAX_HOLD: Duration = Duration::from_secs(120);

/// The resource [`Limits::rpm`] limits: requests. Every limiter and the Runner count **one
/// request per call** unless the call's costs name `"requests"` (a
/// [`MultiLimiter`](crate::MultiLimiter) or [`ModelLimiter`](crate::ModelLimiter) call whose
/// costs do not name it; a Runner [`Resource`](crate::Resource) named `"requests"` without
/// [`per_job`](crate::Resource::per_job)).
pub const REQUESTS: &str = "requests";
/// The resource [`Limits::tpm`] limits: tokens, input and output together.
pub const TOKENS: &str = "tokens";
/// The resource [`Limits::input_tpm`] limits: input (prompt) tokens.
pub const INPUT_TOKENS: &str = "input_tokens";
/// The resource [`Limits::output_tpm`] limits: output (completion) tokens.
pub const OUTPUT_TOKENS: &str = "output_tokens";

/// How a rate resource counts: which [`Algorithm`] meters it.
///
/// The two built-in choices are variants of their own; any other algorithm, the crate's or
/// yours, is [`Counting::with`] (which gives the built-in variant for a built-in algorithm, so
/// `Counting::with::<GcraVirtual>() == Counting::Gcra`).
///
/// ```
/// use tollgate::algorithm::{GcraVirtual, SlidingWindow, TokenBucket};
/// use tollgate::Counting;
///
/// assert_eq!(Counting::with::<GcraVirtual>(), Counting::Gcra);
/// assert_eq!(Counting::with::<SlidingWindow>(), Counting::SlidingWindow);
/// assert!(matches!(Counting::with::<TokenBucket>(), Counting::Algorithm(_)));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Counting {
    /// GCRA ([`GcraVirtual`]): the quota spread evenly over the period, with the burst at once
    /// (the default).
    #[default]
    Gcra,
    /// An exact sliding window of one period ([`SlidingWindow`]), as providers that count a
    /// strict window do, paced with GCRA when the rate's burst is below its quantity
    /// ([`Limits::window`]).
    SlidingWindow,
    /// Any other algorithm: [`Counting::with`].
    Algorithm(OtherAlgorithm),
}

impl Counting {
    /// Counting with algorithm `A`: the limiter builds one `A` per resource from its rate
    /// ([`Algorithm::new`], whose error the limiter reports naming the resource).
    pub fn with<A: Algorithm>() -> Counting {
        let id = TypeId::of::<A>();
        if id == TypeId::of::<GcraVirtual>() {
            Counting::Gcra
        } else if id == TypeId::of::<SlidingWindow>() {
            Counting::SlidingWindow
        } else {
            Counting::Algorithm(OtherAlgorithm {
                id,
                name: std::any::type_name::<A>(),
                meter: Meter::of::<A>,
            })
        }
    }

    /// The meter counting `rate` this way (a window's pacing aside: see
    /// [`MultiLimiter`](crate::MultiLimiter)'s construction).
    pub(crate) fn meter(self, rate: &Rate) -> Result<Meter, RateError> {
        match self {
            Counting::Gcra => Meter::of::<GcraVirtual>(rate),
            Counting::SlidingWindow => Meter::of::<SlidingWindow>(rate),
            Counting::Algorithm(other) => (other.meter)(rate),
        }
    }
}

/// An algorithm other than the built-in choices, as [`Counting::with`] names it: compared by
/// type, shown by type name.
///
/// ```
/// use tollgate::algorithm::TokenBucket;
/// use tollgate::Counting;
///
/// let Counting::Algorithm(bucket) = Counting::with::<TokenBucket>() else { unreachable!() };
/// assert_eq!(bucket.name(), "tollgate::algorithm::token_bucket::TokenBucket");
/// ```
#[derive(Clone, Copy)]
pub struct OtherAlgorithm {
    id: TypeId,
    name: &'static str,
    meter: fn(&Rate) -> Result<Meter, RateError>,
}

impl OtherAlgorithm {
    /// The algorithm's type name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl PartialEq for OtherAlgorithm {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for OtherAlgorithm {}

impl Hash for OtherAlgorithm {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl fmt::Debug for OtherAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// What one API allows: named rate resources and a concurrency limit.
///
/// Every rate means "at most `burst` at once, `quantity` per period" ([`Rate::burst`]),
/// whichever way it is counted ([`Counting`]).
///
/// The well-known names are `"requests"` ([`rpm`](Self::rpm)), `"tokens"` ([`tpm`](Self::tpm)),
/// `"input_tokens"` and `"output_tokens"`; any other name can be added with
/// [`rate`](Self::rate), [`window`](Self::window) or [`rate_with`](Self::rate_with) (any
/// [`Algorithm`], yours included).
///
/// ```
/// use tollgate::algorithm::TokenBucket;
/// use tollgate::{Counting, Limits, Rate};
///
/// let openai = Limits::new().rpm(500).tpm(40_000).max_parallel(10);
/// let strict = Limits::new().rpm(50).input_tpm(20_000).output_tpm(8_000).counting(Counting::SlidingWindow);
/// let custom = Limits::new().rate("credits", Rate::per_second(40)).window("uploads", Rate::per_hour(100));
/// let bucket = Limits::new().rate_with::<TokenBucket>("credits", Rate::per_second(40));
/// # let _ = (openai, strict, custom, bucket);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Limits {
    pub(crate) resources: Vec<ResourceLimit>,
    pub(crate) max_parallel: Option<u64>,
    pub(crate) max_hold: Duration,
    /// The setting that set `max_hold`, named in [`LimitError::HeldTooLong`](crate::LimitError).
    pub(crate) max_hold_setting: &'static str,
    pub(crate) precision: WaitPrecision,
    pub(crate) counting: Counting,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ResourceLimit {
    pub(crate) name: String,
    pub(crate) rate: Rate,
    /// `None`: the limits' default counting.
    pub(crate) counting: Option<Counting>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            resources: Vec::new(),
            max_parallel: None,
            max_hold: DEFAULT_MAX_HOLD,
            max_hold_setting: "Limits::max_hold",
            precision: WaitPrecision::default(),
            counting: Counting::default(),
        }
    }
}

impl Limits {
    /// No limits yet.
    pub fn new() -> Limits {
        Limits::default()
    }

    /// Requests per minute (resource `"requests"`, one per call).
    pub fn rpm(self, requests: u64) -> Limits {
        self.with(REQUESTS, Rate::per_minute(requests), None)
    }

    /// Tokens per minute (resource `"tokens"`).
    pub fn tpm(self, tokens: u64) -> Limits {
        self.with(TOKENS, Rate::per_minute(tokens), None)
    }

    /// Input tokens per minute (resource `"input_tokens"`).
    pub fn input_tpm(self, tokens: u64) -> Limits {
        self.with(INPUT_TOKENS, Rate::per_minute(tokens), None)
    }

    /// Output tokens per minute (resource `"output_tokens"`).
    pub fn output_tpm(self, tokens: u64) -> Limits {
        self.with(OUTPUT_TOKENS, Rate::per_minute(tokens), None)
    }

    /// How a waiting call sleeps until its instant ([`WaitPrecision::Sleep`] by default;
    /// [`WaitPrecision::Precise`] wakes within microseconds).
    ///
    /// ```
    /// use tollgate::{Limits, MultiLimiter, WaitPrecision};
    ///
    /// let api = MultiLimiter::new(Limits::new().rpm(600).wait_precision(WaitPrecision::Precise))?;
    /// let _permit = api.acquire(&[("requests", 1)])?;
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    pub fn wait_precision(mut self, precision: WaitPrecision) -> Limits {
        self.precision = precision;
        self
    }

    /// The longest a call may wait for a server's hold (`observe` with nothing remaining until
    /// a reset); a call that would wait longer fails at once with
    /// [`LimitError::HeldTooLong`](crate::LimitError::HeldTooLong). Default
    /// [`DEFAULT_MAX_HOLD`](crate::DEFAULT_MAX_HOLD) (120 s).
    pub fn max_hold(mut self, max: Duration) -> Limits {
        self.max_hold = max;
        self
    }

    /// [`max_hold`](Self::max_hold) as set by `setting` (the Runner's
    /// `Retry::max_retry_after`), which errors then name.
    pub(crate) fn max_hold_set_by(mut self, max: Duration, setting: &'static str) -> Limits {
        self.max_hold = max;
        self.max_hold_setting = setting;
        self
    }

    /// At most `calls` at once (each permit holds one slot until dropped; default: unlimited).
    pub fn max_parallel(mut self, calls: u64) -> Limits {
        self.max_parallel = Some(calls);
        self
    }

    /// A rate resource named `name`, counted the limits' default way.
    pub fn rate(self, name: impl Into<String>, rate: Rate) -> Limits {
        self.with(name, rate, None)
    }

    /// A rate resource named `name`, counted as an exact sliding window of the rate's period:
    /// at most `quantity` in any window, and, when the rate's burst is below its quantity, at
    /// most `burst` at once (GCRA pacing at `quantity / period`; both must pass). A burst above
    /// the quantity is a [`RateError::BurstOnWindow`](crate::RateError::BurstOnWindow) when the
    /// limiter is built: a window never lets more than its quantity go at once.
    pub fn window(self, name: impl Into<String>, rate: Rate) -> Limits {
        self.rate_with::<SlidingWindow>(name, rate)
    }

    /// A rate resource named `name`, counted with algorithm `A`: any [`Algorithm`], a built-in
    /// one ([`rate_with::<GcraVirtual>`](crate::algorithm::GcraVirtual) is [`rate`](Self::rate)
    /// under the default counting, [`rate_with::<SlidingWindow>`](crate::algorithm::SlidingWindow)
    /// is [`window`](Self::window)) or one of yours, which then runs in a
    /// [`MultiLimiter`](crate::MultiLimiter), a [`ModelLimiter`](crate::ModelLimiter) and the
    /// [`Runner`](crate::Runner) unchanged. The rate is given to [`Algorithm::new`] as it is;
    /// its error is reported when the limiter is built
    /// ([`LimitError::InvalidRate`](crate::LimitError::InvalidRate), naming the resource).
    ///
    /// ```
    /// use tollgate::algorithm::LeakyBucket;
    /// use tollgate::{Clock, Limits, MultiLimiter, Nanos, Rate};
    ///
    /// let (clock, time) = Clock::mock();
    /// let limits = Limits::new().rate_with::<LeakyBucket>("uploads", Rate::per_second(2));
    /// let api = MultiLimiter::new(limits)?.with_clock(clock);
    /// for _ in 0..3 {
    ///     drop(api.acquire(&[("uploads", 1)])?);
    /// }
    /// assert_eq!(time.now(), Nanos::from_millis(500)); // two at once, the third after 500 ms
    /// # Ok::<(), tollgate::LimitError>(())
    /// ```
    pub fn rate_with<A: Algorithm>(self, name: impl Into<String>, rate: Rate) -> Limits {
        self.with(name, rate, Some(Counting::with::<A>()))
    }

    /// A rate resource named `name`, counted `counting` (the Runner's resources).
    pub(crate) fn counted(self, name: impl Into<String>, rate: Rate, counting: Counting) -> Limits {
        self.with(name, rate, Some(counting))
    }

    /// How rate resources count unless added with [`window`](Self::window) or
    /// [`rate_with`](Self::rate_with), which name their algorithm (default GCRA; any
    /// [`Algorithm`] with [`Counting::with`]).
    pub fn counting(mut self, counting: Counting) -> Limits {
        self.counting = counting;
        self
    }

    /// The limit of resource `name`, if any.
    pub fn get(&self, name: &str) -> Option<Rate> {
        self.resources
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.rate)
    }

    /// The concurrency limit, if any.
    pub fn parallel(&self) -> Option<u64> {
        self.max_parallel
    }

    /// Adds or replaces resource `name`.
    fn with(mut self, name: impl Into<String>, rate: Rate, counting: Option<Counting>) -> Limits {
        let name = name.into();
        self.resources.retain(|resource| resource.name != name);
        self.resources.push(ResourceLimit {
            name,
            rate,
            counting,
        });
        self
    }
}
