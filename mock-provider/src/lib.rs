//! A loopback mock of an OpenAI-compatible provider (and of Anthropic's Messages API), with the
//! quotas of a real one: for testing rate limiters (such as `tollgate`) against real HTTP 429s,
//! `retry-after` and `x-ratelimit-*` headers, and latency, without a network or an API key.
//!
//! - `POST /v1/chat/completions` answers an OpenAI-shaped completion whose `usage` is
//!   deterministic ([`prompt_tokens`], [`completion_tokens`]), after a fixed latency; with
//!   `"stream": true`, the same reply as OpenAI's server-sent events (`chat.completion.chunk`s,
//!   one per word, spread evenly over the latency: the first after `latency / steps`, the last
//!   at the latency), a last chunk with no choices and the `usage` only when
//!   `stream_options.include_usage` is true, then `data: [DONE]`.
//! - `POST /v1/completions` does the same for a `prompt` (`text_completion`), streamed or not.
//! - `POST /v1/embeddings` answers one embedding per input (floats, or base64 when asked), and
//!   counts only its input tokens against the token quota.
//! - `POST /v1/messages` is Anthropic's Messages API, streamed or not (`message_start`,
//!   `content_block_delta`s, `message_delta` with the usage, `message_stop`), with quotas of its
//!   own: requests, input tokens and output tokens apart (output counted as `max_tokens` at
//!   arrival, settled to the tokens written once answered, as Anthropic does), told by the
//!   `anthropic-ratelimit-*` headers.
//! - Quotas of requests and tokens per window are counted in a **strict sliding window at each
//!   request's arrival**, as real providers do: a request counts for exactly one window after it
//!   arrives, and costs [`arrival_cost`] tokens (the prompt plus `max_tokens`, which OpenAI
//!   reserves against its TPM at arrival; the input alone for embeddings). A request over either quota gets a 429 at once, with
//!   the wait until the window has room for it, and is not counted.
//! - `GET /stats` answers the counts of [`Stats`] as JSON.
//!
//! The server is blocking: HTTP/1.1 on `std::net` (requests parsed by `httparse`), a thread per
//! connection, keep-alive; no async runtime, no TLS. It listens on 127.0.0.1 only, and stops
//! when [`MockProvider::stop`] is called or the provider is dropped.
//!
//! ```
//! use std::time::Duration;
//! use tollgate_mock_provider::{MockConfig, MockProvider};
//!
//! let provider = MockProvider::start(
//!     MockConfig::default()
//!         .requests_per_window(60)
//!         .tokens_per_window(10_000)
//!         .latency(Duration::from_millis(5)),
//! )?;
//! let endpoint = format!("{}/v1/chat/completions", provider.url());
//! assert!(endpoint.starts_with("http://127.0.0.1:"));
//! // ... point an OpenAI client at `provider.url()` ...
//! assert_eq!(provider.stats().requests, 0);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Answers
//!
//! | request | answer |
//! | --- | --- |
//! | `POST /v1/chat/completions`, `/v1/completions`, `/v1/embeddings`, within quota | 200, after the latency, with the six `x-ratelimit-*` headers |
//! | the same with `"stream": true` (not embeddings) | 200 at once, `text/event-stream`, chunked: the events spread over the latency |
//! | the same, over a quota | 429 at once: `retry-after` (s), `retry-after-ms`, `x-should-retry`, the six `x-ratelimit-*` headers, an OpenAI error body of type `requests` or `tokens` and code `rate_limit_exceeded` |
//! | the same, larger than the token quota itself | 429 at once, "Request too large", `x-should-retry: false`, no `retry-after` (waiting cannot help) |
//! | an invalid body (not JSON, no `model`, no `messages`/`prompt`/`input`, `max_tokens` < 1, `stream_options` without `stream`) | 400 at once, type `invalid_request_error` |
//! | `POST /v1/messages` | the same, in Anthropic's shapes: `anthropic-ratelimit-{requests,input-tokens,output-tokens}-{limit,remaining,reset}` (resets as RFC 3339 instants), a 429 of type `rate_limit_error` with `retry-after` (s) |
//! | a body over 16 MiB | 413 ([`MAX_BODY_BYTES`]), connection closed |
//! | malformed HTTP; a head over 64 KiB; a transfer encoding other than chunked | 400; 431; 501, connection closed |
//! | `GET /stats` | 200, the [`Stats`] as JSON (every endpoint counted together) |
//! | another method on those paths | 405 with `allow` |
//! | any other path | 404 |
//! | one of the first [`MockConfig::hang_first`] accepted requests (any endpoint) | nothing: the connection stays silent until the client gives up (503 once the provider stops) |
//! | any request while the provider stops | 503 |
//!
//! The `x-ratelimit-*` headers of an unlimited quota (`None`) are left out. They tell the state
//! at the request's arrival: `remaining` after counting it (before, for a refusal), and a reset
//! is the time until that quota is back to its initial state (nothing counted in the window),
//! formatted as a Go duration (`1s`, `6m0s`, `20ms`, `2m59.56s`) like OpenAI's. `retry-after-ms`
//! is the time until the window has room for the refused request itself (rounded up to the
//! millisecond; `retry-after` the same in whole seconds, rounded up): a retry after exactly
//! that wait is accepted, unless other requests took the room first.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod chat;
mod completions;
mod config;
mod embeddings;
mod http;
mod messages;
mod params;
mod quota;
mod routes;
mod server;
mod sse;
mod stats;

pub use chat::{
    arrival_cost, completion_tokens, prompt_tokens, COMPLETION_EXTRA_TOKENS, DEFAULT_MAX_TOKENS,
};
pub use config::MockConfig;
pub use server::MockProvider;
pub use stats::Stats;

/// The chat completions path, to append to [`MockProvider::url`].
pub const CHAT_COMPLETIONS_PATH: &str = "/v1/chat/completions";

/// The (legacy) completions path, to append to [`MockProvider::url`].
pub const COMPLETIONS_PATH: &str = "/v1/completions";

/// The embeddings path, to append to [`MockProvider::url`].
pub const EMBEDDINGS_PATH: &str = "/v1/embeddings";

/// Anthropic's Messages path, to append to [`MockProvider::url`].
pub const MESSAGES_PATH: &str = "/v1/messages";

/// The statistics path, to append to [`MockProvider::url`].
pub const STATS_PATH: &str = "/stats";

/// The largest request body read; a larger one is answered 413 (and the connection closed).
pub const MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;
