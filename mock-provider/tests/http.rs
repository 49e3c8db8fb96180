//! The mock provider over real HTTP (ureq, plain http on 127.0.0.1).

mod common;

use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{agent, chat_body, get, post, Answer};
use tollgate_mock_provider::{
    arrival_cost, completion_tokens, prompt_tokens, MockConfig, MockProvider, Stats,
};

const RATE_HEADERS: [&str; 6] = [
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
];

fn millis(duration: Duration) -> u64 {
    duration.as_millis() as u64
}

#[test]
fn a_completion_with_deterministic_usage() {
    let provider = MockProvider::start(MockConfig::default()).unwrap();
    let agent = agent();
    let prompt = "Say hello to the mock"; // 5 words: 5 × 4/3 = 6.67 → 7 tokens
    let answer = post(
        &agent,
        &provider.chat_completions_url(),
        &chat_body(prompt, Some(100)),
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let body = &answer.json;
    assert_eq!(body["id"], "chatcmpl-1");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "gpt-mock");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let created = body["created"].as_u64().unwrap();
    assert!(created <= now && created + 60 >= now, "created {created}");
    let choice = &body["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["message"]["role"], "assistant");

    assert_eq!(prompt_tokens([prompt]), 7);
    assert_eq!(completion_tokens(7, Some(100)), 23); // 7 + 16, under max_tokens
    let usage = &body["usage"];
    assert_eq!(usage["prompt_tokens"], 7);
    assert_eq!(usage["completion_tokens"], 23);
    assert_eq!(usage["total_tokens"], 30);
    let content = choice["message"]["content"].as_str().unwrap();
    assert_eq!(content.split_whitespace().count(), 23);

    // The same request again: the same text and usage, the next id.
    let again = post(
        &agent,
        &provider.chat_completions_url(),
        &chat_body(prompt, Some(100)),
    );
    assert_eq!(again.json["id"], "chatcmpl-2");
    assert_eq!(again.json["choices"], body["choices"]);
    assert_eq!(again.json["usage"], body["usage"]);

    // max_tokens caps the completion; without it, 64 does.
    let capped = post(
        &agent,
        &provider.chat_completions_url(),
        &chat_body(prompt, Some(5)),
    );
    assert_eq!(capped.json["usage"]["completion_tokens"], 5);
    let long = "word ".repeat(90); // 120 tokens
    let uncapped = post(
        &agent,
        &provider.chat_completions_url(),
        &chat_body(&long, None),
    );
    assert_eq!(uncapped.json["usage"]["prompt_tokens"], 120);
    assert_eq!(uncapped.json["usage"]["completion_tokens"], 64);

    // No quota, no rate-limit headers.
    for name in RATE_HEADERS {
        assert_eq!(answer.header(name), None, "{name}");
    }
}

#[test]
fn successes_carry_the_six_rate_limit_headers() {
    let provider = MockProvider::start(
        MockConfig::default()
            .requests_per_window(10)
            .tokens_per_window(1_000),
    )
    .unwrap();
    let agent = agent();
    let body = chat_body("one two three", Some(40)); // 4 + 40 = 44 tokens at arrival
    assert_eq!(arrival_cost(4, Some(40)), 44);
    for i in 1..=3u64 {
        let answer = post(&agent, &provider.chat_completions_url(), &body);
        assert_eq!(answer.status, 200);
        for name in RATE_HEADERS {
            assert!(answer.header(name).is_some(), "{name} missing");
        }
        assert_eq!(answer.number("x-ratelimit-limit-requests"), 10);
        assert_eq!(answer.number("x-ratelimit-remaining-requests"), 10 - i);
        assert_eq!(answer.number("x-ratelimit-limit-tokens"), 1_000);
        assert_eq!(
            answer.number("x-ratelimit-remaining-tokens"),
            1_000 - 44 * i
        );
        // Back to the initial state when the latest request leaves the 60 s window.
        for name in ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"] {
            let reset = answer.go_duration(name);
            assert!(
                reset <= Duration::from_secs(60) && reset > Duration::from_secs(55),
                "{name}: {reset:?}"
            );
        }
    }
}

