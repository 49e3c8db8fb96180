//! What the tests of `tollgate proxy` share: the proxy started as a process (its URL read from
//! its first line of stdout, its stderr collected as it comes), plain HTTP clients, and a
//! loopback upstream that records what reaches it and answers what the test scripts.

#![allow(dead_code)] // each test file uses a part of it

#[path = "../../../tests/support/watchdog.rs"]
mod watchdog;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `tollgate proxy`.
pub struct RunningProxy {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Everything it wrote to stdout (the first line included).
    pub stdout: Arc<Mutex<String>>,
    /// Everything it wrote to stderr so far.
    pub stderr: Arc<Mutex<String>>,
}

/// Starts `tollgate proxy ARGS` (with `--listen 127.0.0.1:0` unless ARGS name one), with
/// `env` set, and waits for its URL (at most 60 s: then the proxy is killed and the test fails).
/// The test is watched from then on ([`watchdog`]): one that hangs aborts the test binary,
/// naming itself, instead of hanging CI.
pub fn start_proxy(args: &[&str], env: &[(&str, &str)]) -> RunningProxy {
    watchdog::watch_this_test();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    command.arg("proxy").args(args);
    if !args.contains(&"--listen") {
        command.args(["--listen", "127.0.0.1:0"]);
    }
    command.env_remove("RUST_LOG");
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stderr = collect(child.stderr.take().unwrap());
    let mut stdout_lines = BufReader::new(child.stdout.take().unwrap());
    let stdout = Arc::new(Mutex::new(String::new()));
    let (first_line, url_said) = std::sync::mpsc::channel();
    {
        let stdout = Arc::clone(&stdout);
        std::thread::spawn(move || {
            let mut url = String::new();
            stdout_lines.read_line(&mut url).ok();
            stdout.lock().unwrap().push_str(&url);
            first_line.send(url).ok();
            let mut rest = String::new();
            stdout_lines.read_to_string(&mut rest).ok();
            stdout.lock().unwrap().push_str(&rest);
        });
    }
    let Ok(url) = url_said.recv_timeout(Duration::from_secs(60)) else {
        child.kill().ok();
        child.wait().ok();
        panic!(
            "no URL on stdout after 60 s, killed; stderr: {}",
            wait_for_text(&stderr, Duration::from_secs(1))
        );
    };
    // Built first: a proxy that said something else is killed when the assertion fails.
    let proxy = RunningProxy {
        child,
        url: url.trim().to_owned(),
        stdout,
        stderr,
    };
    assert!(
        url.starts_with("http://"),
        "no URL on the first line: {url:?}; stderr: {}",
        wait_for_text(&proxy.stderr, Duration::from_secs(2))
    );
    proxy
}

/// Collects what `pipe` says, as it comes.
fn collect(mut pipe: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let collected = Arc::clone(&text);
    std::thread::spawn(move || {
        let mut chunk = [0_u8; 4096];
        while let Ok(read) = pipe.read(&mut chunk) {
            if read == 0 {
                break;
            }
            collected
                .lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&chunk[..read]));
        }
    });
    text
}

fn wait_for_text(text: &Arc<Mutex<String>>, within: Duration) -> String {
    std::thread::sleep(within);
    text.lock().unwrap().clone()
}

