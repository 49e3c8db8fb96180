//! An answer's body passed on to the client as it arrives, its usage read on the way: a
//! server-sent event stream event by event (each sent at once, the usage taken from the events
//! that carry one, the usage chunk the proxy asked for hidden from a client that did not), any
//! other body part by part (its usage read from the JSON once whole).

use std::io::{self, Read};

use serde_json::Value;

use super::client_response::BodyWriter;
use super::request_cost::TokenUsage;

/// The most of a JSON answer kept to read its usage from; a larger answer passes whole but is
/// billed its estimate.
const KEPT_FOR_USAGE: usize = 8 * 1024 * 1024;

/// What passing a body on found.
#[derive(Debug, Default)]
pub struct Relayed {
    /// The usage the answer reported.
    pub usage: Option<TokenUsage>,
    /// Bytes the client was sent.
    pub bytes: u64,
    /// Why the body stopped before its end, if it did (the upstream or the client failed).
    pub broken: Option<String>,
}

/// Passes `body` on to `client` as it arrives: as server-sent events when `events` (hiding the
/// usage-only chunk when `hide_usage_chunk`), else as it comes.
pub fn relay(
    body: &mut dyn Read,
    mut client: BodyWriter<'_>,
    events: bool,
    hide_usage_chunk: bool,
) -> Relayed {
    let mut relayed = Relayed::default();
    let mut events = events.then(|| EventSplitter::new(hide_usage_chunk));
    let mut kept = Vec::new();
    let mut chunk = vec![0_u8; 16 * 1024];
    loop {
        let read = match body.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => {
                relayed.broken = Some(format!("the upstream's body failed: {err}"));
                break;
            }
        };
        let part = &chunk[..read];
        let passed = match &mut events {
            Some(splitter) => {
                let out = splitter.push(part, &mut relayed.usage);
                client.write(&out).and_then(|()| client.flush())
            }
            None => {
                if kept.len() + part.len() <= KEPT_FOR_USAGE {
                    kept.extend_from_slice(part);
                }
                client.write(part)
            }
        };
        if let Err(err) = passed {
            relayed.broken = Some(format!("the client went away: {err}"));
            break;
        }
    }
    if let Some(splitter) = &mut events {
        let rest = splitter.finish(&mut relayed.usage);
        if relayed.broken.is_none() {
            if let Err(err) = client.write(&rest) {
                relayed.broken = Some(format!("the client went away: {err}"));
            }
        }
    } else if kept.len() < KEPT_FOR_USAGE {
        relayed.usage = serde_json::from_slice::<Value>(&kept)
            .ok()
            .and_then(|answer| TokenUsage::in_body(&answer));
    }
    match client.finish() {
        Ok(bytes) => relayed.bytes = bytes,
        Err(err) => {
            relayed
                .broken
                .get_or_insert(format!("the client went away: {err}"));
        }
    }
    relayed
}

/// Splits a server-sent event stream into whole events as its bytes come.
struct EventSplitter {
    pending: Vec<u8>,
    hide_usage_chunk: bool,
}

impl EventSplitter {
    fn new(hide_usage_chunk: bool) -> EventSplitter {
        EventSplitter {
            pending: Vec::new(),
            hide_usage_chunk,
        }
    }

    /// Takes `part` of the stream: the whole events it completes, to pass on (the hidden one
    /// left out); the usage they report goes into `usage`.
    fn push(&mut self, part: &[u8], usage: &mut Option<TokenUsage>) -> Vec<u8> {
        self.pending.extend_from_slice(part);
        let mut out = Vec::with_capacity(self.pending.len());
        let mut start = 0;
        while let Some(end) = event_end(&self.pending[start..]) {
            let event = &self.pending[start..start + end];
            if self.read_event(event, usage) {
                out.extend_from_slice(event);
            }
            start += end;
        }
        self.pending.drain(..start);
        out
    }

    /// What is left at the end of the stream (an event without its blank line), to pass on.
    fn finish(&mut self, usage: &mut Option<TokenUsage>) -> Vec<u8> {
        let rest = std::mem::take(&mut self.pending);
        if rest.is_empty() || self.read_event(&rest, usage) {
            rest
        } else {
            Vec::new()
        }
    }

