//! The upstream forwarder: a client's request sent to the one configured upstream (ureq,
//! blocking; rustls with verified certificates for https), its end-to-end headers copied, the
//! answer's body left as a stream for the caller to pass on as it arrives.

use std::time::Duration;

use ureq::config::AutoHeaderValue;
use ureq::http::{self, HeaderName, HeaderValue};

use super::client_request::ClientRequest;
use crate::chat::{Endpoint, RequestTimeout};

/// Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1), plus those the
/// proxy sets itself: `host` (the upstream's), the body's length and coding (the proxy frames
/// each side), `expect` (answered by the proxy) and `accept-encoding` (answers come uncompressed,
/// so that their usage can be read).
const NOT_FORWARDED: [&str; 13] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "expect",
    "accept-encoding",
];

/// Whether header `name` (lowercase) of a message whose `connection` header is `connection`
/// passes to the other side.
pub fn end_to_end(name: &str, connection: Option<&[u8]>) -> bool {
    if NOT_FORWARDED.contains(&name) {
        return false;
    }
    // Headers the Connection header names are hop-by-hop too.
    !connection.is_some_and(|listed| {
        listed
            .split(|byte| *byte == b',')
            .any(|token| token.trim_ascii().eq_ignore_ascii_case(name.as_bytes()))
    })
}

/// The buffer an upstream connection reads into, and the largest answer head it takes.
const UPSTREAM_INPUT_BUFFER: usize = 32 * 1024;

/// Sends requests to the upstream.
pub struct Upstream {
    agent: ureq::Agent,
    /// The base URL, without a trailing `/`: a request's path is appended.
    base: String,
    /// The key sent instead of the client's, if any.
    api_key: Option<String>,
    timeout: RequestTimeout,
}

/// A request that got no answer from the upstream.
#[derive(Debug)]
pub struct UpstreamError {
    /// Whether the request may have reached the upstream (it may be counted there).
    pub reached: bool,
    /// Whether it timed out (504 rather than 502).
    pub timed_out: bool,
    /// Why, in words that hold no URL, header or key.
    pub message: String,
}

impl Upstream {
    /// A forwarder to `endpoint`, replacing the client's key by `api_key` if given, each
    /// answer awaited as `timeout` says, keeping up to `connections` connections open.
    pub fn new(
        endpoint: &Endpoint,
        api_key: Option<String>,
        timeout: RequestTimeout,
        connections: usize,
    ) -> Upstream {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // A redirect is the client's to follow (to the proxy again), not the proxy's.
            .max_redirects(0)
            // Only what the client sent: no user-agent or accept of the proxy's own.
            .user_agent(AutoHeaderValue::None)
            .accept(AutoHeaderValue::None)
            .accept_encoding(AutoHeaderValue::None)
            .max_idle_connections(connections)
            .max_idle_connections_per_host(connections)
            // ureq fills each connection's buffers whole (128 KiB each way by default): with
            // hundreds of streams open, 32 KiB in (an answer's head fits: providers send 2 KiB)
            // and 16 KiB out keep a connection's memory small.
            .input_buffer_size(UPSTREAM_INPUT_BUFFER)
            .max_response_header_size(UPSTREAM_INPUT_BUFFER)
            .output_buffer_size(16 * 1024)
            .build()
            .into();
        Upstream {
            agent,
            base: endpoint.as_str().trim_end_matches('/').to_owned(),
            api_key,
            timeout,
        }
    }

    /// Sends `request` with `body` (the client's, or rewritten) to the upstream; waits for the
    /// answer's head, at most the timeout of a request allowing `completion_tokens`.
    ///
    /// # Errors
    /// [`UpstreamError`] when no answer came.
    pub fn send(
        &self,
        request: &ClientRequest,
        body: &[u8],
        completion_tokens: u64,
    ) -> Result<http::Response<ureq::Body>, UpstreamError> {
        let timeout = self.timeout.for_request(completion_tokens);
        let mut builder = http::Request::builder()
            .method(request.method.as_str())
            .uri(format!("{}{}", self.base, request.target));
        let connection = request.header_list("connection");
        let mut key_sent = false;
        for (name, value) in &request.headers {
            if !end_to_end(name, Some(&connection)) {
                continue;
            }
            let value = match (&self.api_key, name.as_str()) {
                (Some(key), "authorization") => format!("Bearer {key}").into_bytes(),
                (Some(key), "x-api-key" | "api-key") => key.clone().into_bytes(),
                _ => value.clone(),
            };
            key_sent |= matches!(name.as_str(), "authorization" | "x-api-key" | "api-key");
            builder = builder.header(name.as_str(), value);
        }
        if let (Some(key), false) = (&self.api_key, key_sent) {
            builder = if request.path().ends_with("/v1/messages") {
                builder.header("x-api-key", key.as_str())
            } else {
                builder.header("authorization", format!("Bearer {key}"))
            };
        }
        let failed = |message: &str| UpstreamError {
            reached: false,
            timed_out: false,
            message: message.to_owned(),
        };
        let sent =
            if body.is_empty() && !matches!(request.method.as_str(), "POST" | "PUT" | "PATCH") {
                let built = builder.body(()).map_err(|_| {
                    failed("the request's method, path or a header cannot be forwarded")
                })?;
                self.run(built, timeout)
            } else {
                let built = builder.body(body).map_err(|_| {
                    failed("the request's method, path or a header cannot be forwarded")
                })?;
                self.run(built, timeout)
            };
        sent.map_err(|err| described(&err, timeout))
    }

