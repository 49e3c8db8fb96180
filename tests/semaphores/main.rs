//! The semaphores: `CreditSemaphore` (the seed's trace, fairness, the starvation bound, no
//! leaks) and `AdaptiveSemaphore` (the adaptive concurrency limit).
//!
//! A test of a semaphore goes here.

#[path = "../support/mod.rs"]
mod support;

mod adaptive;
mod credit;
