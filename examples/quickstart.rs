//! Quick start: a shared limiter paces worker threads; a wrapper paces a closure; a bounded
//! wait fails fast. Prints what it does with timestamps.
//!
//! Run with `cargo run --release --example quickstart`.

use std::time::{Duration, Instant};

use tollgate::{limit_rate, Rate, RateLimiter};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let stamp = || format!("{:>7.1} ms", started.elapsed().as_secs_f64() * 1e3);

    // 4 requests per 2 s: 4 at once (the burst), then one every 500 ms.
    let limiter = RateLimiter::new("4/2s".parse()?);
    println!(
        "{} limiter {}: 7 requests from 3 threads",
        stamp(),
        limiter.rate()
    );
    std::thread::scope(|s| {
        for worker in 0..3 {
            let (limiter, stamp) = (&limiter, &stamp);
            s.spawn(move || {
                for _ in 0..if worker == 0 { 3 } else { 2 } {
                    limiter.acquire().unwrap();
                    println!("{} worker {worker} sends a request", stamp());
                }
            });
        }
    });

    // A wrapped closure owns a limiter of its own: 5 calls at 10/s with no burst.
    let double = limit_rate(Rate::per_second(10).burst(1), |x: u32| x * 2);
    for x in 1..=5 {
        let doubled = double(x)?;
        println!("{} double({x}) = {doubled}", stamp());
    }

    // Policing: refuse at once when the wait would be longer than we accept.
    match limiter.try_acquire_for(3, Duration::from_millis(100)) {
        Ok(()) => println!("{} took 3 units", stamp()),
        Err(err) => println!("{} refused without waiting: {err}", stamp()),
    }
    let stats = limiter.stats();
    println!(
        "{} stats: {} admitted, {} rejected, {:?} spent waiting",
        stamp(),
        stats.admitted,
        stats.rejected,
        stats.waited
    );
    Ok(())
}