    fn run(
        &self,
        request: http::Request<impl ureq::AsSendBody>,
        timeout: Duration,
    ) -> Result<http::Response<ureq::Body>, ureq::Error> {
        use ureq::RequestExt;
        request
            .with_agent(&self.agent)
            .configure()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(RequestTimeout::connect(timeout)))
            .build()
            .run()
    }
}

/// The headers of an answer that pass to the client (hop-by-hop ones and the framing dropped).
pub fn answer_headers(headers: &http::HeaderMap) -> Vec<(&str, &[u8])> {
    let connection: Vec<u8> = headers
        .get_all("connection")
        .iter()
        .map(HeaderValue::as_bytes)
        .collect::<Vec<&[u8]>>()
        .join(&b","[..]);
    headers
        .iter()
        .map(|(name, value): (&HeaderName, &HeaderValue)| (name.as_str(), value.as_bytes()))
        .filter(|(name, _)| end_to_end(name, Some(&connection)))
        .collect()
}

/// Why no answer came, in words holding no URL (whose query may carry a key) or header.
fn described(err: &ureq::Error, timeout: Duration) -> UpstreamError {
    use std::io::ErrorKind;
    use ureq::Timeout;
    let not_reached = |message: String| UpstreamError {
        reached: false,
        timed_out: false,
        message,
    };
    match err {
        ureq::Error::Timeout(Timeout::Resolve | Timeout::Connect) => UpstreamError {
            timed_out: true,
            ..not_reached(format!(
                "could not connect to the upstream within {:.0?}",
                RequestTimeout::connect(timeout)
            ))
        },
        ureq::Error::Timeout(_) => UpstreamError {
            reached: true,
            timed_out: true,
            message: format!(
                "the upstream did not answer within {timeout:.0?} (raise the proxy's --timeout)"
            ),
        },
        ureq::Error::HostNotFound => not_reached("the upstream's host name is not found".into()),
        ureq::Error::ConnectionFailed => not_reached("cannot connect to the upstream".into()),
        ureq::Error::Io(io) if io.kind() == ErrorKind::ConnectionRefused => {
            not_reached("the upstream refused the connection: nothing listens there".into())
        }
        ureq::Error::Tls(_) => not_reached(format!("TLS with the upstream failed: {err}")),
        // rustls reports a handshake refused (an invalid certificate) as invalid data, before
        // anything is sent (a malformed answer is a protocol error).
        ureq::Error::Io(io) if io.kind() == ErrorKind::InvalidData => {
            not_reached(format!("TLS with the upstream failed: {io}"))
        }
        #[cfg(feature = "https")]
        ureq::Error::Rustls(_) => not_reached(format!("TLS with the upstream failed: {err}")),
        ureq::Error::Io(io) => UpstreamError {
            reached: true,
            timed_out: false,
            message: format!("the exchange with the upstream failed: {io}"),
        },
        ureq::Error::Protocol(_) | ureq::Error::LargeResponseHeader(..) => UpstreamError {
            reached: true,
            timed_out: false,
            message: format!("the upstream's answer is not valid HTTP: {err}"),
        },
        _ => UpstreamError {
            reached: true,
            timed_out: false,
            message: "the exchange with the upstream failed".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_stay_on_their_side() {
        assert!(end_to_end("authorization", None));
        assert!(end_to_end("x-api-key", Some(b"keep-alive")));
        for name in [
            "connection",
            "transfer-encoding",
            "host",
            "proxy-authorization",
        ] {
            assert!(!end_to_end(name, None), "{name}");
        }
        assert!(!end_to_end("x-trace", Some(b"keep-alive, X-Trace")));
    }
}
