//! The algorithms as math: the bucket algorithms decide alike (as pure state machines, in
//! their one-word forms, behind a `RateLimiter`), no window of one period admits more than the
//! bound, the seed's figures, one meaning of a `Rate`, and the fast paths checked against naive
//! references.
//!
//! A test of what an algorithm decides, at stated instants or as a property, goes here.

#[path = "../support/mod.rs"]
mod support;

mod accounting_bound_books;
mod accounting_bound_limiters;
mod accounting_bound_random_calls;
mod accounting_bound_rate_changes;
mod accounting_bound_run;
mod defined_outside;
mod equivalence;
mod fast_paths_one_word;
mod fast_paths_places_and_races;
mod fast_paths_sliding_window;
mod one_meaning_of_rate;
mod panicking;
mod rate_bound;
mod seed_figures;
