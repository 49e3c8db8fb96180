//! Two `tollgate proxy`s (two "machines") sharing one quota on Redis (`--redis URL --name
//! NAME`, the `redis` feature) hold the upstream's bound together: every request answered, no
//! 429 upstream, together no faster than the one quota allows (each alone would have passed its
//! share at once), and within 1.1x its ideal time (measured 1.014x to 1.033x).
#![cfg(feature = "redis")]

mod proxy_support;

#[path = "../../tests/support/redis_server.rs"]
mod redis_server;

use std::time::{Duration, Instant};

use proxy_support::{agent, chat_body, post, start_proxy};
use redis_server::RedisServer;
use tollgate_mock_provider::{MockConfig, MockProvider};

const SERVER_REQUESTS: u64 = 10;
const REQUESTS_PER_PROXY: u64 = 20;
const CLIENTS_PER_PROXY: u64 = 10;

#[test]
fn two_proxies_on_one_redis_hold_the_bound_together() {
    let Some(redis) = RedisServer::start_or_skip() else {
        return;
    };
    let provider = MockProvider::start(
        MockConfig::new()
            .requests_per_window(SERVER_REQUESTS)
            .window(Duration::from_secs(1))
            .latency(Duration::from_millis(5)),
    )
    .unwrap();
    let name = format!("proxy-test-{}", std::process::id());
    let args = [
        "--upstream",
        &provider.url(),
        "--requests",
        "10/s",
        "--redis",
        &redis.url(),
        "--name",
        &name,
    ];
    let proxies = [start_proxy(&args, &[]), start_proxy(&args, &[])];
    let begun = Instant::now();
    let clients: Vec<_> = proxies
        .iter()
        .flat_map(|proxy| {
            (0..CLIENTS_PER_PROXY).map(|client| {
                let url = format!("{}/v1/chat/completions", proxy.url);
                std::thread::spawn(move || {
                    let agent = agent();
                    (0..REQUESTS_PER_PROXY / CLIENTS_PER_PROXY)
                        .map(|index| {
                            post(&agent, &url, &chat_body(&format!("{client} {index}"), 4)).0
                        })
                        .collect::<Vec<u16>>()
                })
            })
        })
        .collect();
    let statuses: Vec<u16> = clients
        .into_iter()
        .flat_map(|client| client.join().unwrap())
        .collect();
    let wall = begun.elapsed();
    let output = format!("{}{}", proxies[0].output(), proxies[1].output());
    assert_eq!(statuses.len(), 40);
    assert!(
        statuses.iter().all(|status| *status == 200),
        "{statuses:?}: {output}"
    );
    assert_eq!(provider.stats().rejected, 0, "{output}");
    // 40 requests at 10 per second: the last batch goes after 3 s. Alone, each proxy would
    // have let its 20 go in 1 s.
    let ideal = Duration::from_secs(3);
    let ratio = wall.as_secs_f64() / ideal.as_secs_f64();
    eprintln!("two proxies on Redis: {wall:?}, {ratio:.3}x the ideal");
    assert!(
        ratio >= 0.98,
        "faster than the one quota: {wall:?}: {output}"
    );
    assert!(ratio <= 1.1, "{wall:?}: {output}");
}