#[test]
fn over_the_request_quota_429_with_every_header_and_refusals_not_counted() {
    let window = Duration::from_millis(1_500);
    let provider = MockProvider::start(
        MockConfig::default()
            .requests_per_window(2)
            .tokens_per_window(1_000_000)
            .window(window),
    )
    .unwrap();
    let agent = agent();
    let url = provider.chat_completions_url();
    let body = chat_body("hello there", Some(10));

    let first_sent = Instant::now();
    assert_eq!(post(&agent, &url, &body).status, 200);
    let first_answered = Instant::now();
    thread::sleep(Duration::from_millis(300)); // the second request leaves the window later
    assert_eq!(post(&agent, &url, &body).status, 200);

    let refusal_sent = Instant::now();
    let refused = post(&agent, &url, &body);
    let refusal_answered = Instant::now();
    assert_eq!(refused.status, 429, "{}", refused.text);

    // retry-after-ms: the time until the first request leaves the window, as seen from here.
    let wait_ms = refused.number("retry-after-ms");
    let earliest = millis(window).saturating_sub(millis(refusal_answered - first_sent));
    let latest = millis(window).saturating_sub(millis(refusal_sent - first_answered)) + 1;
    assert!(
        (earliest..=latest).contains(&wait_ms),
        "retry-after-ms {wait_ms} outside {earliest}..={latest}"
    );
    assert!(wait_ms >= 1 && wait_ms <= millis(window));
    // retry-after: the same wait in whole seconds, rounded up.
    assert_eq!(refused.number("retry-after"), wait_ms.div_ceil(1_000));
    assert_eq!(refused.header("x-should-retry"), Some("true"));

    for name in RATE_HEADERS {
        assert!(refused.header(name).is_some(), "{name} missing");
    }
    assert_eq!(refused.number("x-ratelimit-limit-requests"), 2);
    assert_eq!(refused.number("x-ratelimit-remaining-requests"), 0);
    assert_eq!(refused.number("x-ratelimit-limit-tokens"), 1_000_000);
    let per_request = arrival_cost(prompt_tokens(["hello there"]), Some(10));
    assert_eq!(
        refused.number("x-ratelimit-remaining-tokens"),
        1_000_000 - 2 * per_request
    );
    let reset = refused.go_duration("x-ratelimit-reset-requests");
    assert!(reset >= Duration::from_millis(wait_ms) && reset <= window);
    assert_eq!(refused.go_duration("x-ratelimit-reset-tokens"), reset);

    let error = &refused.json["error"];
    assert_eq!(error["type"], "requests");
    assert_eq!(error["code"], "rate_limit_exceeded");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("Rate limit reached for requests"),
        "{message}"
    );
    assert!(message.contains("Please try again in "), "{message}");
    assert!(
        message.contains("Limit 2, Used 2, Requested 1"),
        "{message}"
    );

    // More refusals while the window is full; none of them counts.
    for _ in 0..5 {
        let again = post(&agent, &url, &body);
        assert_eq!(again.status, 429);
        assert!(again.number("retry-after-ms") <= wait_ms);
    }
    assert_eq!(
        provider.stats(),
        Stats {
            requests: 8,
            accepted: 2,
            rejected: 6,
            rejected_requests: 6,
            rejected_tokens: 0,
            invalid: 0,
        }
    );

    // Once the first request has left the window (the second has not) there is room for one
    // more: the refusals were not counted (if they were, the window would still be full).
    thread::sleep(Duration::from_millis(wait_ms + 20));
    let admitted = post(&agent, &url, &body);
    assert_eq!(admitted.status, 200, "{}", admitted.text);
    assert_eq!(admitted.number("x-ratelimit-remaining-requests"), 0);
    assert_eq!(post(&agent, &url, &body).status, 429);
}

