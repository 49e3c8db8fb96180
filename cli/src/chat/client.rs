//! The HTTP exchange of one chat request (ureq, blocking).

use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Value};
use tollgate::presets::{RateLimitHeaders, Signal};

use super::chat_error::ChatError;
use super::chat_settings::RequestTimeout;
use super::endpoint::Endpoint;
use super::token_estimate::TokenEstimate;

/// An answered chat request. In the journal it is `{"response": ..., "billed_tokens": n}`: the
/// headers are not kept (an answer taken from the journal teaches the quotas nothing now).
#[derive(Clone, Debug)]
pub struct Completion {
    /// The response body.
    pub response: Value,
    /// The tokens it is billed against the tokens quota.
    pub billed_tokens: u64,
    /// The rate-limit headers it came with.
    pub headers: RateLimitHeaders,
}

impl Serialize for Completion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        json!({"response": self.response, "billed_tokens": self.billed_tokens})
            .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Completion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Completion, D::Error> {
        let mut recorded = Value::deserialize(deserializer)?;
        let billed_tokens = recorded["billed_tokens"]
            .as_u64()
            .ok_or_else(|| D::Error::custom("a completion without billed_tokens"))?;
        Ok(Completion {
            response: recorded["response"].take(),
            billed_tokens,
            headers: RateLimitHeaders::default(),
        })
    }
}

/// Posts chat requests to one endpoint.
pub struct ChatClient {
    agent: ureq::Agent,
    endpoint: Endpoint,
    authorization: Option<String>,
    estimate: TokenEstimate,
    timeout: RequestTimeout,
}

impl ChatClient {
    /// A client posting to `endpoint`, with `api_key` as a bearer token if given; `estimate`
    /// bills a response that reports no usage; each attempt may take `timeout`; up to
    /// `concurrency` requests are sent at once, each on a connection kept for the next.
    pub fn new(
        endpoint: Endpoint,
        api_key: Option<String>,
        estimate: TokenEstimate,
        timeout: RequestTimeout,
        concurrency: usize,
    ) -> ChatClient {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // Every connection stays open for the next request (ureq keeps 3 per host by
            // default: the others would connect, and shake hands for TLS, for each request).
            .max_idle_connections(concurrency)
            .max_idle_connections_per_host(concurrency)
            .build()
            .into();
        ChatClient {
            agent,
            endpoint,
            authorization: api_key.map(|key| format!("Bearer {key}")),
            estimate,
            timeout,
        }
    }

    /// Sends `body` and reads the answer, calling `answered` once it is in, before it is parsed
    /// (no earlier than the server counted the request: the Runner bills it from there,
    /// [`tollgate::Attempt::answered`]). `chat` asks for whole answers, which a server sends
    /// with their headers when the completion is done: the body comes with the headers, and
    /// reading it first costs a transfer on an open connection, where reporting before it
    /// would hold the connection while `answered` waits for the limiter.
    ///
    /// # Errors
    /// [`ChatError`] for anything but a success with a JSON body, with the answer classified.
    pub fn send(&self, body: &Value, answered: impl FnOnce()) -> Result<Completion, ChatError> {
        let timeout = self
            .timeout
            .for_request(self.estimate.completion_tokens(body));
        let mut request = self
            .agent
            .post(self.endpoint.as_str())
            .header("content-type", "application/json");
        if let Some(authorization) = &self.authorization {
            request = request.header("authorization", authorization);
        }
        let mut response = request
            .config()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(RequestTimeout::connect(timeout)))
            .build()
            .send(body.to_string().as_str())
            .map_err(|err| transport_error(&err, timeout))?;
        let text = response.body_mut().read_to_string().map_err(|err| {
            let mut failed = transport_error(&err, timeout);
            failed.message = format!("reading the answer: {}", failed.message);
            failed.reached = true;
            failed
        })?;
        // The connection is back in the pool: the wait `answered` may have for the limiter's
        // lock holds no connection (held, the next calls would open more, each keeping its
        // buffers for the run).
        answered();
        let (signal, headers) = Signal::classify_http(response.status(), response.headers(), &text);
        let parsed = serde_json::from_str::<Value>(&text);
        if signal.is_some() || !response.status().is_success() {
            return Err(ChatError {
                status: Some(response.status().as_u16()),
                signal,
                headers: Box::new(headers),
                message: parsed
                    .ok()
                    .and_then(|json| json["error"]["message"].as_str().map(str::to_owned))
                    .unwrap_or(text),
                reached: true,
            });
        }
        let response =
            parsed.map_err(|err| ChatError::transport(format!("the answer is not JSON: {err}")))?;
        let billed_tokens = self
            .estimate
            .billed(body, &response)
            .unwrap_or_else(|| self.estimate.reserved(body));
        Ok(Completion {
            response,
            billed_tokens,
            headers,
        })
    }
}

