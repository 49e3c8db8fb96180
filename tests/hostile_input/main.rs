//! Nothing a caller passes may hang, panic or overflow: panicking closures, extreme durations,
//! costs and names, every public function called with the extremes under a watchdog, the knobs
//! a new user reaches first.
//!
//! A test that sweeps bad input across several types goes here (one about a single type goes to
//! that type's subject).

#[path = "../support/mod.rs"]
mod support;

mod closures_and_extremes;
mod knobs;
mod sweep;