#[test]
fn the_token_quota_counts_max_tokens_at_arrival() {
    let provider = MockProvider::start(
        MockConfig::default()
            .tokens_per_window(100)
            .window(Duration::from_secs(30)),
    )
    .unwrap();
    let agent = agent();
    let url = provider.chat_completions_url();
    let big = chat_body("one two three", Some(40)); // 4 + 40 = 44
    let small = chat_body("one two three", Some(5)); // 4 + 5 = 9

    let first = post(&agent, &url, &big);
    assert_eq!(first.status, 200);
    // The completion is 20 tokens, but the 40 of max_tokens counted at arrival.
    assert_eq!(first.json["usage"]["total_tokens"], 24);
    assert_eq!(first.number("x-ratelimit-remaining-tokens"), 56);
    assert_eq!(first.header("x-ratelimit-limit-requests"), None); // no request quota
    assert_eq!(
        post(&agent, &url, &big).number("x-ratelimit-remaining-tokens"),
        12
    );

    let refused = post(&agent, &url, &big);
    assert_eq!(refused.status, 429);
    assert_eq!(refused.json["error"]["type"], "tokens");
    assert_eq!(refused.json["error"]["code"], "rate_limit_exceeded");
    let message = refused.json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Limit 100, Used 88, Requested 44"),
        "{message}"
    );
    assert_eq!(refused.number("x-ratelimit-remaining-tokens"), 12);
    let wait_ms = refused.number("retry-after-ms");
    assert!(wait_ms > 29_000 && wait_ms <= 30_000, "{wait_ms}");
    assert_eq!(refused.number("retry-after"), wait_ms.div_ceil(1_000));

    // The refusal was not counted: 9 tokens still fit in the 12 left.
    let fits = post(&agent, &url, &small);
    assert_eq!(fits.status, 200, "{}", fits.text);
    assert_eq!(fits.number("x-ratelimit-remaining-tokens"), 3);

    // A request larger than the quota itself can never pass: no retry-after.
    let too_large = post(&agent, &url, &chat_body("one two three", Some(200)));
    assert_eq!(too_large.status, 429);
    assert_eq!(too_large.json["error"]["type"], "tokens");
    assert!(too_large.json["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Request too large"));
    assert_eq!(too_large.header("retry-after"), None);
    assert_eq!(too_large.header("retry-after-ms"), None);
    assert_eq!(too_large.header("x-should-retry"), Some("false"));

    let stats = provider.stats();
    assert_eq!(
        (stats.requests, stats.accepted, stats.rejected_tokens),
        (5, 3, 2)
    );
}

#[test]
fn without_max_tokens_the_completion_length_counts() {
    let provider = MockProvider::start(MockConfig::default().tokens_per_window(1_000)).unwrap();
    let answer = post(
        &agent(),
        &provider.chat_completions_url(),
        &chat_body("one two three", None),
    );
    assert_eq!(answer.status, 200);
    // 4 + min(64, 4 + 16) = 24.
    assert_eq!(arrival_cost(4, None), 24);
    assert_eq!(answer.number("x-ratelimit-remaining-tokens"), 1_000 - 24);
}

#[test]
fn sixty_four_requests_in_flight_at_once() {
    let latency = Duration::from_millis(200);
    let provider = Arc::new(
        MockProvider::start(
            MockConfig::default()
                .requests_per_window(1_000)
                .latency(latency),
        )
        .unwrap(),
    );
    let agent = agent();
    let barrier = Arc::new(Barrier::new(64));
    let started = Instant::now();
    let threads: Vec<_> = (0..64)
        .map(|i| {
            let (agent, barrier, url) = (
                agent.clone(),
                Arc::clone(&barrier),
                provider.chat_completions_url(),
            );
            thread::spawn(move || {
                barrier.wait();
                let sent = Instant::now();
                let answer = post(&agent, &url, &chat_body(&format!("request {i}"), Some(8)));
                (answer.status, sent.elapsed())
            })
        })
        .collect();
    let results: Vec<(u16, Duration)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let elapsed = started.elapsed();
    for (status, took) in &results {
        assert_eq!(*status, 200);
        assert!(*took >= latency, "answered in {took:?}, before the latency");
    }
    // Serialised, 64 × 200 ms = 12.8 s; overlapped, little more than 200 ms.
    let mut took: Vec<u128> = results.iter().map(|(_, took)| took.as_millis()).collect();
    took.sort_unstable();
    assert!(
        elapsed < Duration::from_secs(3),
        "64 requests with 200 ms latency took {elapsed:?}; each (ms): {took:?}"
    );
    assert_eq!(provider.stats().accepted, 64);
}

