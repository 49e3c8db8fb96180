//! `tollgate chat` checks `--endpoint` before sending anything, and says once, with the reason,
//! when the endpoint cannot be reached; "sent" counts only requests that reached a server.

mod common;

use std::net::TcpListener;

use common::{run, scratch_dir, stderr_of, stdout_of, tollgate};
use serde_json::{json, Value};

#[test]
fn an_endpoint_that_is_not_an_http_url_is_refused_before_anything_is_read_or_sent() {
    for (endpoint, says) in [
        (
            "not-a-url",
            "not a URL; write the whole chat completions URL",
        ),
        (
            "ftp://127.0.0.1/v1",
            "the scheme ftp:// is not supported; use http:// or https://",
        ),
        ("http://", "no valid host after the scheme"),
    ] {
        // A requests file that does not exist: the endpoint is refused before it is opened.
        let output = run(
            &[
                "chat",
                "--rpm",
                "60",
                "--tpm",
                "1000",
                "--endpoint",
                endpoint,
                "/nonexistent",
            ],
            "",
        );
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{endpoint}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "invalid value '{endpoint}' for '--endpoint <URL>'"
            )),
            "{stderr}"
        );
        assert!(stderr.contains(says), "{endpoint}: {stderr}");
        assert!(!stderr.contains("/nonexistent"), "{stderr}");
        assert!(stdout_of(&output).is_empty());
    }
}

#[test]
fn a_down_endpoint_is_reported_once_with_the_reason_and_nothing_counts_as_sent() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }; // closed again: connecting is refused
    let endpoint = format!("http://127.0.0.1:{port}/v1/chat/completions");
    let dir = scratch_dir("chat-down-endpoint");
    let requests = dir.join("requests.jsonl");
    let lines: Vec<String> = (0..3)
        .map(|index| {
            json!({"messages": [{"role": "user", "content": format!("q{index}")}]}).to_string()
        })
        .collect();
    std::fs::write(&requests, lines.join("\n")).unwrap();
    let output = tollgate()
        .args([
            "chat",
            "--requests",
            "100/s",
            "--tokens",
            "100000/s",
            "--no-journal",
        ])
        .args(["--retries", "1", "--endpoint", &endpoint])
        .arg(&requests)
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let said = format!("cannot reach {endpoint}: connection refused");
    assert_eq!(stderr.matches(&said).count(), 1, "{stderr}");
    assert!(
        stderr.contains("0 answered, 3 failed (0 malformed lines); 0 sent"),
        "{stderr}"
    );
    let lines: Vec<Value> = stdout_of(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for line in &lines {
        assert_eq!(line["error"]["attempts"], 2, "{line}");
        assert!(line["error"]["message"]
            .as_str()
            .unwrap()
            .contains("connection refused"));
    }
}
