//! `tollgate proxy`'s security defaults: no open relay (a request for another host goes to the
//! configured upstream, or is refused), loopback unless `--listen` says otherwise, keys in no
//! log line or answer, slow clients dropped without holding quota or a thread, size limits, and
//! hop-by-hop headers kept on their side.

mod proxy_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proxy_support::{agent, chat_body, exchange_raw, post, start_proxy, RecordingUpstream};

const OK: &str =
    r#"{"id": "x", "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}"#;

#[test]
fn requests_for_another_host_go_to_the_upstream_only() {
    let upstream = RecordingUpstream::answering(200, &[], OK);
    let proxy = start_proxy(&["--upstream", &upstream.url, "--requests", "100/s"], &[]);
    let absolute = exchange_raw(
        proxy.addr(),
        b"GET http://evil.example/v1/models?x=1 HTTP/1.1\r\nHost: evil.example\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(absolute.starts_with("HTTP/1.1 200"), "{absolute}");
    let tunnel = exchange_raw(
        proxy.addr(),
        b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(
        tunnel.starts_with("HTTP/1.1 400") || tunnel.starts_with("HTTP/1.1 405"),
        "{tunnel}"
    );
    let recorded = upstream.recorded();
    assert_eq!(
        recorded.len(),
        1,
        "only the first reached the upstream: {recorded:?}"
    );
    assert_eq!(recorded[0].target, "/v1/models?x=1");
    let upstream_host = upstream.url.trim_start_matches("http://");
    assert_eq!(recorded[0].header("host"), Some(upstream_host));
}

#[test]
fn it_listens_on_loopback_unless_told_otherwise() {
    let mut default = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args([
            "proxy",
            "--upstream",
            "http://127.0.0.1:9",
            "--requests",
            "1/s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Its first line, or the end of its stdout (the port taken), however long a loaded machine
    // takes to start it (a fixed 500 ms once killed it before it had said anything).
    let mut first_line = BufReader::new(default.stdout.take().unwrap());
    let (said, line) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        first_line.read_line(&mut text).ok();
        said.send(text).ok();
    });
    let stdout = line
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_default();
    default.kill().ok();
    let output = default.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Its default port may be taken on this machine: then it says it cannot listen there.
    assert!(
        stdout.starts_with("http://127.0.0.1:8787\n")
            || stderr.contains("cannot listen on 127.0.0.1:8787"),
        "{stdout}{stderr}"
    );
    let everywhere = start_proxy(
        &["--upstream", "http://127.0.0.1:9", "--listen", "0.0.0.0:0"],
        &[],
    );
    assert!(
        everywhere.url.starts_with("http://0.0.0.0:"),
        "{}",
        everywhere.url
    );
    let begun = Instant::now();
    while !everywhere.output().contains("not on loopback") {
        assert!(
            begun.elapsed() < Duration::from_secs(5),
            "{}",
            everywhere.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn keys_appear_in_no_log_line_nor_answer() {
    const PROXY_KEY: &str = "sk-proxy-SECRET-7f3a";
    const CLIENT_KEY: &str = "sk-client-SECRET-91bc";
    const QUERY_KEY: &str = "SECRET-in-query-55d0";
    let upstream = RecordingUpstream::start(|request, stream| {
        // 401 for /v1/models; 200 for the rest.
        let status = match request.target.as_str() {
            "/v1/models" => 401,
            _ => 200,
        };
        let body = OK;
        // `connection: close`, as the upstream closes after each answer: without it the proxy
        // may reuse the connection in the instant before the close reaches it, and that request
        // fails with a 502 (it did under load).
        write!(stream, "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()).ok();
    });
    let proxy = start_proxy(
        &[
            "--upstream",
            &upstream.url,
            "--requests",
            "100/s",
            "--api-key-env",
            "TOLLGATE_TEST_KEY",
            "--log",
            "trace",
            "--max-body-bytes",
            "200",
        ],
        &[("TOLLGATE_TEST_KEY", PROXY_KEY)],
    );
    let dead = start_proxy(
        &[
            "--upstream",
            "http://127.0.0.1:9",
            "--log",
            "trace",
            "--api-key-env",
            "TOLLGATE_TEST_KEY",
        ],
        &[("TOLLGATE_TEST_KEY", PROXY_KEY)],
    );
    let mut seen = String::new();
    for (proxy, path, body) in [
        (
            &proxy,
            format!("/v1/chat/completions?key={QUERY_KEY}"),
            chat_body("hi", 4),
        ),
        (&proxy, "/v1/messages".to_owned(), chat_body("hi", 4)),
        (&proxy, "/v1/models".to_owned(), String::new()),
        (&proxy, "/v1/chat/completions".to_owned(), "x".repeat(1_000)),
        (
            &dead,
            format!("/v1/chat/completions?key={QUERY_KEY}"),
            chat_body("hi", 4),
        ),
    ] {
        let mut answer = agent()
            .post(&format!("{}{path}", proxy.url))
            .header("authorization", &format!("Bearer {CLIENT_KEY}"))
            .header("x-api-key", CLIENT_KEY)
            .send(body.as_str())
            .unwrap();
        seen.push_str(&format!("{} {:?}", answer.status(), answer.headers()));
        seen.push_str(&answer.body_mut().read_to_string().unwrap());
    }
    // The upstream got the proxy's key, never the client's.
    let recorded = upstream.recorded();
    assert_eq!(recorded.len(), 3, "{recorded:?}");
    for request in &recorded {
        assert_eq!(
            request.header("authorization"),
            Some(&*format!("Bearer {PROXY_KEY}"))
        );
        assert_eq!(request.header("x-api-key"), Some(PROXY_KEY));
    }
    std::thread::sleep(Duration::from_millis(200));
    let logs = format!("{}{}", proxy.output(), dead.output());
    let (_, stopped) = proxy.stop("-TERM");
    let (_, stopped_dead) = dead.stop("-TERM");
    let everything = format!("{seen}{logs}{stopped}{stopped_dead}");
    assert!(logs.contains("POST /v1/chat/completions 200"), "{logs}");
    assert!(logs.contains(" 502 "), "the dead upstream's line: {logs}");
    for secret in [PROXY_KEY, CLIENT_KEY, QUERY_KEY, "SECRET"] {
        assert!(
            !everything.contains(secret),
            "{secret} shown:\n{everything}"
        );
    }
}

#[test]
fn slow_clients_are_dropped_holding_no_quota_and_no_thread() {
    let upstream = RecordingUpstream::answering(200, &[], OK);
    // One request per 10 s, two connections: a slow client that held either would show.
    let proxy = start_proxy(
        &[
            "--upstream",
            &upstream.url,
            "--requests",
            "1/10s",
            "--header-timeout",
            "1s",
            "--max-connections",
            "2",
        ],
        &[],
    );
    let mut silent = TcpStream::connect(proxy.addr()).unwrap();
    let mut trickling = TcpStream::connect(proxy.addr()).unwrap();
    let head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-length: 2\r\n";
    let begun = Instant::now();
    std::thread::sleep(Duration::from_millis(100));
    // Both threads are taken: a third client is told so at once.
    let third = exchange_raw(
        proxy.addr(),
        b"GET /tollgate/stats HTTP/1.1\r\n\r\n",
        Duration::from_secs(2),
    );
    assert!(third.starts_with("HTTP/1.1 503"), "{third}");
    let mut dropped = false;
    for byte in head {
        if trickling.write_all(&[*byte]).is_err() {
            dropped = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        if begun.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let answer = proxy_support::read_to_end(&mut trickling, Duration::from_secs(3));
    assert!(dropped || answer.starts_with("HTTP/1.1 408"), "{answer}");
    let silent_answer = proxy_support::read_to_end(&mut silent, Duration::from_secs(3));
    assert!(
        silent_answer.is_empty() || silent_answer.starts_with("HTTP/1.1 408"),
        "{silent_answer}"
    );
    assert!(
        begun.elapsed() < Duration::from_secs(3),
        "dropped after {:?}",
        begun.elapsed()
    );
    // The one request of the quota is still there, and a thread to serve it.
    let sent = Instant::now();
    let (status, body) = post(
        &agent(),
        &format!("{}/v1/chat/completions", proxy.url),
        &chat_body("hi", 4),
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(upstream.recorded().len(), 1);
}

#[test]
fn oversized_bodies_get_413_and_oversized_heads_431() {
    let upstream = RecordingUpstream::answering(200, &[], OK);
    let proxy = start_proxy(
        &[
            "--upstream",
            &upstream.url,
            "--requests",
            "100/s",
            "--max-body-bytes",
            "1000",
        ],
        &[],
    );
    let url = format!("{}/v1/chat/completions", proxy.url);
    let (status, body) = post(&agent(), &url, &chat_body(&"word ".repeat(1_000), 4));
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("--max-body-bytes"), "{body}");
    let chunked = exchange_raw(
        proxy.addr(),
        format!(
            "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\n\r\n400\r\n{}\r\n400\r\n{}\r\n0\r\n\r\n",
            "a".repeat(1024),
            "b".repeat(1024)
        )
        .as_bytes(),
        Duration::from_secs(5),
    );
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");
    let big_head = format!(
        "GET /v1/models HTTP/1.1\r\nx-big: {}\r\n\r\n",
        "h".repeat(70_000)
    );
    let answer = exchange_raw(proxy.addr(), big_head.as_bytes(), Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(upstream.recorded().is_empty(), "nothing was forwarded");
    // Within the limits, the same proxy forwards.
    assert_eq!(post(&agent(), &url, &chat_body("short", 4)).0, 200);
}

#[test]
fn client_keys_pass_untouched_and_hop_by_hop_headers_stay() {
    let upstream = RecordingUpstream::answering(
        200,
        &[
            ("connection", "x-upstream-hop"),
            ("x-upstream-hop", "1"),
            ("x-kept", "yes"),
        ],
        OK,
    );
    let proxy = start_proxy(&["--upstream", &upstream.url, "--requests", "100/s"], &[]);
    let raw = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer sk-client-1\r\nx-api-key: sk-client-2\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nProxy-Authorization: Basic abc\r\nX-End-To-End: 2\r\ncontent-length: {}\r\n\r\n{}",
        chat_body("hi", 4).len(),
        chat_body("hi", 4)
    );
    let answer = exchange_raw(proxy.addr(), raw.as_bytes(), Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let head = answer
        .split("\r\n\r\n")
        .next()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        head.contains("x-kept: yes") && !head.contains("x-upstream-hop"),
        "{head}"
    );
    let recorded = upstream.recorded();
    let request = &recorded[0];
    assert_eq!(request.header("authorization"), Some("Bearer sk-client-1"));
    assert_eq!(request.header("x-api-key"), Some("sk-client-2"));
    assert_eq!(request.header("x-end-to-end"), Some("2"));
    for hop in ["x-hop", "proxy-authorization", "connection", "keep-alive"] {
        assert_eq!(request.header(hop), None, "{hop}: {request:?}");
    }
    assert_eq!(request.body, chat_body("hi", 4).as_bytes());
}
