use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What to do after a failed attempt (see [`Retry::classify`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Retry after the policy's backoff.
    Retry,
    /// The server asked for this wait: retry after exactly it, and pause every new call start
    /// meanwhile (one 429 must not become a burst of retries).
    RetryAfter(Duration),
    /// Do not retry.
    Fail,
}

type Classifier<E> = Arc<dyn Fn(&E) -> Verdict + Send + Sync>;

/// How the [`Runner`](crate::Runner) retries: up to `max_retries` more attempts per job, after an
/// exponential backoff with full jitter (a random wait in `[0, min(cap, base × 2^(n−1))]` after
/// the n-th failure), for the errors the classifier says (all, by default). A retried job goes to
/// the back of the queue.
///
/// Defaults ([`Retry::default`] = `exponential(5)`): base 250 ms, cap 30 s, server-requested
/// waits honoured up to 120 s (a longer one fails the job), plus up to 100 ms of positive jitter.
///
/// ```
/// use std::time::Duration;
/// use tollgate::{Retry, Verdict};
///
/// #[derive(Debug)]
/// enum ApiError { TooMany { retry_after: Duration }, BadRequest }
/// let policy = Retry::exponential(3)
///     .base(Duration::from_millis(100))
///     .classify(|err: &ApiError| match err {
///         ApiError::TooMany { retry_after } => Verdict::RetryAfter(*retry_after),
///         ApiError::BadRequest => Verdict::Fail,
///     });
/// # let _ = policy;
/// ```
pub struct Retry<E> {
    pub(super) max_retries: u32,
    base: Duration,
    cap: Duration,
    pub(super) max_retry_after: Duration,
    retry_after_jitter: Duration,
    classifier: Option<Classifier<E>>,
}

impl<E> Retry<E> {
    /// Up to `max_retries` retries with exponential backoff and full jitter.
    pub fn exponential(max_retries: u32) -> Retry<E> {
        Retry {
            max_retries,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            retry_after_jitter: Duration::from_millis(100),
            classifier: None,
        }
    }

    /// No retries: each job gets one attempt.
    pub fn never() -> Retry<E> {
        Retry::exponential(0)
    }

    /// The backoff after the first failure (before jitter).
    pub fn base(mut self, base: Duration) -> Self {
        self.base = base;
        self
    }

    /// The longest backoff (before jitter).
    pub fn cap(mut self, cap: Duration) -> Self {
        self.cap = cap;
        self
    }

    /// The longest server-requested wait honoured (default 120 s); a longer one fails the job.
    /// It also caps the jittered wait ([`retry_after_jitter`](Self::retry_after_jitter)) and
    /// the server holds a response hook announces: every wait a server sets.
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// The most added, at random, to a server-requested wait, so that calls paused together do
    /// not all start at the same instant (default 100 ms; never subtracted). The wait with its
    /// jitter never exceeds [`max_retry_after`](Self::max_retry_after).
    pub fn retry_after_jitter(mut self, jitter: Duration) -> Self {
        self.retry_after_jitter = jitter;
        self
    }

    /// Decides, per error, whether and how to retry (default: retry every error).
    pub fn classify(mut self, classifier: impl Fn(&E) -> Verdict + Send + Sync + 'static) -> Self {
        self.classifier = Some(Arc::new(classifier));
        self
    }

    pub(super) fn verdict(&self, err: &E) -> Verdict {
        self.classifier
            .as_ref()
            .map_or(Verdict::Retry, |classify| classify(err))
    }

    /// A server-requested wait with its positive jitter, capped by
    /// [`max_retry_after`](Self::max_retry_after) (the one setting for the longest wait; a
    /// requested wait above it has already failed the job).
    pub(super) fn jittered(&self, wait: Duration) -> Duration {
        let jitter = self.retry_after_jitter.mul_f64(uniform());
        wait.saturating_add(jitter)
            .min(self.max_retry_after.max(wait))
    }

    /// The wait before the next attempt after `failures` failures: full jitter.
    pub(super) fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(62);
        let ceiling = self
            .base
            .saturating_mul(1 << doublings.min(31))
            .min(self.cap);
        ceiling.mul_f64(uniform())
    }
}

impl<E> Default for Retry<E> {
    fn default() -> Retry<E> {
        Retry::exponential(5)
    }
}

impl<E> Clone for Retry<E> {
    fn clone(&self) -> Retry<E> {
        Retry {
            max_retries: self.max_retries,
            base: self.base,
            cap: self.cap,
            max_retry_after: self.max_retry_after,
            retry_after_jitter: self.retry_after_jitter,
            classifier: self.classifier.clone(),
        }
    }
}

impl<E> fmt::Debug for Retry<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("max_retries", &self.max_retries)
            .field("base", &self.base)
            .field("cap", &self.cap)
            .field("max_retry_after", &self.max_retry_after)
            .field("retry_after_jitter", &self.retry_after_jitter)
            .field("classifier", &self.classifier.is_some())
            .finish()
    }
}

/// A uniform sample in `[0, 1)` from a per-thread xorshift generator (jitter needs spread, not
/// cryptographic quality).
fn uniform() -> f64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(seed());
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

fn seed() -> u64 {
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64);
    let local = 0u8;
    (time ^ (&local as *const u8 as u64).rotate_left(32)) | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jittered_wait_never_exceeds_max_retry_after() {
        let policy: Retry<()> = Retry::exponential(1)
            .retry_after_jitter(Duration::from_secs(3_600))
            .max_retry_after(Duration::from_secs(2));
        for _ in 0..1_000 {
            let wait = policy.jittered(Duration::from_millis(1));
            assert!(wait >= Duration::from_millis(1) && wait <= Duration::from_secs(2));
        }
        // A wait at the cap stays there; the cap never shortens what the server asked.
        assert_eq!(
            policy.jittered(Duration::from_secs(2)),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn backoff_stays_within_the_capped_exponential_ceiling() {
        let policy: Retry<()> = Retry::exponential(10)
            .base(Duration::from_millis(100))
            .cap(Duration::from_secs(1));
        for failures in 1..12 {
            let ceiling = Duration::from_millis(100 * (1 << (failures - 1).min(10)))
                .min(Duration::from_secs(1));
            for _ in 0..100 {
                assert!(policy.backoff(failures) <= ceiling);
            }
        }
    }
}
