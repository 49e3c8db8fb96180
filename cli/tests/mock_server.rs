//! `tollgate mock-server` prints its URL, serves with its quotas until Ctrl-C, then prints what
//! it refused.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{output_within, tollgate};

#[test]
fn serves_until_sigint_then_reports_its_refusals() {
    let mut child = tollgate()
        .args(["mock-server", "--rpm", "2", "--window", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let endpoint = format!("{}/v1/chat/completions", url.trim());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let statuses: Vec<u16> = (0..3)
        .map(|_| {
            agent
                .post(&endpoint)
                .header("content-type", "application/json")
                .send(r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#)
                .unwrap()
                .status()
                .as_u16()
        })
        .collect();
    assert_eq!(statuses, vec![200, 200, 429]);
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let output = output_within(child, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("3 requests: 2 accepted, 1 refused with a 429"),
        "{stderr}"
    );
}
