//! Reading a client's requests off its connection: the head parsed by `httparse` within a size
//! limit and a timeout, then the body (`Content-Length` or chunked) within the body limit.
//!
//! Nothing is reserved before a request has been read whole: a client that sends its head or
//! body slowly (slowloris) holds a connection thread until the timeout, never quota.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The largest request head (request line and headers) read: beyond, 431.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The most headers a request may have: beyond, 431.
const MAX_HEADERS: usize = 128;
/// How often a connection waiting for a request looks whether the proxy stops.
const STOP_POLL: Duration = Duration::from_millis(100);
/// How long a kept-alive connection may stay silent between two requests.
const KEEP_ALIVE_IDLE: Duration = Duration::from_secs(30);
/// A body must arrive at least this fast: its deadline is the header timeout per MiB.
const BODY_BYTES_PER_TIMEOUT: u64 = 1024 * 1024;

/// One request, read whole.
#[derive(Debug)]
pub struct ClientRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path and query in origin form (`/v1/models?x=1`), whatever form the client wrote:
    /// the scheme and host of an absolute URL are dropped (they never choose the destination).
    pub target: String,
    /// The headers, names in lowercase, in the order sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
    /// Whether the connection may carry another request after this one.
    pub keep_alive: bool,
}

impl ClientRequest {
    /// The path, without the query (what is logged and routed on).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// Every value of header `name` (lowercase), joined by commas (a list header, such as
    /// `connection`, may be sent several times).
    pub fn header_list(&self, name: &str) -> Vec<u8> {
        let values: Vec<&[u8]> = self
            .headers
            .iter()
            .filter(|(header, _)| header == name)
            .map(|(_, value)| value.as_slice())
            .collect();
        values.join(&b","[..])
    }

    /// The value of header `name` (lowercase), the last one if sent several times.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .rev()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_slice())
    }
}

/// Why no request could be read.
#[derive(Debug)]
pub enum RequestError {
    /// The client closed the connection (or stayed silent, or the proxy stops) between
    /// requests: nothing to answer.
    Closed,
    /// The head or body did not arrive in time: 408, then closed.
    TimedOut,
    /// The head is larger than [`MAX_HEAD_BYTES`] or has too many headers: 431.
    HeadTooLarge,
    /// The body is larger than the limit: 413.
    BodyTooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// Not an HTTP/1.x request the proxy can forward: 400 with the reason.
    Malformed(&'static str),
    /// The connection failed.
    Io(io::Error),
}

impl RequestError {
    /// The status and message to answer with, if the client is still there to read one.
    pub fn answer(&self) -> Option<(u16, String)> {
        match self {
            RequestError::Closed | RequestError::Io(_) => None,
            RequestError::TimedOut => Some((408, "the request did not arrive in time".into())),
            RequestError::HeadTooLarge => Some((
                431,
                format!("the request head exceeds {MAX_HEAD_BYTES} bytes or {MAX_HEADERS} headers"),
            )),
            RequestError::BodyTooLarge { limit } => Some((
                413,
                format!("the request body exceeds {limit} bytes (the proxy's --max-body-bytes)"),
            )),
            RequestError::Malformed(why) => Some((400, format!("malformed request: {why}"))),
        }
    }
}

/// The limits a request is read within.
#[derive(Clone, Copy, Debug)]
pub struct RequestLimits {
    /// How long a head may take from its first byte (and a connection's first request from
    /// its accept), and a body per MiB.
    pub header_timeout: Duration,
    /// The largest body.
    pub max_body_bytes: u64,
}

/// Reads the requests of one connection, one after another (bytes of the next one read early
/// are kept for it).
pub struct RequestReader {
    stream: TcpStream,
    buffer: Vec<u8>,
    served: u64,
}

impl RequestReader {
    /// A reader of `stream`'s requests.
    pub fn new(stream: TcpStream) -> RequestReader {
        RequestReader {
            stream,
            buffer: Vec::new(),
            served: 0,
        }
    }

