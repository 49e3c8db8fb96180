use std::fmt;

/// How much of one limit is used, what callers still waiting have reserved, and the limit:
/// `Display` is `"45/500"`, `"45/500 (+30 reserved)"`, `"1597/1000 (597 debt)"` or
/// `"3/unlimited"`.
///
/// - `used`: charged to calls that went (or to settles), not yet regenerated: what the server
///   sees. Above the limit only by debt (a settle above the estimate), never by a waiter.
/// - `reserved`: charged to calls still waiting for their instant; it counts from that instant.
/// - [`debt`](Self::debt): `used` above the limit, which later calls wait for.
///
/// ```
/// use tollgate::{Clock, Limits, MultiLimiter, Usage, TOKENS};
///
/// let (clock, _time) = Clock::mock();
/// let api = MultiLimiter::new(Limits::new().tpm(1_000))?.with_clock(clock);
/// let first = api.acquire(&[(TOKENS, 1_000)])?;
/// let waiting = api.reserve(&[(TOKENS, 600)])?;          // goes in 36 s
/// let tokens = api.usage()[0].1;
/// assert_eq!(tokens, Usage { used: 1_000, reserved: 600, limit: Some(1_000) });
/// assert_eq!(tokens.to_string(), "1000/1000 (+600 reserved)");
/// first.settle(TOKENS, 1_500)?;                            // 500 more than the estimate
/// assert_eq!(api.usage()[0].1.debt(), 500);
/// # drop(waiting);
/// # Ok::<(), tollgate::LimitError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// Used now by calls that went, debt included.
    pub used: u64,
    /// Reserved by calls still waiting for their instant.
    pub reserved: u64,
    /// The limit, if there is one.
    pub limit: Option<u64>,
}

impl Usage {
    /// `used` above the limit: debt that later calls wait for (0 without a limit).
    pub fn debt(&self) -> u64 {
        self.limit
            .map_or(0, |limit| self.used.saturating_sub(limit))
    }

    /// Everything charged: `used + reserved`.
    pub fn charged(&self) -> u64 {
        self.used.saturating_add(self.reserved)
    }
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.limit {
            Some(limit) => write!(f, "{}/{limit}", self.used)?,
            None => write!(f, "{}/unlimited", self.used)?,
        }
        match (self.debt(), self.reserved) {
            (0, 0) => Ok(()),
            (0, reserved) => write!(f, " (+{reserved} reserved)"),
            (debt, 0) => write!(f, " ({debt} debt)"),
            (debt, reserved) => write!(f, " ({debt} debt, +{reserved} reserved)"),
        }
    }
}
