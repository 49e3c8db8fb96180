//! Time: integer nanoseconds and the clock every limiter reads.
//!
//! Every decision in tollgate is made in whole nanoseconds ([`Nanos`]) on the timeline of one
//! [`Clock`]. The real clock is shared by the whole process (one quanta calibration) and never
//! goes backwards; the mock clocks ([`Clock::mock`], [`Clock::mock_stepped`]) let tests state
//! instants instead of sleeping.

mod clock;
mod deadline;
mod mock;
mod nanos;

pub(crate) use clock::Wake;
pub use clock::{Clock, WaitPrecision};
pub use deadline::Deadline;
pub(crate) use deadline::{Due, Patience};
pub use mock::MockTime;
pub use nanos::Nanos;