/// A request that got no answer: whether it reached the server, and why, in words that say
/// what to change.
fn transport_error(err: &ureq::Error, timeout: Duration) -> ChatError {
    use std::io::ErrorKind;
    use ureq::Timeout;
    let reached = !match err {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed | ureq::Error::Tls(_) => true,
        ureq::Error::Timeout(Timeout::Resolve | Timeout::Connect) => true,
        ureq::Error::Io(err) => matches!(
            err.kind(),
            ErrorKind::ConnectionRefused | ErrorKind::AddrNotAvailable
        ),
        _ => false,
    };
    let message = match err {
        ureq::Error::Timeout(Timeout::Resolve | Timeout::Connect) => format!(
            "could not connect within {:.0?} ({err})",
            RequestTimeout::connect(timeout)
        ),
        ureq::Error::Timeout(_) => format!(
            "no complete answer within {timeout:.0?}; raise --timeout if the answers are long"
        ),
        ureq::Error::Io(io) if io.kind() == ErrorKind::ConnectionRefused => {
            "connection refused: nothing listens at this address".to_owned()
        }
        _ => err.to_string(),
    };
    ChatError {
        reached,
        ..ChatError::transport(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `answered` is called once the answer is in, with its connection back in the pool: a
    /// request sent from inside it goes on the same connection (the loopback server counts the
    /// connections it accepted). Reported before the body was read, the connection was still
    /// busy and the inner request opened a second one: at 200 requests per second, with the
    /// limiter's lock to wait for in `answered`, `chat` kept 2 to 6 times as many connections
    /// open, each with its buffers, and its memory rose by 20 to 30 MB.
    #[test]
    fn the_answer_is_reported_with_its_connection_free_for_the_next_request() {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/v1/chat/completions",
            listener.local_addr().unwrap()
        );
        let accepted = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&accepted);
        // Detached: it serves until the test process ends (a failed test does not wait for it).
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                counted.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut writer = stream;
                    loop {
                        let mut length = 0;
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return; // the client closed the connection
                            }
                            let lower = line.to_ascii_lowercase();
                            if let Some(value) = lower.strip_prefix("content-length:") {
                                length = value.trim().parse().unwrap();
                            }
                            if line == "\r\n" {
                                break;
                            }
                        }
                        reader.read_exact(&mut vec![0; length]).unwrap();
                        let body = r#"{"id":"x","usage":{"total_tokens":3}}"#;
                        let head =
                            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
                        writer
                            .write_all(format!("{head}{body}").as_bytes())
                            .unwrap();
                    }
                });
            }
        });
        let client = ChatClient::new(
            Endpoint::parse(&url).unwrap(),
            None,
            TokenEstimate::new(16),
            RequestTimeout::Given(Duration::from_secs(10)),
            4,
        );
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        let mut inner = None;
        let mut outer_reports = 0;
        let outer = client
            .send(&body, || {
                outer_reports += 1;
                inner = Some(client.send(&body, || {}));
            })
            .unwrap();
        assert_eq!(outer.billed_tokens, 3);
        assert_eq!(outer_reports, 1, "answered once");
        assert_eq!(
            inner.expect("answered was called").unwrap().billed_tokens,
            3
        );
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "the request sent from `answered` opened a connection of its own"
        );
    }

    #[test]
    fn a_completion_round_trips_through_its_journal_form() {
        let completion = Completion {
            response: json!({"id": "x", "usage": {"total_tokens": 3}}),
            billed_tokens: 7,
            headers: RateLimitHeaders::default(),
        };
        let recorded = serde_json::to_value(&completion).unwrap();
        assert_eq!(
            recorded,
            json!({"response": completion.response, "billed_tokens": 7})
        );
        let back: Completion = serde_json::from_value(recorded).unwrap();
        assert_eq!(
            (back.response, back.billed_tokens),
            (completion.response, 7)
        );
        assert!(serde_json::from_value::<Completion>(json!({"response": {}})).is_err());
    }
}
