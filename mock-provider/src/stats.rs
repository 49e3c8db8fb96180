//! What the provider has answered so far: [`Stats`].

/// What the provider has answered so far (also served as JSON by `GET /stats`).
///
/// `requests` counts the well-formed requests of every endpoint (chat completions, completions,
/// embeddings, messages), each either accepted or rejected by a quota (`requests == accepted + rejected`, `rejected == rejected_requests +
/// rejected_tokens`, a rejection counted under the quota that bound longest); invalid ones (400)
/// are counted apart.
///
/// ```
/// use tollgate_mock_provider::Stats;
///
/// let stats = Stats { requests: 3, accepted: 2, rejected: 1, rejected_requests: 1, ..Stats::default() };
/// assert_eq!(stats.requests, stats.accepted + stats.rejected);
/// assert!(stats.to_json().starts_with(r#"{"requests":3,"accepted":2,"rejected":1,"#));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests checked against the quotas, every endpoint together (`accepted + rejected`).
    pub requests: u64,
    /// Requests within quota (answered 200, or being answered).
    pub accepted: u64,
    /// Requests refused with a 429 (not counted in the window).
    pub rejected: u64,
    /// Refusals where the requests quota bound longest.
    pub rejected_requests: u64,
    /// Refusals where a tokens quota bound longest (tokens; Anthropic's input or output tokens),
    /// or the request alone was too large.
    pub rejected_tokens: u64,
    /// Invalid requests (answered 400; not counted against the quotas).
    pub invalid: u64,
}

impl Stats {
    /// The counts as a JSON object, as `GET /stats` serves them.
    ///
    /// ```
    /// use tollgate_mock_provider::Stats;
    ///
    /// assert_eq!(
    ///     Stats::default().to_json(),
    ///     r#"{"requests":0,"accepted":0,"rejected":0,"rejected_requests":0,"rejected_tokens":0,"invalid":0}"#
    /// );
    /// ```
    pub fn to_json(&self) -> String {
        format!(
            r#"{{"requests":{},"accepted":{},"rejected":{},"rejected_requests":{},"rejected_tokens":{},"invalid":{}}}"#,
            self.requests,
            self.accepted,
            self.rejected,
            self.rejected_requests,
            self.rejected_tokens,
            self.invalid,
        )
    }
}
