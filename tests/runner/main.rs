//! The Runner: against the in-process fake API (order, quotas, retries, validation, panics,
//! interrupts, resume), its accounting on the reservation core, `JobSender` and interrupts under
//! hostile use, capped waits and error messages naming the setting, and the test watchdog.
//!
//! A test of the Runner without a journal goes here (with one: `tests/journal/`).

#[path = "../support/mod.rs"]
mod support;

mod accounting;
mod against_fake_api;
mod arrival_billing;
mod job_sender;
mod waits_capped_and_messages_named;
mod watchdog;
