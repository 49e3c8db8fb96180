//! One request's trip through the proxy: its costs reserved in the one FIFO line, forwarded,
//! the answer's head learnt from, a 429 absorbed, the body passed on as it arrives, the
//! reservation settled to the usage, and one log line.
//!
//! The upstream stamps a request when it arrives, which lies between its send and its answer's
//! head: the request is counted from the head (never earlier than the upstream did, so the
//! quota given as the server's needs no margin; a stream is not held to its end), its tokens
//! from the end of the answer, when its usage is known.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tollgate::{LimitError, Permit};

use super::answer_stream::{relay, Relayed};
use super::client_request::ClientRequest;
use super::client_response::{error_body, write_json, BodyWriter, Framing};
use super::quota_learning::QuotaLearning;
use super::quota_line::QuotaLine;
use super::refusals::RetryBudget;
use super::request_cost::{RequestCost, Route, TokenUsage};
use super::stats::{ProxyStats, STATS_PATH};
use super::upstream::{answer_headers, Upstream};

/// A request that waited this long for its turn is forwarded only if its client is still
/// there.
const CLIENT_CHECKED_AFTER: Duration = Duration::from_millis(10);

/// The most of a 429's body read (to classify it, and pass it on when the retries are spent).
const REFUSAL_BODY_LIMIT: u64 = 64 * 1024;

/// What every connection thread shares.
pub struct Proxy {
    /// The quotas: one FIFO line.
    pub line: QuotaLine,
    /// The resources the limiter counts.
    pub resources: Vec<&'static str>,
    /// Where requests go.
    pub upstream: Upstream,
    /// The quotas learnt from the answers.
    pub learning: QuotaLearning,
    /// The counters.
    pub stats: ProxyStats,
    /// Retries of a 429 inside the proxy.
    pub retries: u32,
    /// Completion tokens reserved for a request that sets no `max_tokens`.
    pub default_max_tokens: u64,
    /// Set once a stop signal came: answers close their connection.
    pub stopping: AtomicBool,
}

/// How an answer went, for the log line.
struct Trip {
    status: u16,
    waited: Duration,
    waited_for: Option<String>,
    retried: u32,
    reserved_tokens: u64,
    billed_tokens: Option<u64>,
    note: Option<String>,
}

impl Proxy {
    /// Answers `request` on `client`; whether the connection may carry another request.
    pub fn answer(&self, request: &ClientRequest, client: &mut TcpStream) -> bool {
        let started = Instant::now();
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let keep_alive = request.keep_alive && !self.stopping.load(Ordering::SeqCst);
        if request.path() == STATS_PATH {
            let stats = self.stats.to_json(self.line.limiter()).to_string();
            return write_json(client, 200, &[], &stats, keep_alive).is_ok() && keep_alive;
        }
        if request.method == "CONNECT" {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            let body = error_body(
                "CONNECT is not served: this proxy forwards to its one upstream only",
                "method_not_allowed",
            );
            return write_json(client, 405, &[], &body, keep_alive).is_ok() && keep_alive;
        }
        self.stats.answering.fetch_add(1, Ordering::Relaxed);
        let (trip, kept) = self.forward(request, client, keep_alive);
        self.stats.answering.fetch_sub(1, Ordering::Relaxed);
        log::info!(
            target: "tollgate::proxy",
            "{} {} {} in {} ms{}",
            request.method,
            request.path(),
            trip.status,
            started.elapsed().as_millis(),
            trip.describe(),
        );
        kept
    }