    /// Reads the usage of `event`, if any, into `usage`; whether the event passes on.
    fn read_event(&self, event: &[u8], usage: &mut Option<TokenUsage>) -> bool {
        let data = event_data(event);
        if !data.windows(7).any(|window| window == b"\"usage\"") {
            return true;
        }
        let Ok(payload) = serde_json::from_slice::<Value>(&data) else {
            return true;
        };
        let Some(reported) = TokenUsage::in_body(&payload) else {
            return true;
        };
        *usage = Some(usage.unwrap_or_default().updated(reported));
        // The chunk include_usage adds: no choices, only the usage.
        let usage_only = payload["choices"].as_array().is_some_and(Vec::is_empty);
        !(self.hide_usage_chunk && usage_only)
    }
}

/// The length of the first whole event of `bytes` (up to and including the blank line that
/// ends it), if there is one.
fn event_end(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(newline) = bytes[at..].iter().position(|byte| *byte == b'\n') {
        let after = at + newline + 1;
        match bytes.get(after..) {
            Some([b'\n', ..]) => return Some(after + 1),
            Some([b'\r', b'\n', ..]) => return Some(after + 2),
            _ => at = after,
        }
    }
    None
}

/// The data of an event: its `data:` lines' values, joined by newlines.
fn event_data(event: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    for line in event.split(|byte| *byte == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(value) = line.strip_prefix(b"data:") {
            if !data.is_empty() {
                data.push(b'\n');
            }
            data.extend_from_slice(value.strip_prefix(b" ").unwrap_or(value));
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::client_response::Framing;

    const STREAM: &str = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n\
                          data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\n\
                          data: [DONE]\n\n";

    fn passed(stream: &str, hide: bool, part: usize) -> (Relayed, String) {
        let mut out = Vec::new();
        let writer = BodyWriter::start(&mut out, 200, &[], Framing::Chunked, true).unwrap();
        // One byte at a time, or in larger parts: events split anywhere are whole when passed.
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.1.min(self.0.len()).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let relayed = relay(&mut Trickle(stream.as_bytes(), part), writer, true, hide);
        let text = String::from_utf8(out).unwrap();
        let body = text.split_once("\r\n\r\n").unwrap().1;
        // De-chunk.
        let mut plain = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let size = usize::from_str_radix(size, 16).unwrap();
            plain.push_str(&after[..size]);
            rest = &after[size + 2..];
        }
        (relayed, plain)
    }

    #[test]
    fn the_usage_chunk_is_read_and_hidden_only_when_asked() {
        for part in [1, 7, 4096] {
            let (relayed, plain) = passed(STREAM, true, part);
            assert_eq!(relayed.usage.unwrap().total, Some(5));
            assert!(!plain.contains("prompt_tokens"), "{plain}");
            assert!(plain.contains("\"hi\"") && plain.ends_with("data: [DONE]\n\n"));
            let (shown, plain) = passed(STREAM, false, part);
            assert_eq!(shown.usage.unwrap().input, Some(3));
            assert_eq!(plain, STREAM);
        }
    }

    #[test]
    fn events_end_at_a_blank_line_of_any_line_ending() {
        assert_eq!(event_end(b"data: x\n\ndata: y"), Some(9));
        assert_eq!(event_end(b"data: x\r\n\r\nrest"), Some(11));
        assert_eq!(event_end(b"data: x\n"), None);
        assert_eq!(
            event_data(b"event: e\r\ndata: a\r\ndata:b\r\n\r\n"),
            b"a\nb"
        );
    }

    #[test]
    fn anthropic_streams_report_input_first_and_output_last() {
        let stream = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n\
                      event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}\n\n";
        let (relayed, plain) = passed(stream, false, 5);
        assert_eq!(
            relayed.usage,
            Some(TokenUsage {
                input: Some(9),
                output: Some(15),
                total: None
            })
        );
        assert_eq!(plain, stream);
    }
}
