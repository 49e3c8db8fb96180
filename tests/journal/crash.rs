//! A batch killed with SIGKILL at random points and rerun with the same journal: every job ends
//! with exactly one result, no job reported before the kill is called again, and the calls paid
//! twice are at most the ones in flight at the kill.
//!
//! The batch runs in a child process (this test binary, re-executed); its calls go to a
//! loopback fake API in the parent, which counts the calls of each job across the kill.
#![cfg(all(feature = "journal", unix))]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tollgate::Runner;

use crate::support::test_name;

const JOBS: u64 = 60;
const CHILD: &str = "TOLLGATE_CRASH_CHILD";

/// The fake API: a request is a line `<job>`, the answer `<job * job>` after a few
/// milliseconds; the calls of each job are counted.
struct FakeApi {
    addr: String,
    calls: Arc<Vec<AtomicU64>>,
}

impl FakeApi {
    fn start() -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let calls: Arc<Vec<AtomicU64>> = Arc::new((0..JOBS).map(|_| AtomicU64::new(0)).collect());
        let counted = Arc::clone(&calls);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counted = Arc::clone(&counted);
                std::thread::spawn(move || serve(stream, &counted));
            }
        });
        FakeApi { addr, calls }
    }

    fn calls(&self) -> Vec<u64> {
        self.calls
            .iter()
            .map(|calls| calls.load(Ordering::SeqCst))
            .collect()
    }
}

fn serve(stream: TcpStream, calls: &[AtomicU64]) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let Ok(job) = line.trim().parse::<u64>() else {
        return;
    };
    calls[job as usize].fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(3));
    writeln!(&stream, "{}", job * job).ok();
}

fn call(addr: &str, job: u64) -> Result<u64, String> {
    let mut stream = TcpStream::connect(addr).map_err(|err| err.to_string())?;
    writeln!(stream, "{job}").map_err(|err| err.to_string())?;
    let mut answer = String::new();
    BufReader::new(stream)
        .read_line(&mut answer)
        .map_err(|err| err.to_string())?;
    answer
        .trim()
        .parse()
        .map_err(|_| format!("bad answer {answer:?}"))
}

/// The child's side: run the batch with the journal, printing each job as it is reported, then
/// every result of the report.
#[test]
fn child_batch() {
    let Ok(addr) = std::env::var(CHILD) else {
        return; // only in the child process
    };
    // A child that hangs aborts, naming itself: the parent reading its output to the end fails
    // instead of waiting forever.
    crate::support::watchdog::watch_this_test();
    let journal = std::env::var("TOLLGATE_CRASH_JOURNAL").unwrap();
    let mut runner = Runner::new(|job: &u64| call(&addr, *job))
        .max_concurrent(4)
        .journal(&journal)
        .unwrap();
    runner.schedule_all(0..JOBS).unwrap();
    let stdout = std::io::stdout();
    let report = runner.run_each(|done| {
        let mut out = stdout.lock();
        writeln!(out, "reported {}", done.index).unwrap();
        out.flush().unwrap();
    });
    let mut out = stdout.lock();
    for (index, result) in report.results.iter().enumerate() {
        writeln!(out, "final {index} {result:?}").unwrap();
    }
    out.flush().unwrap();
}

/// Runs the child batch; kills it with SIGKILL after `kill_after` reports (if given). Returns
/// the jobs reported and the `final` lines.
fn run_child(
    api: &FakeApi,
    journal: &Path,
    kill_after: Option<usize>,
) -> (Vec<usize>, Vec<String>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg(test_name(module_path!(), "child_batch"))
        .args(["--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, &api.addr)
        .env("TOLLGATE_CRASH_JOURNAL", journal)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reported = Vec::new();
    let mut finals = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    if kill_after == Some(0) {
        child.kill().unwrap();
    }
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(index) = line.strip_prefix("reported ") {
            reported.push(index.parse().unwrap());
            if Some(reported.len()) == kill_after {
                child.kill().unwrap(); // SIGKILL
                break;
            }
        } else if let Some(result) = line.strip_prefix("final ") {
            finals.push(result.to_owned());
        }
    }
    let status = child.wait().unwrap();
    if kill_after.is_none() {
        assert!(status.success(), "the rerun failed: {status}");
    }
    (reported, finals)
}

#[test]
fn a_batch_killed_at_random_points_and_rerun_pays_only_for_the_calls_in_flight() {
    let dir = std::env::temp_dir().join(format!("tollgate-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for trial in 0..10 {
        let api = FakeApi::start();
        let journal = dir.join(format!("trial-{trial}.journal"));
        // A different kill point each trial: after 0 to JOBS - 1 reports.
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let kill_after = ((seed >> 33) % JOBS) as usize;
        let (reported, _) = run_child(&api, &journal, Some(kill_after));
        std::thread::sleep(Duration::from_millis(20)); // calls the child sent before dying land
        let calls_at_kill = api.calls();
        let in_flight = calls_at_kill.iter().sum::<u64>() - reported.len() as u64;

        let (_, finals) = run_child(&api, &journal, None);
        let calls = api.calls();
        let expected: Vec<String> = (0..JOBS)
            .map(|job| format!("{job} Some({})", job * job))
            .collect();
        assert_eq!(
            finals, expected,
            "trial {trial}: every job has exactly one result"
        );
        let reported: BTreeSet<usize> = reported.into_iter().collect();
        for job in &reported {
            assert_eq!(
                calls[*job], 1,
                "trial {trial}: job {job} was reported, then called again"
            );
        }
        assert!(calls.iter().all(|calls| *calls >= 1));
        let total: u64 = calls.iter().sum();
        assert!(
            total <= JOBS + in_flight,
            "trial {trial}: {total} calls for {JOBS} jobs, {in_flight} in flight at the kill (after {kill_after} reports)"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
