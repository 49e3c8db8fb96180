//! A loopback HTTP server with quotas counted at arrival, for the arrival-billing workloads
//! (`examples/arrival_billing.rs`, `benches/runner.rs`).
//!
//! `GET /call/{points}/{ms}` costs one request and `points` points, counted in exact sliding
//! windows from the instant the request arrived; over either quota it answers 429 at once with
//! `retry-after-ms` (the wait until room frees). Accepted, it answers as a streamed LLM answer
//! does: the status and headers at once, the body `ms` milliseconds after the arrival (or,
//! with `headers_early: false`, everything after `ms`, as a non-streamed answer). One thread per
//! connection, kept alive.

#![allow(dead_code)] // each user of this module uses a part of it

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The server's quotas and how it answers.
#[derive(Clone, Copy, Debug)]
pub struct QuotaConfig {
    pub requests_per_window: u64,
    pub points_per_window: u64,
    pub window: Duration,
    /// Send the status and headers at arrival, the body after the call's duration (a streamed
    /// answer); `false`: everything after the duration.
    pub headers_early: bool,
}

/// What the server has seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuotaStats {
    pub accepted: u64,
    pub rejected: u64,
}

#[derive(Default)]
struct Window {
    /// `(arrival, points)` of the accepted requests of the last window.
    log: VecDeque<(Instant, u64)>,
    stats: QuotaStats,
}

/// The running server (it serves until the process ends).
pub struct QuotaServer {
    url: String,
    state: Arc<Mutex<Window>>,
}

impl QuotaServer {
    pub fn start(config: QuotaConfig) -> std::io::Result<QuotaServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(Mutex::new(Window::default()));
        let shared = Arc::clone(&state);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&shared);
                thread::spawn(move || serve(stream, config, &shared));
            }
        });
        Ok(QuotaServer { url, state })
    }

    /// The URL of a call of `points` points lasting `ms` milliseconds from its arrival.
    pub fn call_url(&self, points: u64, ms: u64) -> String {
        format!("{}/call/{points}/{ms}", self.url)
    }

    /// What it has seen so far.
    pub fn stats(&self) -> QuotaStats {
        self.state.lock().unwrap().stats
    }
}

/// Serves one connection's requests until the client closes it.
fn serve(stream: TcpStream, config: QuotaConfig, state: &Mutex<Window>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    writer.set_nodelay(true).ok();
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" {
                break;
            }
        }
        let arrival = Instant::now();
        let mut parts = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .split('/');
        let (points, ms) = match (parts.nth(2), parts.next()) {
            (Some(points), Some(ms)) => (points.parse().unwrap_or(0), ms.parse().unwrap_or(0)),
            _ => (0, 0),
        };
        let answer = match admit(config, state, arrival, points) {
            Err(wait) => {
                let head = format!(
                    "HTTP/1.1 429 Too Many Requests\r\nretry-after-ms: {}\r\ncontent-length: 0\r\n\r\n",
                    wait.as_millis()
                );
                writer.write_all(head.as_bytes())
            }
            Ok(()) => {
                let head = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n";
                let done = arrival + Duration::from_millis(ms);
                let early = if config.headers_early {
                    writer.write_all(head.as_bytes())
                } else {
                    Ok(())
                };
                thread::sleep(done.saturating_duration_since(Instant::now()));
                early.and_then(|()| {
                    if config.headers_early {
                        writer.write_all(b"ok")
                    } else {
                        writer.write_all(format!("{head}ok").as_bytes())
                    }
                })
            }
        };
        if answer.is_err() {
            return;
        }
    }
}

/// Counts a request of `points` arriving at `arrival`, or the wait until it would fit.
fn admit(
    config: QuotaConfig,
    state: &Mutex<Window>,
    arrival: Instant,
    points: u64,
) -> Result<(), Duration> {
    let mut window = state.lock().unwrap();
    while window
        .log
        .front()
        .is_some_and(|(at, _)| *at + config.window <= arrival)
    {
        window.log.pop_front();
    }
    let requests = window.log.len() as u64 + 1;
    let used = window.log.iter().map(|(_, p)| p).sum::<u64>() + points;
    if requests > config.requests_per_window || used > config.points_per_window {
        window.stats.rejected += 1;
        let wait = window.log.front().map_or(Duration::ZERO, |(at, _)| {
            (*at + config.window).saturating_duration_since(arrival)
        });
        return Err(wait);
    }
    window.log.push_back((arrival, points));
    window.stats.accepted += 1;
    Ok(())
}
