//! Real clients, unchanged, through `tollgate proxy` (issue 24's "done when"): the official
//! `openai` Python package (installed from PyPI into a virtual environment kept under the target
//! directory, `target/tmp/openai-venv`) and `curl`, several processes at once, chat and
//! streaming, against the mock provider's strict sliding-window quota. Every request is answered; the upstream refuses none
//! when the proxy is given the server's quota, at most 3 when it is given 4 times it (and learns
//! the real one from the headers); the wall time is within 1.05 × the ideal. The official
//! `anthropic` package does the same on `/v1/messages` (whole and streamed, no 429 upstream).
//!
//! Without `python3` (or its `venv` module, or PyPI), the tests say so on stderr and pass, except
//! under CI (the `CI` environment variable set), where that is a failure: `.ci/run` installs
//! `python3-venv`.

mod common;
// Both include the test watchdog (`tests/support/watchdog.rs`): two copies, each harmless.
#[allow(clippy::duplicate_mod)]
mod proxy_support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tollgate_mock_provider::{completion_tokens, prompt_tokens, MockConfig, MockProvider};

/// The requests quota binds: `REQUESTS` per `WINDOW` on the server.
const REQUESTS: u64 = 8;
const WINDOW: Duration = Duration::from_secs(3);
/// Wide enough never to bind, given to the proxy all the same.
const TOKENS: u64 = 200_000;
const LATENCY: Duration = Duration::from_millis(100);
/// Python processes and curl "slots" (each a curl process per request, one after another): as
/// many clients as the window holds requests, so every window is filled at once.
const PYTHON_PROCESSES: usize = 6;
const CURL_SLOTS: usize = 2;
/// Requests each client sends, one after another.
const PER_CLIENT: usize = 6;

/// The client every Python process runs: warms up (a request whole and one streamed to a mock
/// provider of its own, so that the package's first-call costs are not timed), says it is ready
/// and waits for a line on stdin, then sends its requests one after another through the proxy
/// and prints a JSON line for each. `max_retries=0`: a 429 reaching the client is an error here.
const PYTHON_CLIENT: &str = r#"
import json, sys, time
import openai

base_url, client_index, count, warm_up_url = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
warm_up = openai.OpenAI(base_url=warm_up_url + "/v1", api_key="sk-test-client-key", max_retries=0)
warm_up.chat.completions.create(model="gpt-mock", messages=[{"role": "user", "content": "hi"}])
for chunk in warm_up.chat.completions.create(model="gpt-mock", messages=[{"role": "user", "content": "hi"}],
                                             stream=True, stream_options={"include_usage": True}):
    pass
client = openai.OpenAI(base_url=base_url + "/v1", api_key="sk-test-client-key",
                       max_retries=0, timeout=60)
print("ready", flush=True)
sys.stdin.readline()
for i in range(count):
    kind = ["chat", "stream", "stream_usage"][(client_index + i) % 3]
    max_tokens = None if i % 2 == 0 else 8
    prompt = f"Client {client_index} asks question {i}, please answer briefly"
    args = dict(model="gpt-mock", messages=[{"role": "user", "content": prompt}])
    if max_tokens is not None:
        args["max_tokens"] = max_tokens
    record = {"kind": kind, "prompt": prompt, "max_tokens": max_tokens, "t0": time.time()}
    try:
        if kind == "chat":
            answer = client.chat.completions.create(**args)
            record["text"] = answer.choices[0].message.content
            record["usage"] = answer.usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"})
        else:
            if kind == "stream_usage":
                args["stream_options"] = {"include_usage": True}
            text, usage, without_choices = "", None, 0
            for chunk in client.chat.completions.create(stream=True, **args):
                if chunk.choices:
                    text += chunk.choices[0].delta.content or ""
                else:
                    without_choices += 1
                if chunk.usage is not None:
                    usage = chunk.usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"})
            record.update(text=text, usage=usage, without_choices=without_choices)
    except Exception as error:
        record["error"] = f"{type(error).__name__}: {error}"
    record["t1"] = time.time()
    print(json.dumps(record), flush=True)