    /// The connection, to answer on.
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// The next request. While no byte of it has come, `stopping` ends the wait
    /// ([`RequestError::Closed`]).
    pub fn next(
        &mut self,
        limits: RequestLimits,
        stopping: &AtomicBool,
    ) -> Result<ClientRequest, RequestError> {
        let first = self.served == 0;
        self.served += 1;
        // A new connection's first request must come within the header timeout (a client that
        // connects and says nothing is a slowloris too); a kept-alive one may idle longer.
        let idle = if first {
            limits.header_timeout
        } else {
            KEEP_ALIVE_IDLE
        };
        let waiting_since = Instant::now();
        while self.buffer.is_empty() {
            if self.fill(waiting_since + idle, Some(stopping))? == 0 {
                return Err(RequestError::Closed);
            }
        }
        let head_deadline = Instant::now() + limits.header_timeout;
        let (head_length, mut request, framing) = loop {
            if let Some(parsed) = parse_head(&self.buffer)? {
                break parsed;
            }
            if self.buffer.len() >= MAX_HEAD_BYTES {
                return Err(RequestError::HeadTooLarge);
            }
            if self.fill(head_deadline, None)? == 0 {
                return Err(RequestError::Closed);
            }
        };
        self.buffer.drain(..head_length);
        if let Framing::Length(length) = framing {
            if length > limits.max_body_bytes {
                return Err(RequestError::BodyTooLarge {
                    limit: limits.max_body_bytes,
                });
            }
        }
        let expects_continue = request
            .header("expect")
            .is_some_and(|value| value.eq_ignore_ascii_case(b"100-continue"));
        if expects_continue && framing != Framing::Length(0) {
            self.stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .map_err(RequestError::Io)?;
        }
        let per_timeout = match framing {
            Framing::Length(length) => length,
            Framing::Chunked => limits.max_body_bytes,
        } / BODY_BYTES_PER_TIMEOUT;
        let body_deadline = Instant::now()
            + limits
                .header_timeout
                .saturating_mul(u32::try_from(per_timeout + 1).unwrap_or(u32::MAX));
        request.body = match framing {
            Framing::Length(length) => {
                let length = usize::try_from(length).unwrap_or(usize::MAX);
                self.take_exactly(length, body_deadline)?
            }
            Framing::Chunked => self.take_chunked(limits.max_body_bytes, body_deadline)?,
        };
        Ok(request)
    }

    /// Reads more bytes into the buffer before `deadline`: how many (0 at the end of the
    /// stream). With `stopping`, gives up ([`RequestError::Closed`]) once it is set.
    fn fill(
        &mut self,
        deadline: Instant,
        stopping: Option<&AtomicBool>,
    ) -> Result<usize, RequestError> {
        let mut chunk = [0_u8; 16 * 1024];
        loop {
            if stopping.is_some_and(|stopping| stopping.load(Ordering::SeqCst)) {
                return Err(RequestError::Closed);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(match stopping {
                    Some(_) if self.served > 1 => RequestError::Closed,
                    _ => RequestError::TimedOut,
                });
            }
            self.stream
                .set_read_timeout(Some(left.min(STOP_POLL)))
                .map_err(RequestError::Io)?;
            match self.stream.read(&mut chunk) {
                Ok(read) => {
                    self.buffer.extend_from_slice(&chunk[..read]);
                    return Ok(read);
                }
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(err) => return Err(RequestError::Io(err)),
            }
        }
    }

    /// The next `length` bytes.
    fn take_exactly(&mut self, length: usize, deadline: Instant) -> Result<Vec<u8>, RequestError> {
        while self.buffer.len() < length {
            if self.fill(deadline, None)? == 0 {
                return Err(RequestError::Malformed("the body ended before its length"));
            }
        }
        Ok(self.buffer.drain(..length).collect())
    }

