use std::time::Duration;

use crate::{Rate, WaitPrecision};

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

/// How a rate resource counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Counting {
    /// GCRA: the quota spread evenly over the period, with the burst at once (the default).
    #[default]
    Gcra,
    /// An exact sliding window of one period, as providers that count a strict window do,
    /// paced with GCRA when the rate's burst is below its quantity ([`Limits::window`]).
    SlidingWindow,
}

/// What one API allows: named rate resources and a concurrency limit.
///
/// Every rate means "at most `burst` at once, `quantity` per period" ([`Rate::burst`]),
/// whichever way it is counted ([`Counting`]).
///
/// The well-known names are `"requests"` ([`rpm`](Self::rpm)), `"tokens"` ([`tpm`](Self::tpm)),
/// `"input_tokens"` and `"output_tokens"`; any other name can be added with
/// [`rate`](Self::rate) or [`window`](Self::window).
///
/// ```
/// use tollgate::{Counting, Limits, Rate};
///
/// let openai = Limits::new().rpm(500).tpm(40_000).max_parallel(10);
/// let strict = Limits::new().rpm(50).input_tpm(20_000).output_tpm(8_000).counting(Counting::SlidingWindow);
/// let custom = Limits::new().rate("credits", Rate::per_second(40)).window("uploads", Rate::per_hour(100));
/// # let _ = (openai, strict, custom);
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
        self.with(name, rate, Some(Counting::SlidingWindow))
    }

    /// How rate resources count unless added with [`window`](Self::window) (default GCRA).
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
