//! `exec` reads its input as the run consumes it: resident memory stays bounded (≤ 100 MB)
//! on a 1 GB input file and on an endless `yes` pipe, read in /proc while the run goes on.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{scratch_dir, tollgate};

const LIMIT_KB: u64 = 100 * 1024;

/// The process's resident memory, in kB.
fn resident_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The most resident memory `child` held over `watch`, then stops it with SIGTERM.
fn most_resident_kb(child: &mut Child, watch: Duration) -> u64 {
    let begun = Instant::now();
    let mut most = 0;
    while begun.elapsed() < watch {
        if let Some(status) = child.try_wait().unwrap() {
            let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
            panic!("exec ended early ({status}): {stderr}");
        }
        most = most.max(resident_kb(child.id()).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(50));
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    most
}

/// `exec` of `true` for each line, as fast as it goes, with `input` flags.
fn exec_of(dir: &Path, input: &[&str]) -> Command {
    let mut command = tollgate();
    command
        .current_dir(dir)
        .args(["exec", "--rate", "1000000/s", "--as-completed"])
        .args(input)
        .args(["--", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

#[test]
fn memory_stays_bounded_on_a_1_gb_input() {
    let dir = scratch_dir("memory-file");
    let path = dir.join("big");
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let line = format!("{}\n", "x".repeat(1_023));
        for _ in 0..(1 << 20) {
            file.write_all(line.as_bytes()).unwrap();
        }
    }
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 1 << 30);
    let mut child = exec_of(&dir, &["--input", "big"]).spawn().unwrap();
    let most = most_resident_kb(&mut child, Duration::from_secs(4));
    println!("exec on a 1 GB input: at most {most} kB resident");
    assert!(most <= LIMIT_KB, "{most} kB resident on a 1 GB input");
}

#[test]
fn memory_stays_bounded_on_an_endless_pipe() {
    let dir = scratch_dir("memory-pipe");
    let mut yes = Command::new("yes").stdout(Stdio::piped()).spawn().unwrap();
    let mut child = exec_of(&dir, &[])
        .stdin(Stdio::from(yes.stdout.take().unwrap()))
        .spawn()
        .unwrap();
    let most = most_resident_kb(&mut child, Duration::from_secs(4));
    yes.kill().ok();
    yes.wait().ok();
    println!("exec on an endless pipe: at most {most} kB resident");
    assert!(most <= LIMIT_KB, "{most} kB resident on an endless pipe");
}