    /// A line ending in CRLF (without it), at most 4 KiB.
    fn take_line(&mut self, deadline: Instant) -> Result<Vec<u8>, RequestError> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|pair| pair == b"\r\n") {
                let line = self.buffer[..end].to_vec();
                self.buffer.drain(..end + 2);
                return Ok(line);
            }
            if self.buffer.len() > 4096 {
                return Err(RequestError::Malformed("a chunk size line is too long"));
            }
            if self.fill(deadline, None)? == 0 {
                return Err(RequestError::Malformed("the chunked body ended early"));
            }
        }
    }

    /// A chunked body, de-chunked, at most `limit` bytes (trailers are dropped).
    fn take_chunked(&mut self, limit: u64, deadline: Instant) -> Result<Vec<u8>, RequestError> {
        let mut body = Vec::new();
        loop {
            let line = self.take_line(deadline)?;
            let size = std::str::from_utf8(&line)
                .ok()
                .and_then(|line| line.split(';').next())
                .and_then(|size| u64::from_str_radix(size.trim(), 16).ok())
                .ok_or(RequestError::Malformed("a chunk size is not hexadecimal"))?;
            if size == 0 {
                while !self.take_line(deadline)?.is_empty() {}
                return Ok(body);
            }
            if (body.len() as u64).saturating_add(size) > limit {
                return Err(RequestError::BodyTooLarge { limit });
            }
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            let chunk = self.take_exactly(size + 2, deadline)?;
            if !chunk.ends_with(b"\r\n") {
                return Err(RequestError::Malformed("a chunk does not end with CRLF"));
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
}

/// How a request's body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
}

/// The head at the start of `buffer`, if complete: its length, the request (without body) and
/// how its body is delimited.
fn parse_head(buffer: &[u8]) -> Result<Option<(usize, ClientRequest, Framing)>, RequestError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let length = match parsed.parse(buffer) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(RequestError::HeadTooLarge),
        Err(_) => return Err(RequestError::Malformed("not an HTTP/1.x request head")),
    };
    let method = parsed.method.unwrap_or_default().to_owned();
    let target = origin_form(parsed.path.unwrap_or_default())?;
    let headers: Vec<(String, Vec<u8>)> = parsed
        .headers
        .iter()
        .map(|header| (header.name.to_ascii_lowercase(), header.value.to_vec()))
        .collect();
    let mut request = ClientRequest {
        method,
        target,
        headers,
        body: Vec::new(),
        keep_alive: false,
    };
    let closes = request
        .header_list("connection")
        .split(|byte| *byte == b',')
        .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"));
    request.keep_alive = parsed.version == Some(1) && !closes;
    let lengths: Vec<&[u8]> = request
        .headers
        .iter()
        .filter(|(name, _)| name == "content-length")
        .map(|(_, value)| value.as_slice())
        .collect();
    let framing = match (request.header("transfer-encoding"), lengths.as_slice()) {
        (Some(_), [_, ..]) => {
            return Err(RequestError::Malformed(
                "both Transfer-Encoding and Content-Length",
            ))
        }
        (Some(coding), []) if coding.trim_ascii().eq_ignore_ascii_case(b"chunked") => {
            Framing::Chunked
        }
        (Some(_), []) => {
            return Err(RequestError::Malformed(
                "a transfer coding other than chunked",
            ))
        }
        (None, []) => Framing::Length(0),
        (None, [first, rest @ ..]) => {
            if rest.iter().any(|other| other != first) {
                return Err(RequestError::Malformed("differing Content-Length headers"));
            }
            let length = std::str::from_utf8(first)
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok())
                .ok_or(RequestError::Malformed("Content-Length is not a number"))?;
            Framing::Length(length)
        }
    };
    Ok(Some((length, request, framing)))
}

/// `target` in origin form: as it is when it starts with `/`; the path of an absolute URL
/// (`http://elsewhere/v1/x` is `/v1/x`: the proxy forwards only to its upstream).
fn origin_form(target: &str) -> Result<String, RequestError> {
    if target.starts_with('/') {
        return Ok(target.to_owned());
    }
    let Some((scheme, rest)) = target.split_once("://") else {
        return Err(RequestError::Malformed(
            "the request target is neither a path nor an absolute URL",
        ));
    };
    if scheme.is_empty() || !scheme.bytes().all(|byte| byte.is_ascii_alphabetic()) {
        return Err(RequestError::Malformed("the request target's scheme"));
    }
    Ok(match rest.find(['/', '?']) {
        Some(start) if rest[start..].starts_with('/') => rest[start..].to_owned(),
        Some(start) => format!("/{}", &rest[start..]),
        None => "/".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_urls_lose_their_host() {
        assert_eq!(origin_form("/v1/models").unwrap(), "/v1/models");
        assert_eq!(
            origin_form("http://evil.example/v1/chat/completions?x=1").unwrap(),
            "/v1/chat/completions?x=1"
        );
        assert_eq!(origin_form("https://evil.example").unwrap(), "/");
        assert_eq!(origin_form("http://evil.example?q").unwrap(), "/?q");
        assert!(origin_form("evil.example:443").is_err());
        assert!(origin_form("*").is_err());
    }

    #[test]
    fn heads_are_parsed_with_their_framing() {
        let head = b"POST http://x/v1/a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
        let (length, request, framing) = parse_head(head).unwrap().unwrap();
        assert_eq!(length, head.len() - 5);
        assert_eq!((request.method.as_str(), request.path()), ("POST", "/v1/a"));
        assert_eq!(framing, Framing::Length(5));
        assert!(request.keep_alive);
        assert!(parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .unwrap()
            .is_none());
        let smuggled =
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n";
        assert!(matches!(
            parse_head(smuggled),
            Err(RequestError::Malformed(_))
        ));
        let closing = b"GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n";
        assert!(!parse_head(closing).unwrap().unwrap().1.keep_alive);
        let old = b"GET / HTTP/1.0\r\n\r\n";
        assert!(!parse_head(old).unwrap().unwrap().1.keep_alive);
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "a: b\r\n".repeat(MAX_HEADERS + 1)
        );
        assert!(matches!(
            parse_head(many.as_bytes()),
            Err(RequestError::HeadTooLarge)
        ));
    }
}
