use crate::rate::Pace;
use crate::Nanos;

use super::{backlog, Backlog};

/// The token bucket: up to `burst` whole tokens, one added every emission interval `T`; a request
/// of cost `c` takes `c` tokens.
///
/// Tokens are counted whole, with the refill progress toward the next token kept in nanoseconds,
/// so no fraction is ever rounded. The count goes negative when requests are reserved ahead of
/// time (shaping) or charged as debt: later requests wait until it is paid back.
///
/// ```
/// use tollgate::algorithm::{Algorithm, Decision, TokenBucket};
/// use tollgate::Nanos;
///
/// let mut bucket = TokenBucket::new(&"4/2s".parse()?)?;
/// assert_eq!(bucket.try_take(Nanos::ZERO, 4), Decision::Admitted);
/// assert_eq!(bucket.available(Nanos::from_millis(999)), 1);
/// assert_eq!(bucket.available(Nanos::from_millis(1_000)), 2);
/// # Ok::<(), tollgate::RateError>(())
/// ```
#[derive(Clone, Debug)]
pub struct TokenBucket {
    pace: Pace,
    /// Whole tokens as of `last_refill`; negative while in debt. Wider than a cost: a debt of
    /// more than `i64::MAX` units (a settle of `u64::MAX` at one unit per nanosecond, a state
    /// decoded from a word past 2^63 ns) must stay exact to decide as GCRA does.
    tokens: i128,
    /// Nanoseconds of refill accumulated toward the next token (`< T`; 0 when full).
    progress: u64,
    last_refill: Nanos,
}

impl TokenBucket {
    /// `(tokens, progress)` refilled to `now`.
    fn refilled(&self, now: Nanos) -> (i128, u64) {
        let elapsed = now.saturating_sub(self.last_refill).as_u64();
        let (added, progress) =
            backlog::whole_intervals(self.progress, elapsed, self.pace.interval);
        let tokens = self.tokens.saturating_add(i128::from(added));
        self.clamp_full(tokens, progress)
    }

    fn clamp_full(&self, tokens: i128, progress: u64) -> (i128, u64) {
        let burst = burst_tokens(&self.pace);
        if tokens >= burst {
            (burst, 0)
        } else {
            (tokens, progress)
        }
    }

    fn store(&mut self, now: Nanos, (tokens, progress): (i128, u64)) {
        self.tokens = tokens;
        self.progress = progress;
        self.last_refill = self.last_refill.max(now);
    }
}

/// The burst as a token count (bursts are below 2^62, see `Rate::pace`).
fn burst_tokens(pace: &Pace) -> i128 {
    i128::from(pace.burst)
}

/// A cost as a token count, exactly.
fn tokens_of(cost: u64) -> i128 {
    i128::from(cost)
}

impl Backlog for TokenBucket {
    fn idle(pace: Pace) -> Self {
        TokenBucket {
            tokens: burst_tokens(&pace),
            pace,
            progress: 0,
            last_refill: Nanos::ZERO,
        }
    }

    fn pace(&self) -> &Pace {
        &self.pace
    }

    /// `(burst − tokens)·T − progress`.
    fn backlog(&self, now: Nanos) -> u64 {
        let (tokens, progress) = self.refilled(now);
        let missing =
            u64::try_from(burst_tokens(&self.pace).saturating_sub(tokens)).unwrap_or(u64::MAX);
        backlog::span_less_progress(missing, progress, self.pace.interval)
    }

    fn set_backlog(&mut self, now: Nanos, backlog: u64, pace: Pace) {
        let (units, progress) = backlog::units_and_progress(backlog, pace.interval);
        let tokens = burst_tokens(&pace).saturating_sub(tokens_of(units));
        self.pace = pace;
        self.store(now, (tokens, progress));
    }

    fn last_update(&self) -> Nanos {
        self.last_refill
    }

    /// Takes `c` tokens (the count goes negative in debt).
    fn add_units(&mut self, now: Nanos, cost: u64) {
        let (tokens, progress) = self.refilled(now);
        self.store(now, (tokens.saturating_sub(tokens_of(cost)), progress));
    }

    /// Puts `c` tokens back, never above the burst.
    fn remove_units(&mut self, now: Nanos, cost: u64) {
        let (tokens, progress) = self.refilled(now);
        let refunded = self.clamp_full(tokens.saturating_add(tokens_of(cost)), progress);
        self.store(now, refunded);
    }
}
