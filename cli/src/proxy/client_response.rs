//! Writing answers to a client: a head, then the body as it comes (with a `Content-Length`
//! when the upstream gave one and the body passes unchanged, else chunked), and the proxy's own
//! errors in the OpenAI error format that every SDK shows.

use std::io::{self, Write};

use serde_json::json;

/// How the body of an answer is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Exactly this many bytes follow.
    Length(u64),
    /// Chunked transfer coding: parts written as they come.
    Chunked,
    /// No body (a `HEAD` request, a 204 or 304): the length header, if any, is the upstream's.
    Bodiless,
}

/// Writes one answer's body to the client, in its framing.
pub struct BodyWriter<'a> {
    client: &'a mut dyn Write,
    chunked: bool,
    written: u64,
}

impl<'a> BodyWriter<'a> {
    /// Writes the head: `status`, `headers` (end-to-end ones: the caller filtered them), the
    /// framing header and the connection's fate. The body follows through the writer.
    pub fn start(
        client: &'a mut dyn Write,
        status: u16,
        headers: &[(&str, &[u8])],
        framing: Framing,
        keep_alive: bool,
    ) -> io::Result<BodyWriter<'a>> {
        let reason = ureq::http::StatusCode::from_u16(status)
            .ok()
            .and_then(|status| status.canonical_reason())
            .unwrap_or("");
        let mut head = format!("HTTP/1.1 {status} {reason}\r\n").into_bytes();
        for (name, value) in headers {
            head.extend_from_slice(name.as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value);
            head.extend_from_slice(b"\r\n");
        }
        match framing {
            Framing::Length(length) => {
                head.extend_from_slice(format!("content-length: {length}\r\n").as_bytes());
            }
            Framing::Chunked => head.extend_from_slice(b"transfer-encoding: chunked\r\n"),
            Framing::Bodiless => {}
        }
        if !keep_alive {
            head.extend_from_slice(b"connection: close\r\n");
        }
        head.extend_from_slice(b"\r\n");
        client.write_all(&head)?;
        Ok(BodyWriter {
            client,
            chunked: framing == Framing::Chunked,
            written: 0,
        })
    }

    /// Writes `part` of the body (a chunk of its own when chunked).
    pub fn write(&mut self, part: &[u8]) -> io::Result<()> {
        if part.is_empty() {
            return Ok(());
        }
        self.written += part.len() as u64;
        if self.chunked {
            let mut chunk = Vec::with_capacity(part.len() + 12);
            chunk.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            chunk.extend_from_slice(part);
            chunk.extend_from_slice(b"\r\n");
            self.client.write_all(&chunk)
        } else {
            self.client.write_all(part)
        }
    }

    /// Sends what was written now (a server-sent event is not held back).
    pub fn flush(&mut self) -> io::Result<()> {
        self.client.flush()
    }

    /// Ends the body (the last chunk, when chunked): the bytes of body written.
    pub fn finish(self) -> io::Result<u64> {
        if self.chunked {
            self.client.write_all(b"0\r\n\r\n")?;
        }
        self.client.flush()?;
        Ok(self.written)
    }
}

/// Writes a whole answer with a JSON `body`.
pub fn write_json(
    client: &mut dyn Write,
    status: u16,
    extra_headers: &[(&str, &[u8])],
    body: &str,
    keep_alive: bool,
) -> io::Result<()> {
    let mut headers: Vec<(&str, &[u8])> = vec![("content-type", b"application/json")];
    headers.extend_from_slice(extra_headers);
    let mut writer = BodyWriter::start(
        client,
        status,
        &headers,
        Framing::Length(body.len() as u64),
        keep_alive,
    )?;
    writer.write(body.as_bytes())?;
    writer.finish().map(drop)
}

/// The proxy's own error, as OpenAI writes errors: `{"error": {"message", "type", "code"}}`
/// (type `tollgate_proxy_error`). `message` never holds a header's value.
pub fn error_body(message: &str, code: &str) -> String {
    json!({"error": {"message": format!("tollgate proxy: {message}"), "type": "tollgate_proxy_error", "param": null, "code": code}})
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_framed_and_ended() {
        let mut out = Vec::new();
        let mut writer = BodyWriter::start(
            &mut out,
            200,
            &[("content-type", b"text/event-stream")],
            Framing::Chunked,
            false,
        )
        .unwrap();
        writer.write(b"data: 1\n\n").unwrap();
        writer.write(b"").unwrap();
        assert_eq!(writer.finish().unwrap(), 9);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: \
             chunked\r\nconnection: close\r\n\r\n9\r\ndata: 1\n\n\r\n0\r\n\r\n"
        );
    }

    #[test]
    fn errors_are_json_with_a_length() {
        let mut out = Vec::new();
        write_json(
            &mut out,
            413,
            &[],
            &error_body("too big", "body_too_large"),
            true,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
            "{text}"
        );
        let body = text.split("\r\n\r\n").nth(1).unwrap();
        let error: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(error["error"]["code"], "body_too_large");
        assert!(text.contains(&format!("content-length: {}\r\n", body.len())));
    }
}
