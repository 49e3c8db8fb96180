//! The `tollgate-mock-provider` binary: help, bad arguments, serving.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{agent, chat_body, get, post};

const BIN: &str = env!("CARGO_BIN_EXE_tollgate-mock-provider");

/// Kills the child when the test ends, passed or not.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn help_is_complete_and_exits_zero() {
    let output = Command::new(BIN).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for text in [
        "Usage: tollgate-mock-provider [OPTIONS]",
        "--rpm N",
        "--tpm N",
        "--window-secs S",
        "--latency-ms MS",
        "--port P",
        "--help",
        "--version",
        "POST /v1/chat/completions",
        "GET  /stats",
        "Exit status",
    ] {
        assert!(help.contains(text), "{text:?} is not in the help:\n{help}");
    }
    let version = Command::new(BIN).arg("-V").output().unwrap();
    assert!(version.status.success());
    assert!(String::from_utf8(version.stdout)
        .unwrap()
        .starts_with("tollgate-mock-provider 0."));
}

#[test]
fn bad_arguments_exit_two_with_a_message() {
    for (args, expected) in [
        (&["--rpm"][..], "--rpm needs a value"),
        (&["--rpm", "zero"][..], "invalid value 'zero' for --rpm"),
        (&["--tpm", "0"][..], "invalid value '0' for --tpm"),
        (
            &["--window-secs", "0"][..],
            "invalid value '0' for --window-secs",
        ),
        (
            &["--latency-ms", "-5"][..],
            "invalid value '-5' for --latency-ms",
        ),
        (&["--port", "70000"][..], "invalid value '70000' for --port"),
        (&["--verbose"][..], "unknown option '--verbose'"),
        (&["now"][..], "unexpected argument 'now'"),
    ] {
        let output = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(stderr.contains("--help"), "{args:?}: {stderr}");
    }
}

#[test]
fn serves_on_the_printed_url_until_killed() {
    let mut child = Killed(
        Command::new(BIN)
            .args(["--rpm", "1", "--window-secs", "30", "--latency-ms", "10"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim_end().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url:?}");

    let agent = agent();
    let endpoint = format!("{url}/v1/chat/completions");
    assert_eq!(post(&agent, &endpoint, &chat_body("hi", None)).status, 200);
    let refused = post(&agent, &endpoint, &chat_body("hi", None));
    assert_eq!(refused.status, 429);
    let wait = refused.number("retry-after-ms");
    assert!(wait > 25_000 && wait <= 30_000, "{wait}");
    let stats = get(&agent, &format!("{url}/stats"));
    assert_eq!(stats.json["accepted"], 1);
    assert_eq!(stats.json["rejected"], 1);

    assert!(child.0.try_wait().unwrap().is_none(), "still serving");
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let addr = url.trim_start_matches("http://");
    std::thread::sleep(Duration::from_millis(50));
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn a_busy_port_exits_one() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = Command::new(BIN).args(["--port", &port]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8(output.stderr)
        .unwrap()
        .contains("cannot serve"));
}
