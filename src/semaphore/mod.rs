//! Semaphores: limits on what is in flight rather than on a rate.
//!
//! - [`CreditSemaphore`]: calls cost credits out of a fixed capacity; the credits come back a set
//!   time after the call ends (APIs that bill "credits per window").
//! - [`AdaptiveSemaphore`]: a concurrency limit that grows with time and backs off when the server
//!   pushes back.

mod adaptive_semaphore;
mod credit_semaphore;
mod error;

pub use adaptive_semaphore::{AdaptiveBuilder, AdaptivePermit, AdaptiveSemaphore, AdaptiveStats};
pub use credit_semaphore::{CreditEvent, CreditPermit, CreditSemaphore, CreditStats};
pub use error::SemaphoreError;
