//! Several limits taken together, all or none: requests per minute, tokens per minute (input
//! and output apart), concurrent calls, per model.
//!
//! - [`Limits`]: what one API allows.
//! - [`MultiLimiter`]: enforces a `Limits`; a call takes every resource at once, or waits.
//! - [`Permit`]: what a call holds; settle the token estimate with the actual usage.
//! - [`ModelLimiter`]: one `MultiLimiter` per model, with a default for unknown models; a
//!   default-made model no call is using is kept at rest as one word per rate
//!   (`keyed::ModelsAtRest`).
//!
//! Where a limiter's state lives (in memory, on Redis) is its [state store](crate::state):
//! nothing here depends on which.

mod error;
mod limits;
mod model_limiter;
mod multi_limiter;
mod permit;
mod usage;

pub use error::LimitError;
pub use limits::{
    Counting, Limits, OtherAlgorithm, DEFAULT_MAX_HOLD, INPUT_TOKENS, OUTPUT_TOKENS, REQUESTS,
    TOKENS,
};
pub use model_limiter::{ModelLimiter, ModelLimiterBuilder, ModelStats};
pub use multi_limiter::MultiLimiter;
pub(crate) use multi_limiter::{window_of, Then};
pub use permit::Permit;
pub use usage::Usage;