#[test]
fn stats_over_http_match_the_library() {
    let provider = MockProvider::start(MockConfig::default().requests_per_window(1)).unwrap();
    let agent = agent();
    let url = provider.chat_completions_url();
    assert_eq!(post(&agent, &url, &chat_body("a", None)).status, 200);
    assert_eq!(post(&agent, &url, &chat_body("b", None)).status, 429);
    assert_eq!(post(&agent, &url, "{").status, 400);

    let answer = get(&agent, &format!("{}/stats", provider.url()));
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let json = &answer.json;
    let expected = Stats {
        requests: 2,
        accepted: 1,
        rejected: 1,
        rejected_requests: 1,
        rejected_tokens: 0,
        invalid: 1,
    };
    assert_eq!(provider.stats(), expected);
    for (key, value) in [
        ("requests", 2),
        ("accepted", 1),
        ("rejected", 1),
        ("rejected_requests", 1),
        ("rejected_tokens", 0),
        ("invalid", 1),
    ] {
        assert_eq!(json[key], value, "{key} in {}", answer.text);
    }
    assert_eq!(answer.text, expected.to_json());
}

#[test]
fn invalid_requests_400_unknown_paths_404_wrong_methods_405() {
    let provider = MockProvider::start(MockConfig::default().requests_per_window(1)).unwrap();
    let agent = agent();
    let url = provider.chat_completions_url();
    let check = |answer: Answer, status: u16, param: Option<&str>| {
        assert_eq!(answer.status, status, "{}", answer.text);
        let error = &answer.json["error"];
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(error["type"].is_string());
        if let Some(param) = param {
            assert_eq!(error["param"], param, "{}", answer.text);
        }
    };
    check(post(&agent, &url, "not json"), 400, None);
    check(
        post(&agent, &url, r#"{"model": "m"}"#),
        400,
        Some("messages"),
    );
    check(
        post(&agent, &url, r#"{"model": "m", "messages": []}"#),
        400,
        Some("messages"),
    );
    check(
        post(
            &agent,
            &url,
            r#"{"messages": [{"role": "user", "content": "hi"}]}"#,
        ),
        400,
        Some("model"),
    );
    check(
        post(&agent, &url, &chat_body("hi", Some(0))),
        400,
        Some("max_tokens"),
    );
    check(
        get(&agent, &format!("{}/v1/models", provider.url())),
        404,
        None,
    );
    check(
        post(
            &agent,
            &format!("{}/v1/images/generations", provider.url()),
            "{}",
        ),
        404,
        None,
    );
    // Served since issue 24 (it was a 404 before): an invalid body there is a 400.
    check(
        post(&agent, &format!("{}/v1/completions", provider.url()), "{}"),
        400,
        Some("model"),
    );
    let wrong_method = get(&agent, &url);
    assert_eq!(wrong_method.header("allow"), Some("POST"));
    check(wrong_method, 405, None);

    // None of them took the one request of the quota.
    assert_eq!(post(&agent, &url, &chat_body("hi", None)).status, 200);
    assert_eq!(provider.stats().invalid, 6);
    assert_eq!(provider.stats().requests, 1);
}

#[test]
fn stop_frees_the_port_and_answers_requests_in_flight() {
    let mut provider = MockProvider::start(
        MockConfig::default().latency(Duration::from_secs(30)), // longer than the test
    )
    .unwrap();
    let addr = provider.addr();
    let url = provider.chat_completions_url();
    let in_flight = thread::spawn(move || post(&agent(), &url, &chat_body("hi", None)).status);
    let deadline = Instant::now() + Duration::from_secs(5);
    while provider.stats().accepted == 0 {
        assert!(Instant::now() < deadline, "the request never arrived");
        thread::sleep(Duration::from_millis(5));
    }
    let stopping = Instant::now();
    provider.stop();
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "stop took {:?}",
        stopping.elapsed()
    );
    assert_eq!(in_flight.join().unwrap(), 200);
    assert!(TcpStream::connect(addr).is_err(), "still listening");
    drop(TcpListener::bind(addr).expect("the port is free"));
    provider.stop(); // again: nothing
    assert_eq!(provider.stats().accepted, 1);

    // The same port serves again, and dropping frees it too.
    let again = MockProvider::start(MockConfig::default().port(addr.port())).unwrap();
    assert_eq!(again.addr(), addr);
    assert_eq!(
        post(
            &agent(),
            &again.chat_completions_url(),
            &chat_body("hi", None)
        )
        .status,
        200
    );
    drop(again);
    drop(TcpListener::bind(addr).expect("the port is free after drop"));
}

#[test]
fn a_busy_port_is_an_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let error = MockProvider::start(MockConfig::default().port(port)).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
}

