//! A small HTTP client over `ureq`, shared by the integration tests.

#![allow(dead_code)] // each test file uses a part of it

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

/// An answer: status, headers (lower-case names), body (JSON, or `Value::Null` if not JSON) and
/// the raw body text.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub json: Value,
    pub text: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// A header that must be there, parsed as a number.
    pub fn number(&self, name: &str) -> u64 {
        let value = self
            .header(name)
            .unwrap_or_else(|| panic!("no {name} header in {self:?}"));
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}: {value:?} is not a whole number"))
    }

    /// A Go-duration header that must be there (`1s`, `20ms`, `2m59.56s`, `0s`).
    pub fn go_duration(&self, name: &str) -> Duration {
        let value = self
            .header(name)
            .unwrap_or_else(|| panic!("no {name} header in {self:?}"));
        parse_go_duration(value).unwrap_or_else(|| panic!("{name}: {value:?} is not a Go duration"))
    }
}

/// Parses the Go durations the mock writes: `[Nh][Nm]N[.N]s` or `Nms`.
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    if let Some(ms) = text.strip_suffix("ms") {
        return ms.parse().ok().map(Duration::from_millis);
    }
    let mut rest = text.strip_suffix('s')?;
    let mut total = Duration::ZERO;
    if let Some((hours, tail)) = rest.split_once('h') {
        total += Duration::from_secs(hours.parse::<u64>().ok()? * 3_600);
        rest = tail;
    }
    if let Some((minutes, tail)) = rest.split_once('m') {
        total += Duration::from_secs(minutes.parse::<u64>().ok()? * 60);
        rest = tail;
    }
    let seconds: f64 = rest.parse().ok()?;
    Some(total + Duration::from_secs_f64(seconds))
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

pub fn answer(mut response: ureq::http::Response<ureq::Body>) -> Answer {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_ascii_lowercase(),
                value.to_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let text = response.body_mut().read_to_string().expect("a body");
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        json,
        text,
    }
}

pub fn post(agent: &ureq::Agent, url: &str, body: &str) -> Answer {
    answer(
        agent
            .post(url)
            .header("content-type", "application/json")
            .send(body)
            .expect("the request goes through"),
    )
}

pub fn get(agent: &ureq::Agent, url: &str) -> Answer {
    answer(agent.get(url).call().expect("the request goes through"))
}

/// A chat completions body with one user message and an optional `max_tokens`.
pub fn chat_body(content: &str, max_tokens: Option<u64>) -> String {
    let mut body = serde_json::json!({
        "model": "gpt-mock",
        "messages": [{"role": "user", "content": content}],
    });
    if let Some(max_tokens) = max_tokens {
        body["max_tokens"] = max_tokens.into();
    }
    body.to_string()
}

/// A streamed answer: status, headers, and each server-sent event (its `event:` name if any,
/// its `data:`) with the time it arrived, from just before the request was sent.
#[derive(Debug)]
pub struct Streamed {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub events: Vec<Event>,
    /// The whole body as text.
    pub text: String,
}

/// One server-sent event.
#[derive(Debug)]
pub struct Event {
    pub at: std::time::Duration,
    pub name: Option<String>,
    pub data: String,
}

impl Event {
    /// The data as JSON (`Value::Null` for `[DONE]`).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}

impl Streamed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// Posts `body` to `url` with `headers` and reads the answer line by line as it arrives.
pub fn post_streamed(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Streamed {
    use std::io::BufRead;
    let begun = std::time::Instant::now();
    let mut request = agent.post(url).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send(body).expect("the request goes through");
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_ascii_lowercase(),
                value.to_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let mut reader = std::io::BufReader::new(response.into_body().into_reader());
    let (mut events, mut text) = (Vec::new(), String::new());
    let (mut name, mut data) = (None, None::<String>);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).expect("the body reads") == 0 {
            break;
        }
        text.push_str(&line);
        let line = line.trim_end_matches('\n');
        if line.is_empty() {
            if let Some(data) = data.take() {
                events.push(Event {
                    at: begun.elapsed(),
                    name: name.take(),
                    data,
                });
            }
        } else if let Some(value) = line.strip_prefix("event: ") {
            name = Some(value.to_owned());
        } else if let Some(value) = line.strip_prefix("data: ") {
            data = Some(value.to_owned());
        }
    }
    Streamed {
        status,
        headers,
        events,
        text,
    }
}
