//! The inline size of each limiter type (`size_of`), the heap it owns on top, a `Runner`'s
//! memory per pending job (the growth of the process's resident memory while 10⁶ jobs are
//! scheduled, on Linux), and per-key limits beside governor's: the resident memory of 10⁶ live
//! keys (`u64` and `String`) in a `KeyedLimiter` and in governor's keyed limiter, of 10⁶ `u64`
//! keys with two resources (requests and tokens) in a `KeyedMultiLimiter` and in two governor
//! keyed limiters side by side, of 10⁶ model names used once in a `ModelLimiter`, and the time
//! to read them all (`for_each`, `stats`).
//! Each per-key figure is measured in a child process of its own (this program run again with
//! the case's name), so that memory freed by one case does not hide the next one's growth.
//!
//! Run with `cargo run --release --example footprint`.

use std::mem::size_of;
use std::num::NonZeroU32;
use std::process::Command;
use std::time::{Duration, Instant};

use tollgate::algorithm::{GcraContinuous, GcraVirtual, LeakyBucket, SlidingWindow, TokenBucket};
use tollgate::{
    AdaptiveSemaphore, CreditSemaphore, KeyedLimiter, KeyedMultiLimiter, Limits, ModelLimiter,
    Rate, RateLimiter, Runner, REQUESTS, TOKENS,
};

/// Jobs scheduled to measure a pending job's memory.
const PENDING_JOBS: u64 = 1_000_000;

/// The process's resident memory in bytes (Linux: `/proc/self/statm`, in pages of 4 KiB).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4_096)
}

/// Bytes of resident memory per job while [`PENDING_JOBS`] `u64` jobs wait in a `Runner`.
fn bytes_per_pending_job() -> Option<u64> {
    let before = resident_bytes()?;
    let mut runner = Runner::new(|x: &u64| Ok::<u64, ()>(*x));
    for x in 0..PENDING_JOBS {
        runner.schedule(x).ok()?;
    }
    let after = resident_bytes()?;
    drop(runner);
    Some(after.saturating_sub(before) / PENDING_JOBS)
}

/// Keys (or model names) per case.
const KEYS: u64 = 1_000_000;

/// A key's name in the `String` cases (12 bytes, as a user or model name might be).
fn name(i: u64) -> String {
    format!("user-{i:07}")
}