#[test]
fn the_test_client_parses_go_durations() {
    assert_eq!(common::parse_go_duration("0s"), Some(Duration::ZERO));
    assert_eq!(
        common::parse_go_duration("20ms"),
        Some(Duration::from_millis(20))
    );
    assert_eq!(
        common::parse_go_duration("1.5s"),
        Some(Duration::from_millis(1_500))
    );
    assert_eq!(
        common::parse_go_duration("6m0s"),
        Some(Duration::from_secs(360))
    );
    assert_eq!(
        common::parse_go_duration("2m59.56s"),
        Some(Duration::from_millis(179_560))
    );
    assert_eq!(
        common::parse_go_duration("1h0m0s"),
        Some(Duration::from_secs(3_600))
    );
    assert_eq!(common::parse_go_duration("soon"), None);
}

#[test]
fn the_first_requests_hang_silently_then_the_others_are_answered() {
    let provider = MockProvider::start(MockConfig::default().hang_first(1)).unwrap();
    let url = provider.chat_completions_url();
    let impatient: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_millis(300)))
        .build()
        .into();
    let began = Instant::now();
    let hung = impatient
        .post(&url)
        .header("content-type", "application/json")
        .send(chat_body("hi", None).as_str());
    assert!(
        matches!(hung, Err(ureq::Error::Timeout(_))),
        "{hung:?} after {:?}",
        began.elapsed()
    );
    assert!(began.elapsed() >= Duration::from_millis(300));
    // Counted as accepted: it reached the server, which may bill it.
    assert_eq!(provider.stats().accepted, 1);
    assert_eq!(post(&agent(), &url, &chat_body("hi", None)).status, 200);
    assert_eq!(provider.stats().accepted, 2);

    // A request still hanging when the provider stops gets a 503, at once.
    let mut provider = MockProvider::start(MockConfig::default().hang_first(u64::MAX)).unwrap();
    let url = provider.chat_completions_url();
    let waiting = thread::spawn(move || post(&agent(), &url, &chat_body("hi", None)).status);
    let deadline = Instant::now() + Duration::from_secs(5);
    while provider.stats().accepted == 0 {
        assert!(Instant::now() < deadline, "the request never arrived");
        thread::sleep(Duration::from_millis(5));
    }
    let stopping = Instant::now();
    provider.stop();
    assert!(stopping.elapsed() < Duration::from_secs(3));
    assert_eq!(waiting.join().unwrap(), 503);
}
