//! With the `log` feature, what the limiter does is visible.
//!
//! Only tests that install the process-wide logger go here: one logger per process, and no
//! other test in this binary to log into it (another test's "retrying in" must not pass this
//! one's assertion).

mod events;