    /// Forwards `request` and passes its answer on.
    fn forward(
        &self,
        request: &ClientRequest,
        client: &mut TcpStream,
        keep_alive: bool,
    ) -> (Trip, bool) {
        let route = Route::of(&request.method, request.path());
        let mut json = (route != Route::Other)
            .then(|| serde_json::from_slice::<Value>(&request.body).ok())
            .flatten();
        let hide_usage_chunk = json.as_mut().is_some_and(|body| ask_usage(route, body));
        let body: Cow<'_, [u8]> = match (&json, hide_usage_chunk) {
            (Some(rewritten), true) => Cow::Owned(rewritten.to_string().into_bytes()),
            _ => Cow::Borrowed(&request.body),
        };
        let cost = RequestCost::of(route, json.as_ref(), self.default_max_tokens);
        let costs: Vec<(&str, u64)> = self
            .resources
            .iter()
            .map(|resource| (*resource, cost.reserved(resource)))
            .collect();
        let mut trip = Trip {
            status: 0,
            waited: Duration::ZERO,
            waited_for: None,
            retried: 0,
            reserved_tokens: cost.reserved(tollgate::TOKENS),
            billed_tokens: None,
            note: None,
        };
        let mut budget = RetryBudget::new(self.retries);
        self.learning.wait_turn();
        loop {
            let queued = Instant::now();
            self.stats.queued.fetch_add(1, Ordering::Relaxed);
            let permit = self.line.acquire(&costs);
            self.stats.queued.fetch_sub(1, Ordering::Relaxed);
            let wait = queued.elapsed();
            trip.waited += wait;
            self.stats.waited(wait);
            let permit = match permit {
                Ok(permit) => permit,
                Err(err) => {
                    self.learning.over();
                    return (trip.refused(&err), self.refuse(client, &err, keep_alive));
                }
            };
            if wait >= CLIENT_CHECKED_AFTER && client_gone(client) {
                // It waited its turn, and its client gave up meanwhile: nothing is spent on it.
                permit.cancel();
                self.learning.over();
                trip.status = 499;
                trip.note = Some("the client went away while it waited; not forwarded".into());
                return (trip, false);
            }
            if trip.waited_for.is_none() {
                trip.waited_for = permit.waited_for().map(str::to_owned);
            }
            self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
            let sent = self.upstream.send(request, &body, cost.output);
            let answer = match sent {
                Ok(answer) => answer,
                Err(err) => {
                    self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
                    self.learning.over();
                    if err.reached {
                        self.settle(&permit, &cost, None, false, false);
                    } else {
                        permit.cancel();
                    }
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    let status = if err.timed_out { 504 } else { 502 };
                    trip.status = status;
                    trip.note = Some(err.message.clone());
                    let code = if err.timed_out {
                        "upstream_timeout"
                    } else {
                        "upstream_unreachable"
                    };
                    let body = error_body(&err.message, code);
                    let kept = write_json(client, status, &[], &body, keep_alive).is_ok();
                    return (trip, kept && keep_alive);
                }
            };
            self.learning.learn(self.line.limiter(), answer.headers());
            if answer.status().as_u16() != 429 {
                // Counted from its answer's head: the latest instant the upstream can have
                // stamped it, never later than a stream's end (a 429 is refunded below).
                permit.settle(tollgate::REQUESTS, 1).ok();
            }
            let (head, mut answer_body) = answer.into_parts();
            if head.status.as_u16() == 429 {
                self.stats.upstream_429.fetch_add(1, Ordering::Relaxed);
                self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
                let mut refusal = Vec::new();
                answer_body
                    .as_reader()
                    .take(REFUSAL_BODY_LIMIT)
                    .read_to_end(&mut refusal)
                    .ok();
                // Refused: the upstream counted nothing, nor does the proxy.
                permit.cancel();
                let text = String::from_utf8_lossy(&refusal);
                if budget
                    .absorb(self.line.limiter(), &head.headers, &text)
                    .is_some()
                {
                    self.stats.absorbed_429.fetch_add(1, Ordering::Relaxed);
                    trip.retried = budget.retried();
                    continue;
                }
                self.stats.client_429.fetch_add(1, Ordering::Relaxed);
                trip.status = 429;
                let headers = answer_headers(&head.headers);
                let kept = BodyWriter::start(
                    client,
                    429,
                    &headers,
                    Framing::Length(refusal.len() as u64),
                    keep_alive,
                )
                .and_then(|mut writer| writer.write(&refusal).and_then(|()| writer.finish()))
                .is_ok();
                return (trip, kept && keep_alive);
            }
            trip.status = head.status.as_u16();
            let succeeded = head.status.is_success();
            let relayed = self.pass_on(
                request,
                &head,
                &mut answer_body,
                client,
                keep_alive,
                hide_usage_chunk,
            );
            self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
            let billed = self.settle(&permit, &cost, relayed.usage, succeeded, true);
            drop(permit);
            trip.billed_tokens = Some(billed);
            let broken = relayed.broken.is_some();
            trip.note = relayed.broken;
            return (trip, keep_alive && !broken);
        }
    }

    /// Passes the answer's head and body on to the client.
    fn pass_on(
        &self,
        request: &ClientRequest,
        head: &ureq::http::response::Parts,
        body: &mut ureq::Body,
        client: &mut dyn Write,
        keep_alive: bool,
        hide_usage_chunk: bool,
    ) -> Relayed {
        let status = head.status.as_u16();
        let events = head
            .headers
            .get("content-type")
            .is_some_and(|kind| kind.as_bytes().starts_with(b"text/event-stream"));
        let length = head
            .headers
            .get("content-length")
            .and_then(|length| length.to_str().ok()?.trim().parse::<u64>().ok());
        let bodiless = request.method == "HEAD" || matches!(status, 100..=199 | 204 | 304);
        let framing = match (bodiless, events, length) {
            (true, _, _) => Framing::Bodiless,
            (false, false, Some(length)) => Framing::Length(length),
            _ => Framing::Chunked,
        };
        let headers = answer_headers(&head.headers);
        let writer = match BodyWriter::start(client, status, &headers, framing, keep_alive) {
            Ok(writer) => writer,
            Err(err) => {
                return Relayed {
                    broken: Some(format!("the client went away: {err}")),
                    ..Relayed::default()
                }
            }
        };
        if bodiless {
            return match writer.finish() {
                Ok(_) => Relayed::default(),
                Err(err) => Relayed {
                    broken: Some(format!("the client went away: {err}")),
                    ..Relayed::default()
                },
            };
        }
        let mut reader = body.as_reader();
        relay(&mut reader, writer, events, hide_usage_chunk)
    }

    /// Bills `permit` what the answer used (see [`RequestCost::billed`]), counted from now
    /// (the request itself from its answer's head when `answered`: counted then); the tokens
    /// billed.
    fn settle(
        &self,
        permit: &Permit,
        cost: &RequestCost,
        usage: Option<TokenUsage>,
        succeeded: bool,
        answered: bool,
    ) -> u64 {
        for resource in &self.resources {
            if answered && *resource == tollgate::REQUESTS {
                continue;
            }
            // The resource is the limiter's own, and the permit went: nothing can fail.
            permit
                .settle(resource, cost.billed(resource, usage, succeeded))
                .ok();
        }
        cost.billed(tollgate::TOKENS, usage, succeeded)
    }

    /// Answers a request the limiter refused.
    fn refuse(&self, client: &mut dyn Write, err: &LimitError, keep_alive: bool) -> bool {
        let (status, code, wait) = match err {
            LimitError::ExceedsCapacity { .. } => (429, "exceeds_quota", None),
            LimitError::HeldTooLong { wait, .. } => (429, "rate_limit_exceeded", Some(*wait)),
            _ => (503, "quota_unavailable", None),
        };
        if status == 429 {
            self.stats.client_429.fetch_add(1, Ordering::Relaxed);
        } else {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
        }
        let retry_after = wait.map(|wait| wait.as_secs().max(1).to_string());
        let mut headers: Vec<(&str, &[u8])> = Vec::new();
        match &retry_after {
            Some(seconds) => headers.push(("retry-after", seconds.as_bytes())),
            None => headers.push(("x-should-retry", b"false")),
        }
        let body = error_body(&err.to_string(), code);
        write_json(client, status, &headers, &body, keep_alive).is_ok() && keep_alive
    }
}

