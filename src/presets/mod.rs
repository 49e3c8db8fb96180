//! What LLM providers say about rate limits, turned into typed values.
//!
//! HTTP-client agnostic: inputs are header `(name, value)` pairs, status codes and bodies.
//! - [`parse_go_duration`], [`parse_retry_after`], [`parse_http_date`], [`parse_rfc3339`]: the
//!   time formats providers use.
//! - [`RateLimitHeaders`]: a snapshot of OpenAI / Azure (`x-ratelimit-*`) and Anthropic
//!   (`anthropic-ratelimit-*`) headers, `retry-after(-ms)` and `x-should-retry`.
//! - [`Signal`]: a response classified as rate limited, quota exhausted, overloaded, transient
//!   or permanent, with body fallbacks for the wait.
//! - Provider profiles for the [`Runner`](crate::Runner) and the
//!   [`ModelLimiter`](crate::ModelLimiter): [`OpenAiChat`] (and Azure), [`AnthropicMessages`],
//!   [`Gemini`], with token estimates from a [`ChatRequest`].
//!
//! A new provider: one file here (its profile, and its header family as a `read_headers`
//! listed in `headers.rs`), re-exported below.
//!
//! Malformed input is `None` (or the most cautious classification), never a panic.

mod anthropic;
mod chat_request;
mod civil_time;
mod durations;
mod gemini;
mod headers;
mod openai;
mod signal;

pub use anthropic::AnthropicMessages;
pub use chat_request::ChatRequest;
pub use civil_time::{parse_http_date, parse_rfc3339};
pub use durations::{parse_go_duration, parse_retry_after};
pub use gemini::Gemini;
pub use headers::{Quota, RateLimitHeaders, Unmapped};
pub use openai::{OpenAiChat, QuotaShareError};
pub use signal::Signal;
