//! What a refused reservation means for the job that asked.

use super::{AttemptError, Verdict};

/// What to do with a job whose quota could not be reserved: a shared state that could not be
/// reached is worth a retry; anything else (a cost above the capacity, a hold too long) is not.
pub(super) fn quota_verdict<E>(error: &AttemptError<E>) -> Verdict {
    match error {
        AttemptError::Quota(crate::LimitError::Redis(redis)) if redis.is_unreachable() => {
            Verdict::Retry
        }
        _ => Verdict::Fail,
    }
}