impl RunningProxy {
    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.url.trim_start_matches("http://").parse().unwrap()
    }

    /// `/tollgate/stats`.
    pub fn stats(&self) -> serde_json::Value {
        let (status, body) = get(&format!("{}/tollgate/stats", self.url));
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Sends `signal` (`-TERM`, `-INT`) and waits for the exit: its code and all of stderr.
    pub fn stop(mut self, signal: &str) -> (Option<i32>, String) {
        assert!(Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success());
        let status = wait_with_timeout(&mut self.child, Duration::from_secs(20));
        // The collector ends with the pipe.
        let begun = Instant::now();
        let stderr = loop {
            let text = self.stderr.lock().unwrap().clone();
            if text.contains("stopped after") || begun.elapsed() > Duration::from_secs(2) {
                break text;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        (status, stderr)
    }

    /// What it wrote to stderr and stdout so far.
    pub fn output(&self) -> String {
        format!(
            "{}{}",
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn wait_with_timeout(child: &mut Child, within: Duration) -> Option<i32> {
    let begun = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        assert!(begun.elapsed() < within, "still running after {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An HTTP client that returns every status as an answer.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        // A proxy that never answers fails the test instead of hanging it.
        .timeout_global(Some(Duration::from_secs(120)))
        .max_idle_connections_per_host(64)
        .build()
        .into()
}

/// `POST url` with JSON `body`: the status and the body.
pub fn post(agent: &ureq::Agent, url: &str, body: &str) -> (u16, String) {
    let mut answer = agent
        .post(url)
        .header("content-type", "application/json")
        .send(body)
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.body_mut().read_to_string().unwrap())
}

/// `GET url`: the status and the body.
pub fn get(url: &str) -> (u16, String) {
    let mut answer = agent().get(url).call().unwrap();
    let status = answer.status().as_u16();
    (status, answer.body_mut().read_to_string().unwrap())
}

/// A chat completions body asking `words` words with `max_tokens`.
pub fn chat_body(content: &str, max_tokens: u64) -> String {
    serde_json::json!({
        "model": "m",
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
    })
    .to_string()
}

/// Writes `raw` on a new connection to `addr` and reads until the server closes (or
/// `within`): what came back.
pub fn exchange_raw(addr: SocketAddr, raw: &[u8], within: Duration) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(within)).unwrap();
    stream.write_all(raw).unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0_u8; 4096];
    while let Ok(read) = stream.read(&mut chunk) {
        if read == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..read]);
        if let Some(text) = whole_answer(&answer) {
            return text;
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// `bytes` as text if they hold a whole answer with a `content-length` body.
fn whole_answer(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let length: usize = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
        })?
        .parse()
        .ok()?;
    (body.len() >= length).then(|| text.into_owned())
}

/// A request that reached [`RecordingUpstream`].
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub target: String,
    /// Names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A loopback upstream that records each request and answers `answer(request)`: raw bytes of
/// a whole HTTP answer (the connection closes after it).
pub struct RecordingUpstream {
    pub url: String,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl RecordingUpstream {
    pub fn start(
        answer: impl Fn(&Recorded, &mut TcpStream) + Send + Sync + 'static,
    ) -> RecordingUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        let answer = Arc::new(answer);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (recorded, answer) = (Arc::clone(&recorded), Arc::clone(&answer));
                std::thread::spawn(move || {
                    if let Some(request) = read_request(&mut stream) {
                        recorded.lock().unwrap().push(request.clone());
                        answer(&request, &mut stream);
                    }
                });
            }
        });
        RecordingUpstream { url, requests }
    }

    /// An upstream answering every request `status` with JSON `body` and `headers`.
    pub fn answering(
        status: u16,
        headers: &'static [(&'static str, &'static str)],
        body: &'static str,
    ) -> RecordingUpstream {
        RecordingUpstream::start(move |_, stream| {
            let mut head = format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n", body.len());
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            stream.write_all(head.as_bytes()).ok();
            stream.write_all(body.as_bytes()).ok();
        })
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

fn read_request(stream: &mut TcpStream) -> Option<Recorded> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut bytes = Vec::new();
    let mut chunk = [0_u8; 4096];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(length)) = request.parse(&bytes) {
            let headers: Vec<(String, String)> = request
                .headers
                .iter()
                .map(|header| {
                    (
                        header.name.to_ascii_lowercase(),
                        String::from_utf8_lossy(header.value).into_owned(),
                    )
                })
                .collect();
            let body_length: usize = headers
                .iter()
                .find(|(name, _)| name == "content-length")
                .map_or(0, |(_, value)| value.parse().unwrap());
            let (method, target) = (
                request.method.unwrap().to_owned(),
                request.path.unwrap().to_owned(),
            );
            while bytes.len() < length + body_length {
                let read = stream.read(&mut chunk).ok()?;
                if read == 0 {
                    return None;
                }
                bytes.extend_from_slice(&chunk[..read]);
            }
            return Some(Recorded {
                method,
                target,
                headers,
                body: bytes[length..length + body_length].to_vec(),
            });
        }
        let read = stream.read(&mut chunk).ok()?;
        if read == 0 {
            return None;
        }
        bytes.extend_from_slice(&chunk[..read]);
    }
}

/// Reads `stream` until the server closes it (or `within`): what came.
pub fn read_to_end(stream: &mut TcpStream, within: Duration) -> String {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0_u8; 4096];
    while let Ok(read) = stream.read(&mut chunk) {
        if read == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..read]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

impl RunningProxy {
    /// Waits until the proxy has logged `count` answered requests (each settled before its
    /// line is written), at most 5 s.
    pub fn wait_for_answers(&self, count: usize) {
        let begun = Instant::now();
        loop {
            let output = self.output();
            let answered = output
                .lines()
                .filter(|line| line.contains("tollgate::proxy: ") && line.contains(" in "))
                .count();
            if answered >= count {
                return;
            }
            assert!(
                begun.elapsed() < Duration::from_secs(5),
                "{count} answers awaited: {output}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