/// Whether the client closed its connection (its end of the stream came: a request it
/// pipelined would be bytes to read).
fn client_gone(client: &TcpStream) -> bool {
    if client.set_nonblocking(true).is_err() {
        return false;
    }
    let peeked = client.peek(&mut [0_u8; 1]);
    client.set_nonblocking(false).ok();
    matches!(peeked, Ok(0)) || peeked.is_err_and(|err| err.kind() != std::io::ErrorKind::WouldBlock)
}

/// Asks for the usage of a streamed answer that reports it only when asked and was not asked
/// (`stream_options.include_usage`); whether it did (the client then must not see that
/// chunk).
fn ask_usage(route: Route, body: &mut Value) -> bool {
    if !route.usage_on_request() || body["stream"] != Value::Bool(true) {
        return false;
    }
    match body.get_mut("stream_options") {
        Some(Value::Object(options)) => {
            if options.get("include_usage") == Some(&Value::Bool(true)) {
                return false;
            }
            options.insert("include_usage".to_owned(), Value::Bool(true));
        }
        None | Some(Value::Null) => {
            body["stream_options"] = serde_json::json!({"include_usage": true});
        }
        Some(_) => return false, // not ours to fix: the upstream will say what is wrong
    }
    true
}

impl Trip {
    fn refused(mut self, err: &LimitError) -> Trip {
        self.status = if matches!(
            err,
            LimitError::ExceedsCapacity { .. } | LimitError::HeldTooLong { .. }
        ) {
            429
        } else {
            503
        };
        self.note = Some(err.to_string());
        self
    }

    /// The log line's details: the wait and what for, retries, tokens, trouble.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.waited >= Duration::from_millis(1) {
            let what = self
                .waited_for
                .as_deref()
                .map_or_else(String::new, |resource| format!(" for {resource}"));
            parts.push(format!("waited {} ms{what}", self.waited.as_millis()));
        }
        if self.retried > 0 {
            parts.push(format!("{} 429s absorbed", self.retried));
        }
        if self.reserved_tokens > 0 || self.billed_tokens.is_some_and(|billed| billed > 0) {
            let billed = self
                .billed_tokens
                .map_or_else(|| "-".to_owned(), |billed| billed.to_string());
            parts.push(format!(
                "tokens {} reserved, {billed} billed",
                self.reserved_tokens
            ));
        }
        if let Some(note) = &self.note {
            parts.push(note.clone());
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn usage_is_asked_for_streams_that_did_not_ask() {
        let mut plain = json!({"stream": true, "messages": []});
        assert!(ask_usage(Route::ChatCompletions, &mut plain));
        assert_eq!(plain["stream_options"]["include_usage"], true);
        let mut options = json!({"stream": true, "stream_options": {"x": 1}});
        assert!(ask_usage(Route::Completions, &mut options));
        assert_eq!(
            options["stream_options"],
            json!({"x": 1, "include_usage": true})
        );
        for (route, mut body) in [
            (
                Route::ChatCompletions,
                json!({"stream": true, "stream_options": {"include_usage": true}}),
            ),
            (Route::ChatCompletions, json!({"stream": false})),
            (
                Route::ChatCompletions,
                json!({"stream": true, "stream_options": "odd"}),
            ),
            (Route::Messages, json!({"stream": true})),
        ] {
            let before = body.clone();
            assert!(!ask_usage(route, &mut body));
            assert_eq!(body, before);
        }
    }
}
