//! Providers' rate-limit headers and errors, parsed and classified: a table of real-format
//! values, and the property that no input, however malformed, panics.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use tollgate::presets::{
    parse_go_duration, parse_http_date, parse_retry_after, parse_rfc3339, Quota, RateLimitHeaders,
    Signal,
};

fn quota(limit: u64, remaining: u64, reset: Duration) -> Quota {
    Quota {
        limit: Some(limit),
        remaining: Some(remaining),
        reset: Some(reset),
    }
}

#[test]
fn openai_headers() {
    let headers = RateLimitHeaders::parse([
        ("x-ratelimit-limit-requests", "60"),
        ("x-ratelimit-limit-tokens", "150000"),
        ("x-ratelimit-remaining-requests", "59"),
        ("x-ratelimit-remaining-tokens", "149984"),
        ("x-ratelimit-reset-requests", "1s"),
        ("x-ratelimit-reset-tokens", "6m0s"),
    ]);
    assert_eq!(headers.requests, quota(60, 59, Duration::from_secs(1)));
    assert_eq!(
        headers.tokens,
        quota(150_000, 149_984, Duration::from_secs(360))
    );
    assert_eq!(headers.retry_after, None);
}

#[test]
fn azure_openai_headers() {
    let headers = RateLimitHeaders::parse([
        ("x-ratelimit-remaining-requests", "0"),
        ("x-ratelimit-remaining-tokens", "1200"),
        ("x-ratelimit-reset-requests", "-1"),
        ("x-ratelimit-reset-tokens", "12"),
        ("retry-after", "4"),
        ("retry-after-ms", "3250"),
    ]);
    assert_eq!(headers.requests.remaining, Some(0));
    assert_eq!(headers.requests.reset, None, "-1 means unknown");
    assert_eq!(headers.tokens.reset, Some(Duration::from_secs(12)));
    assert_eq!(
        headers.retry_after,
        Some(Duration::from_millis(3_250)),
        "retry-after-ms preferred"
    );
}

#[test]
fn anthropic_headers_measure_resets_against_the_date_header() {
    let headers = RateLimitHeaders::parse([
        ("Date", "Wed, 01 May 2024 12:00:00 GMT"),
        ("anthropic-ratelimit-requests-limit", "50"),
        ("anthropic-ratelimit-requests-remaining", "0"),
        ("anthropic-ratelimit-requests-reset", "2024-05-01T12:00:30Z"),
        ("anthropic-ratelimit-input-tokens-limit", "40000"),
        ("anthropic-ratelimit-input-tokens-remaining", "39000"),
        (
            "anthropic-ratelimit-input-tokens-reset",
            "2024-05-01T12:00:01.5Z",
        ),
        ("anthropic-ratelimit-output-tokens-limit", "8000"),
        ("anthropic-ratelimit-output-tokens-remaining", "7900"),
        (
            "anthropic-ratelimit-output-tokens-reset",
            "2024-05-01T11:59:00Z",
        ),
        ("retry-after", "30"),
        ("x-should-retry", "true"),
    ]);
    assert_eq!(headers.requests, quota(50, 0, Duration::from_secs(30)));
    assert_eq!(
        headers.input_tokens,
        quota(40_000, 39_000, Duration::from_millis(1_500))
    );
    assert_eq!(
        headers.output_tokens.reset,
        Some(Duration::ZERO),
        "a past reset is now"
    );
    assert_eq!(headers.retry_after, Some(Duration::from_secs(30)));
    assert_eq!(headers.should_retry, Some(true));
    assert_eq!(
        headers.date,
        parse_http_date("Wed, 01 May 2024 12:00:00 GMT")
    );
}

#[test]
fn an_http_date_retry_after_is_measured_from_the_responses_date() {
    let headers = RateLimitHeaders::parse_at(
        [
            ("date", "Wed, 01 May 2024 12:00:00 GMT"),
            ("retry-after", "Wed, 01 May 2024 12:01:00 GMT"),
        ],
        UNIX_EPOCH, // a wildly wrong local clock does not matter
    );
    assert_eq!(headers.retry_after, Some(Duration::from_secs(60)));
}

#[test]
fn classification_table() {
    let none = RateLimitHeaders::default();
    let with_wait = RateLimitHeaders::parse([("retry-after", "20")]);
    let no_retry = RateLimitHeaders::parse([("x-should-retry", "false")]);
    let retry = RateLimitHeaders::parse([("x-should-retry", "true")]);
    let cases: Vec<(u16, &RateLimitHeaders, &str, Signal)> = vec![
        (
            429,
            &with_wait,
            "",
            Signal::RateLimited {
                retry_after: Some(Duration::from_secs(20)),
            },
        ),
        (
            429,
            &none,
            "Rate limit reached for gpt-4o. Please try again in 6ms.",
            Signal::RateLimited {
                retry_after: Some(Duration::from_millis(6)),
            },
        ),
        (
            429,
            &none,
            "Please retry after 37 seconds.",
            Signal::RateLimited {
                retry_after: Some(Duration::from_secs(37)),
            },
        ),
        (
            429,
            &none,
            r#"{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12.5s"}]}}"#,
            Signal::RateLimited {
                retry_after: Some(Duration::from_millis(12_500)),
            },
        ),
        (
            429,
            &none,
            r#"{"error": {"type": "insufficient_quota", "message": "You exceeded your current quota, please check your plan and billing details."}}"#,
            Signal::QuotaExhausted { until: None },
        ),
        (
            529,
            &none,
            r#"{"type": "error", "error": {"type": "overloaded_error"}}"#,
            Signal::Overloaded { retry_after: None },
        ),
        (
            503,
            &with_wait,
            "",
            Signal::Overloaded {
                retry_after: Some(Duration::from_secs(20)),
            },
        ),
        (500, &none, "", Signal::Transient),
        (502, &none, "", Signal::Transient),
        (408, &none, "", Signal::Transient),
        (413, &none, "request too large", Signal::Permanent),
        (
            400,
            &none,
            "This model's maximum context length is 8192 tokens",
            Signal::Permanent,
        ),
        (401, &none, "", Signal::Permanent),
        (409, &retry, "", Signal::Transient),
        (500, &no_retry, "", Signal::Permanent),
    ];
    for (status, headers, body, expected) in cases {
        assert_eq!(
            Signal::classify(status, headers, body),
            Some(expected),
            "{status} {body}"
        );
    }
    assert!(!Signal::QuotaExhausted { until: None }.retryable());
    assert!(Signal::Overloaded { retry_after: None }.retryable());
}

