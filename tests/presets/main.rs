//! Providers: rate-limit headers and errors parsed and classified, the provider profiles and
//! their settings, a Runner reading a server's 429s, and the HTTP path end to end against the
//! loopback mock provider.
//!
//! A test of `tollgate::presets` or of feedback from a server goes here.

#[path = "../support/mod.rs"]
mod support;

mod http_path;
mod provider_feedback;
mod provider_presets;
mod quota_share;
mod server_feedback;
