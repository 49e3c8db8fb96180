//! The Runner's journal (feature `journal`): reruns call only unfinished jobs, a batch killed with
//! SIGKILL and rerun, damaged files as typed errors, a hostile review.
//!
//! A test of the journal goes here.

#[path = "../support/mod.rs"]
mod support;

mod crash;
mod damage;
mod hostile_review_files;
mod hostile_review_fixtures;
mod hostile_review_reruns_and_keys;
mod hostile_review_user_code;
mod reruns;