#[test]
fn a_per_day_quota_is_exhausted_until_the_next_utc_day() {
    let headers = RateLimitHeaders::parse([("date", "Wed, 01 May 2024 18:00:00 GMT")]);
    let body = r#"{"error": {"code": 429, "details": [{"violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]}}"#;
    assert_eq!(
        Signal::classify(429, &headers, body),
        Some(Signal::QuotaExhausted {
            until: Some(Duration::from_secs(6 * 3_600))
        })
    );
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("retry-after".to_owned()),
        Just("retry-after-ms".to_owned()),
        Just("date".to_owned()),
        Just("x-should-retry".to_owned()),
        Just("x-ratelimit-reset-tokens".to_owned()),
        Just("x-ratelimit-remaining-requests".to_owned()),
        Just("anthropic-ratelimit-tokens-reset".to_owned()),
        Just("anthropic-ratelimit-input-tokens-limit".to_owned()),
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(crate::support::proptest_config(3_000))]

    #[test]
    fn no_input_makes_a_parser_panic(text in any::<String>(), digits in "[0-9.:a-zA-Z ,+-]{0,40}", status in any::<u16>()) {
        for input in [text.as_str(), digits.as_str()] {
            let _ = parse_go_duration(input);
            let _ = parse_retry_after(input, SystemTime::now());
            let _ = parse_http_date(input);
            let _ = parse_rfc3339(input);
            let headers = RateLimitHeaders::parse([("retry-after", input), ("date", input), (input, input)]);
            let _ = Signal::classify(status, &headers, input);
        }
    }

    #[test]
    fn no_header_set_makes_the_snapshot_panic(headers in prop::collection::vec((header_name(), any::<String>()), 0..12)) {
        let snapshot = RateLimitHeaders::parse(headers);
        let _ = Signal::classify(429, &snapshot, "");
    }

    #[test]
    fn go_durations_round_trip_whole_milliseconds(ms in 0u64..10_000_000) {
        let text = format!("{}m{}.{:03}s", ms / 60_000, (ms / 1_000) % 60, ms % 1_000);
        prop_assert_eq!(parse_go_duration(&text), Some(Duration::from_millis(ms)));
    }
}

#[test]
fn limit_headers_teach_a_resource_the_servers_quota_and_never_raise_it() {
    use tollgate::{Clock, Limits, MultiLimiter, Rate};
    let (clock, _time) = Clock::mock();
    let api = MultiLimiter::new(Limits::new().window("requests", Rate::per_second(20)))
        .unwrap()
        .with_clock(clock);
    RateLimitHeaders::parse([("x-ratelimit-limit-requests", "5")])
        .apply_to(&api)
        .unwrap();
    assert_eq!(api.rate("requests").unwrap(), Rate::per_second(5));
    RateLimitHeaders::parse([("x-ratelimit-limit-requests", "50")])
        .apply_to(&api)
        .unwrap();
    assert_eq!(
        api.rate("requests").unwrap(),
        Rate::per_second(5),
        "never raised"
    );
    let admitted = (0..20)
        .filter(|_| api.try_acquire(&[("requests", 1)]).is_ok())
        .count();
    assert_eq!(admitted, 5);
}

#[test]
fn a_header_family_with_no_resource_is_reported_not_ignored() {
    use tollgate::{Limits, MultiLimiter, Rate};
    let api = MultiLimiter::new(Limits::new().rate("points", Rate::per_minute(100))).unwrap();
    let headers = RateLimitHeaders::parse([
        ("x-ratelimit-remaining-requests", "0"),
        ("x-ratelimit-reset-requests", "2s"),
        ("anthropic-ratelimit-output-tokens-remaining", "10"),
    ]);
    let unmapped = headers.apply_to(&api).unwrap_err();
    assert_eq!(unmapped.families, vec!["requests", "output_tokens"]);
    assert!(unmapped.to_string().contains("apply_as"));
    // Mapped explicitly, the requests headers hold the points resource.
    let unmapped = headers
        .apply_as(&api, &[("requests", "points")])
        .unwrap_err();
    assert_eq!(unmapped.families, vec!["output_tokens"]);
    assert!(api.try_acquire(&[("points", 1)]).is_err());
}
