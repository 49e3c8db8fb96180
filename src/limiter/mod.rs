//! The blocking layer: one generic [`RateLimiter`] that adds time, waiting and sharing to any
//! [`Algorithm`](crate::algorithm::Algorithm).

mod error;
mod rate_limiter;
mod reservation;
mod shared_pace;
mod single_account;
mod stats;
mod striped_counters;

pub use error::AcquireError;
pub use rate_limiter::RateLimiter;
pub use reservation::Reservation;
pub use stats::LimiterStats;
pub(crate) use striped_counters::StripedCounters;