/// A way to read every key back, named, returning a sum (so that nothing is optimised away).
type ReadAll = (&'static str, Box<dyn Fn() -> u64>);

/// One per-key case, in this (child) process: adds [`KEYS`] live keys, then prints the growth of
/// resident memory per key, then the time each way of reading every key back takes, as
/// `bytes name nanoseconds name nanoseconds…`.
fn measure(case: &str) {
    // A key used once stays live for an hour: none is forgotten while measured.
    let rate = Rate::per_hour(10);
    let quota = governor::Quota::per_hour(NonZeroU32::new(10).unwrap());
    let before = resident_bytes().unwrap_or(0);
    let reads: Vec<ReadAll> = match case {
        "tollgate-u64" => {
            let keyed = KeyedLimiter::<u64>::new(rate);
            (0..KEYS).for_each(|key| keyed.try_acquire(&key).unwrap());
            vec![("for_each", Box::new(move || in_use(&keyed)))]
        }
        "governor-u64" => {
            let keyed = governor::RateLimiter::keyed(quota);
            (0..KEYS).for_each(|key| keyed.check_key(&key).unwrap());
            vec![("len", Box::new(move || keyed.len() as u64))]
        }
        "tollgate-u64-two" => {
            let keyed =
                KeyedMultiLimiter::<u64, 2>::new([(REQUESTS, rate), (TOKENS, rate)]).unwrap();
            (0..KEYS).for_each(|key| keyed.try_acquire(&key, &[(TOKENS, 1)]).unwrap());
            vec![(
                "for_each",
                Box::new(move || {
                    let mut in_use = 0;
                    keyed.for_each(|_, [(_, requests), (_, tokens)]| {
                        in_use += requests.in_use + tokens.in_use;
                    });
                    in_use
                }),
            )]
        }
        "governor-u64-two" => {
            let requests = governor::RateLimiter::keyed(quota);
            let tokens = governor::RateLimiter::keyed(quota);
            for key in 0..KEYS {
                requests.check_key(&key).unwrap();
                tokens.check_key(&key).unwrap();
            }
            vec![(
                "len",
                Box::new(move || (requests.len() + tokens.len()) as u64),
            )]
        }
        "tollgate-string" => {
            let keyed = KeyedLimiter::<String>::new(rate);
            (0..KEYS).for_each(|key| keyed.try_acquire(&name(key)).unwrap());
            vec![("for_each", Box::new(move || in_use(&keyed)))]
        }
        "governor-string" => {
            let keyed = governor::RateLimiter::keyed(quota);
            (0..KEYS).for_each(|key| keyed.check_key(&name(key)).unwrap());
            vec![("len", Box::new(move || keyed.len() as u64))]
        }
        "models" => {
            let models = std::rc::Rc::new(
                ModelLimiter::builder()
                    .default(Limits::new().rpm(10).tpm(200_000))
                    .build()
                    .unwrap(),
            );
            for key in 0..KEYS {
                drop(models.acquire(&name(key), &[(TOKENS, 100)]).unwrap());
            }
            let each = std::rc::Rc::clone(&models);
            vec![
                (
                    "for_each",
                    Box::new(move || {
                        let mut tokens = 0;
                        each.for_each(|_, stats| tokens += stats.tokens.map_or(0, |t| t.used));
                        tokens
                    }),
                ),
                ("stats", Box::new(move || models.stats().len() as u64)),
            ]
        }
        _ => panic!("unknown case {case}"),
    };
    let grown = resident_bytes().unwrap_or(0).saturating_sub(before);
    print!("{}", grown / KEYS);
    for (name, read) in reads {
        let started = Instant::now();
        std::hint::black_box(read());
        print!(" {name} {}", started.elapsed().as_nanos());
    }
    println!();
}

/// Units in use over every key of `keyed`, read by `for_each`.
fn in_use<K: std::hash::Hash + Eq + Clone>(keyed: &KeyedLimiter<K>) -> u64 {
    let mut in_use = 0;
    keyed.for_each(|_, usage| in_use += usage.in_use);
    in_use
}

/// Runs `case` in a child process: bytes per key, and each way of reading all keys with its time.
fn measured(case: &str) -> Option<(u64, Vec<(String, Duration)>)> {
    let exe = std::env::current_exe().ok()?;
    let output = Command::new(exe).arg(case).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let mut words = text.split_whitespace();
    let bytes = words.next()?.parse().ok()?;
    let mut reads = Vec::new();
    while let (Some(name), Some(nanos)) = (words.next(), words.next()) {
        reads.push((name.to_owned(), Duration::from_nanos(nanos.parse().ok()?)));
    }
    Some((bytes, reads))
}

/// `"for_each 2.31ms"`, the reads' names and times.
fn shown(reads: &[(String, Duration)]) -> String {
    let shown: Vec<_> = reads
        .iter()
        .map(|(name, time)| format!("{name} over all: {time:.2?}"))
        .collect();
    shown.join(", ")
}

/// The per-key table: tollgate beside governor, and the `ModelLimiter`.
fn per_key_table() {
    println!("\nPer-key state, 10⁶ live keys (resident memory grown per key; time to read all):");
    let cases = [
        ("u64", "KeyedLimiter", "governor"),
        ("string", "KeyedLimiter", "governor"),
        ("u64-two", "KeyedMultiLimiter<_, 2>", "two governors"),
    ];
    for (keys, ours_name, theirs_name) in cases {
        let ours = measured(&format!("tollgate-{keys}"));
        let theirs = measured(&format!("governor-{keys}"));
        match (ours, theirs) {
            (Some((ours, reads)), Some((theirs, _))) => println!(
                "  {keys:<7} keys: {ours_name} {ours:>4} bytes, {theirs_name} {theirs:>4} bytes \
                 (difference {:+} bytes); {}",
                ours as i64 - theirs as i64,
                shown(&reads)
            ),
            _ => println!("  {keys:<7} keys: not measured (no /proc/self/statm?)"),
        }
    }
    match measured("models") {
        Some((bytes, reads)) => println!(
            "  ModelLimiter, 10⁶ model names used once (rpm + tpm): {bytes} bytes per model; {}",
            shown(&reads)
        ),
        None => println!("  ModelLimiter: not measured"),
    }
}

fn main() {
    if let Some(case) = std::env::args().nth(1) {
        return measure(&case);
    }
    let sizes = [
        (
            "RateLimiter<GcraVirtual>",
            size_of::<RateLimiter<GcraVirtual>>(),
        ),
        (
            "RateLimiter<GcraContinuous>",
            size_of::<RateLimiter<GcraContinuous>>(),
        ),
        (
            "RateLimiter<TokenBucket>",
            size_of::<RateLimiter<TokenBucket>>(),
        ),
        (
            "RateLimiter<LeakyBucket>",
            size_of::<RateLimiter<LeakyBucket>>(),
        ),
        (
            "RateLimiter<SlidingWindow>",
            size_of::<RateLimiter<SlidingWindow>>(),
        ),
        ("CreditSemaphore", size_of::<CreditSemaphore>()),
        ("AdaptiveSemaphore", size_of::<AdaptiveSemaphore>()),
        ("algorithm::GcraVirtual", size_of::<GcraVirtual>()),
        ("algorithm::TokenBucket", size_of::<TokenBucket>()),
    ];
    for (name, bytes) in sizes {
        println!("{name:<30}{bytes:>5} bytes");
    }
    println!(
        "A RateLimiter also owns on the heap: its reservation core (lock, queue, state), a 1,088-byte block of \
         per-thread counters, and the lock-free path's 384 bytes (the state word on a 128-byte line of its own, \
         the pace on the next)."
    );
    match bytes_per_pending_job() {
        Some(bytes) => println!(
            "Runner: about {bytes} bytes of resident memory per pending u64 job (10⁶ scheduled)."
        ),
        None => println!("Runner: memory per pending job not measured (no /proc/self/statm)."),
    }
    per_key_table();
}