"#;

/// The same with the official `anthropic` package on `/v1/messages`: `messages.create`, and
/// `messages.stream` (Anthropic's events), alternately.
const ANTHROPIC_CLIENT: &str = r#"
import json, sys, time
import anthropic

base_url, client_index, count, warm_up_url = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
warm_up = anthropic.Anthropic(base_url=warm_up_url, api_key="sk-ant-test-client-key", max_retries=0)
warm_up.messages.create(model="claude-mock", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
with warm_up.messages.stream(model="claude-mock", max_tokens=8,
                             messages=[{"role": "user", "content": "hi"}]) as stream:
    "".join(stream.text_stream)
client = anthropic.Anthropic(base_url=base_url, api_key="sk-ant-test-client-key",
                             max_retries=0, timeout=60)
print("ready", flush=True)
sys.stdin.readline()
for i in range(count):
    kind = ["message", "message_stream"][(client_index + i) % 2]
    max_tokens = 64 if i % 2 == 0 else 8
    prompt = f"Client {client_index} asks Claude question {i}, please answer briefly"
    args = dict(model="claude-mock", max_tokens=max_tokens,
                messages=[{"role": "user", "content": prompt}])
    record = {"kind": kind, "prompt": prompt, "max_tokens": max_tokens, "t0": time.time()}
    try:
        if kind == "message":
            message = client.messages.create(**args)
            text = message.content[0].text
        else:
            with client.messages.stream(**args) as stream:
                text = "".join(stream.text_stream)
                message = stream.get_final_message()
        record["text"] = text
        record["usage"] = {"input_tokens": message.usage.input_tokens,
                           "output_tokens": message.usage.output_tokens}
    except Exception as error:
        record["error"] = f"{type(error).__name__}: {error}"
    record["t1"] = time.time()
    print(json.dumps(record), flush=True)
"#;

/// Seconds since the Unix epoch, as Python's `time.time()`.
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// One test at a time in this binary: they time themselves, and share the virtual environment.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Skips the test with a notice, or fails it under CI.
fn unavailable(what: &str) -> Option<PathBuf> {
    if std::env::var_os("CI").is_some() {
        panic!("{what}; under CI this is a failure (.ci/run installs python3-venv)");
    }
    // Straight to the standard error, not through `eprintln!`: the test harness captures that
    // of a passing test, and this notice must be seen.
    writeln!(
        std::io::stderr(),
        "NOTICE: skipping a real-client test of the proxy: {what}"
    )
    .ok();
    None
}

/// The Python of a virtual environment with `openai` and `anthropic` installed, kept under the
/// target directory (created once, then reused); `None` (after a notice) where it cannot be made.
fn openai_python() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("openai-venv");
    let python = venv.join("bin").join("python");
    let has_openai = |python: &Path| {
        Command::new(python)
            .args(["-c", "import openai, anthropic"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if has_openai(&python) {
        return Some(python);
    }
    let found = Command::new("python3").arg("--version").output();
    if !found.is_ok_and(|output| output.status.success()) {
        return unavailable("python3 is not installed");
    }
    std::fs::remove_dir_all(&venv).ok();
    let created = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .expect("python3 runs");
    if !created.status.success() {
        return unavailable(&format!(
            "python3 -m venv failed (install python3-venv): {}",
            String::from_utf8_lossy(&created.stderr)
        ));
    }
    eprintln!(
        "installing the openai and anthropic packages from PyPI into {}",
        venv.display()
    );
    let installed = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "openai>=1.40",
            "anthropic>=0.30",
        ])
        .output()
        .expect("pip runs");
    if !installed.status.success() || !has_openai(&python) {
        std::fs::remove_dir_all(&venv).ok();
        return unavailable(&format!(
            "pip could not install openai and anthropic: {}",
            String::from_utf8_lossy(&installed.stderr)
        ));
    }
    Some(python)
}

/// One request as a client saw it.
#[derive(Debug)]
struct Record {
    client: String,
    kind: String,
    prompt: String,
    max_tokens: Option<u64>,
    t0: f64,
    t1: f64,
    text: String,
    usage: Value,
    without_choices: u64,
    error: Option<String>,
}

impl Record {
    fn from_python(client: usize, line: &str) -> Record {
        let value: Value = serde_json::from_str(line)
            .unwrap_or_else(|_| panic!("python client {client} wrote {line:?}"));
        Record {
            client: format!("python {client}"),
            kind: value["kind"].as_str().unwrap_or("").to_owned(),
            prompt: value["prompt"].as_str().unwrap_or("").to_owned(),
            max_tokens: value["max_tokens"].as_u64(),
            t0: value["t0"].as_f64().expect("t0"),
            t1: value["t1"].as_f64().expect("t1"),
            text: value["text"].as_str().unwrap_or("").to_owned(),
            usage: value["usage"].clone(),
            without_choices: value["without_choices"].as_u64().unwrap_or(0),
            error: value["error"].as_str().map(str::to_owned),
        }
    }

    /// Checks what the client got against what the mock answers to its request.
    fn check(&self) {
        assert_eq!(self.error, None, "{self:?}");
        let prompt = prompt_tokens([self.prompt.as_str()]);
        let completion = completion_tokens(prompt, self.max_tokens);
        let usage = json!({
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        });
        let anthropic_usage = json!({"input_tokens": prompt, "output_tokens": completion});
        assert_eq!(
            self.text.split_whitespace().count() as u64,
            completion,
            "{self:?}"
        );
        match self.kind.as_str() {
            "chat" | "stream_usage" => assert_eq!(self.usage, usage, "{self:?}"),
            "message" | "message_stream" => assert_eq!(self.usage, anthropic_usage, "{self:?}"),
            // The proxy asks for the usage chunk; a client that did not ask never sees it.
            "stream" => {
                assert_eq!(self.usage, Value::Null, "{self:?}");
                assert_eq!(self.without_choices, 0, "{self:?}");
            }
            other => panic!("unknown kind {other:?}"),
        }
    }
}

/// Runs `PER_CLIENT` curl requests one after another against `url`, alternately whole and
/// streamed.
fn curl_slot(slot: usize, url: &str) -> Vec<Record> {
    (0..PER_CLIENT)
        .map(|i| {
            let stream = i % 2 == 1;
            let prompt = format!("Curl slot {slot} asks question {i}, please answer");
            let body = json!({
                "model": "gpt-mock",
                "messages": [{"role": "user", "content": prompt}],
                "stream": stream,
            });
            let t0 = unix_now();
            let output = Command::new("curl")
                .args(["-sS", "-N", "--max-time", "60", "-w", "\n%{http_code}"])
                .args(["-H", "content-type: application/json"])
                .args(["-H", "authorization: Bearer sk-test-client-key"])
                .args(["-d", &body.to_string()])
                .arg(format!("{url}/v1/chat/completions"))
                .output()
                .expect("curl runs");
            let t1 = unix_now();
            let out = String::from_utf8_lossy(&output.stdout).into_owned();
            let (body, status) = out.rsplit_once('\n').unwrap_or(("", ""));
            let mut record = Record {
                client: format!("curl {slot}"),
                kind: if stream { "stream" } else { "chat" }.to_owned(),
                prompt,
                max_tokens: None,
                t0,
                t1,
                text: String::new(),
                usage: Value::Null,
                without_choices: 0,
                error: None,
            };
            if !output.status.success() || status != "200" {
                record.error = Some(format!(
                    "curl: {} {status}: {body} {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                ));
            } else if stream {
                read_stream(body, &mut record);
            } else {
                let answer: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                record.text = answer["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                record.usage = answer["usage"].clone();
            }
            record
        })
        .collect()
}

/// Reads a streamed chat completion as curl printed it: `data:` events ending with `[DONE]`.
fn read_stream(body: &str, record: &mut Record) {
    let events: Vec<&str> = body
        .split("\n\n")
        .map(str::trim)
        .filter(|event| !event.is_empty())
        .collect();
    if events.last() != Some(&"data: [DONE]") {
        record.error = Some(format!("the stream does not end with [DONE]: {body}"));
        return;
    }
    for event in &events[..events.len() - 1] {
        let chunk: Value = event
            .strip_prefix("data: ")
            .and_then(|data| serde_json::from_str(data).ok())
            .unwrap_or(Value::Null);
        match chunk["choices"].as_array() {
            Some(choices) if choices.is_empty() => record.without_choices += 1,
            Some(_) => {
                let piece = &chunk["choices"][0]["delta"]["content"];
                record.text.push_str(piece.as_str().unwrap_or(""));
            }
            None => record.error = Some(format!("not a chunk: {event}")),
        }
        if !chunk["usage"].is_null() {
            record.usage = chunk["usage"].clone();
        }
    }
}

/// Starts `processes` Python clients running `script`, waits until every one has imported its
/// package and warmed up (against a mock provider of their own), then lets them and `curl_slots`
/// curl slots go at once; returns every request's record.
fn run_clients(
    python: &Path,
    script: &Path,
    processes: usize,
    curl_slots: usize,
    url: &str,
) -> Vec<Record> {
    let warm_up = MockProvider::start(MockConfig::new()).expect("the warm-up mock starts");
    let mut pythons: Vec<Child> = (0..processes)
        .map(|client| {
            Command::new(python)
                .arg(script)
                .args([url, &client.to_string(), &PER_CLIENT.to_string()])
                .arg(warm_up.url())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("python starts")
        })
        .collect();
    let mut outputs: Vec<BufReader<std::process::ChildStdout>> = Vec::new();
    for child in &mut pythons {
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut ready = String::new();
        stdout.read_line(&mut ready).expect("python answers");
        assert_eq!(ready.trim(), "ready", "a python client failed to start");
        outputs.push(stdout);
    }
    for child in &mut pythons {
        child
            .stdin
            .as_mut()
            .expect("piped")
            .write_all(b"go\n")
            .expect("python reads");
    }
    let curls: Vec<_> = (0..curl_slots)
        .map(|slot| {
            let url = url.to_owned();
            thread::spawn(move || curl_slot(slot, &url))
        })
        .collect();
    let mut records = Vec::new();
    for (client, stdout) in outputs.into_iter().enumerate() {
        for line in stdout.lines() {
            records.push(Record::from_python(client, &line.expect("python's output")));
        }
    }
    for mut child in pythons {
        assert!(child.wait().expect("python ends").success());
    }
    for curl in curls {
        records.extend(curl.join().expect("curl slot"));
    }
    records
}

/// The whole scenario: the mock with `REQUESTS` per `WINDOW`, the proxy given `factor` times
/// that, every client at once; checks every answer and the wall time, and returns the 429s the
/// upstream answered.
fn through_the_proxy(factor: u64) -> Option<u64> {
    let _one = one_at_a_time();
    let python = openai_python()?;
    if Command::new("curl").arg("--version").output().is_err() {
        unavailable("curl is not installed")?;
    }
    let dir = common::scratch_dir(&format!("proxy-real-clients-{factor}"));
    let script = dir.join("client.py");
    std::fs::write(&script, PYTHON_CLIENT).expect("the script is written");

    let provider = MockProvider::start(
        MockConfig::new()
            .requests_per_window(REQUESTS)
            .tokens_per_window(TOKENS)
            .window(WINDOW)
            .latency(LATENCY),
    )
    .expect("the mock starts");
    let window = WINDOW.as_secs();
    let proxy = proxy_support::start_proxy(
        &[
            "--upstream",
            &provider.url(),
            "--requests",
            &format!("{}/{window}s", REQUESTS * factor),
            "--tokens",
            &format!("{}/{window}s", TOKENS * factor),
        ],
        &[],
    );
    let records = run_clients(&python, &script, PYTHON_PROCESSES, CURL_SLOTS, &proxy.url);
    let stats = provider.stats();
    let (_, log) = proxy.stop("-TERM");

    let total = (PYTHON_PROCESSES + CURL_SLOTS) * PER_CLIENT;
    assert_eq!(records.len(), total);
    for record in &records {
        record.check();
    }
    let kinds = |kind: &str| records.iter().filter(|r| r.kind == kind).count();
    assert!(kinds("chat") > 0 && kinds("stream") > 0 && kinds("stream_usage") > 0);
    assert_eq!(stats.accepted, total as u64, "{stats:?}");

    // The ideal: a full window's requests at once, the next window's when it opens, ...; the
    // last answered one latency after its window opens.
    let first = records.iter().map(|r| r.t0).fold(f64::INFINITY, f64::min);
    let last = records.iter().map(|r| r.t1).fold(0.0, f64::max);
    let wall = last - first;
    let windows = (total as u64 - 1) / REQUESTS;
    let ideal = (WINDOW * windows as u32 + LATENCY).as_secs_f64();
    eprintln!(
        "{total} requests from {PYTHON_PROCESSES} python processes and {CURL_SLOTS} curl slots, \
         proxy given {factor}x the server's quota: wall {wall:.3} s, ideal {ideal:.3} s \
         ({:.3}x), {} 429s upstream",
        wall / ideal,
        stats.rejected
    );
    let mut timeline: Vec<(f64, f64, &str)> = records
        .iter()
        .map(|r| (r.t0 - first, r.t1 - first, r.client.as_str()))
        .collect();
    timeline.sort_by(|a, b| a.0.total_cmp(&b.0));
    let timeline: Vec<String> = timeline
        .iter()
        .map(|(t0, t1, client)| format!("{t0:.3}..{t1:.3} {client}"))
        .collect();
    assert!(
        wall <= ideal * 1.05,
        "wall {wall:.3} s against an ideal of {ideal:.3} s; requests (sent..answered, from the \
         first sent):\n{}\nproxy log:\n{log}",
        timeline.join("\n")
    );
    Some(stats.rejected)
}

#[test]
fn the_server_s_quota_given_no_429_upstream() {
    if let Some(rejected) = through_the_proxy(1) {
        assert_eq!(rejected, 0, "429s upstream");
    }
}

#[test]
fn four_times_the_server_s_quota_given_learnt_with_at_most_3_429s_upstream() {
    if let Some(rejected) = through_the_proxy(4) {
        assert!(rejected <= 3, "{rejected} 429s upstream");
    }
}

/// The official `anthropic` package through the proxy on `/v1/messages`, messages whole and
/// streamed, with the server's quotas of requests, input tokens and output tokens given: every
/// message answered with its usage, no 429 upstream. (No wall-time check: fewer clients than
/// the window holds, the ideal is not the full windows' of the tests above.)
#[test]
fn anthropic_s_package_through_the_proxy_no_429_upstream() {
    let _one = one_at_a_time();
    let Some(python) = openai_python() else {
        return;
    };
    let dir = common::scratch_dir("proxy-real-clients-anthropic");
    let script = dir.join("client.py");
    std::fs::write(&script, ANTHROPIC_CLIENT).expect("the script is written");
    let provider = MockProvider::start(
        MockConfig::new()
            .requests_per_window(REQUESTS)
            .input_tokens_per_window(1_000)
            .output_tokens_per_window(400)
            .window(WINDOW)
            .latency(LATENCY),
    )
    .expect("the mock starts");
    let window = WINDOW.as_secs();
    let proxy = proxy_support::start_proxy(
        &[
            "--upstream",
            &provider.url(),
            "--requests",
            &format!("{REQUESTS}/{window}s"),
            "--input-tokens",
            &format!("1000/{window}s"),
            "--output-tokens",
            &format!("400/{window}s"),
        ],
        &[],
    );
    let (processes, per_client) = (4, PER_CLIENT);
    let records = run_clients(&python, &script, processes, 0, &proxy.url);
    let stats = provider.stats();
    let (_, log) = proxy.stop("-TERM");
    assert_eq!(records.len(), processes * per_client, "{log}");
    for record in &records {
        record.check();
    }
    assert_eq!(stats.accepted, records.len() as u64, "{stats:?}");
    assert_eq!(
        stats.rejected, 0,
        "429s upstream: {stats:?}; proxy log:\n{log}"
    );
}
