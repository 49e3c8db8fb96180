//! Provider profiles: the seed's token estimate, the 95 % token budget, Azure's RPM rule,
//! Anthropic's output reservation setting, Gemini's daily quota, all as a Runner sees them.

use tollgate::presets::{AnthropicMessages, ChatRequest, Gemini, OpenAiChat};
use tollgate::{Runner, RunnerError};

fn poem(max_tokens: Option<u64>, n: Option<u64>) -> ChatRequest {
    let mut request = ChatRequest::new().message("user", "Please write a poem about honey badgers");
    request.max_tokens = max_tokens;
    request.n = n;
    request
}

#[test]
fn the_seeds_openai_estimate() {
    let chat = OpenAiChat::new(3_500, 90_000, 4_096);
    // "user" + 7 words: 8 pieces, doubled.
    assert_eq!(chat.estimate(&poem(Some(256), None)), 16 + 256);
    assert_eq!(chat.estimate(&poem(Some(256), Some(3))), 3 * (16 + 256));
    assert_eq!(chat.estimate(&poem(None, Some(2))), 2 * 4_096);
    // The whole quota by default (no margin needed); a share budgets less.
    assert_eq!(chat.token_quota(), 90_000);
    let chat = chat.token_quota_share(0.95).unwrap();
    assert_eq!(chat.token_quota(), 85_500);
    assert_eq!(OpenAiChat::azure(60_000, 8_192).requests_per_minute, 360);
    let limits = chat.limits();
    assert_eq!(
        limits.get("tokens").map(|rate| rate.quantity()),
        Some(85_500)
    );
}

#[test]
fn a_request_whose_estimate_exceeds_the_token_budget_is_refused_at_schedule() {
    let chat = OpenAiChat::new(10, 1_000, 4_096);
    let [requests, tokens] = chat.resources(|used: &u64| *used);
    let mut runner = Runner::new(|_: &ChatRequest| Ok::<u64, String>(10))
        .resource(requests)
        .resource(tokens);
    runner.schedule(poem(Some(500), None)).unwrap();
    assert_eq!(
        runner.schedule(poem(None, None)),
        Err(RunnerError::ExceedsQuota {
            resource: "tokens".into(),
            cost: 4_096,
            quota: 1_000
        })
    );
    let (results, _) = runner.run().into_parts();
    assert_eq!(results, vec![Some(10)]);
}

#[test]
fn anthropic_reserves_max_tokens_against_output_only_when_set() {
    let reserving = AnthropicMessages::new(50, 40_000, 8_000);
    let [requests, input, output] =
        reserving.resources(|(i, _): &(u64, u64)| *i, |(_, o): &(u64, u64)| *o);
    let mut runner = Runner::new(|_: &ChatRequest| Ok::<(u64, u64), String>((20, 100)))
        .resource(requests)
        .resource(input)
        .resource(output);
    assert!(matches!(
        runner.schedule(poem(Some(9_000), None)),
        Err(RunnerError::ExceedsQuota { ref resource, .. }) if resource == "output_tokens"
    ));

    let billed_after = reserving.max_tokens_counts_against_output(false);
    let [requests, input, output] =
        billed_after.resources(|(i, _): &(u64, u64)| *i, |(_, o): &(u64, u64)| *o);
    let mut runner = Runner::new(|_: &ChatRequest| Ok::<(u64, u64), String>((20, 100)))
        .resource(requests)
        .resource(input)
        .resource(output);
    runner.schedule(poem(Some(9_000), None)).unwrap();
    assert_eq!(runner.run().results, vec![Some((20, 100))]);
}

#[test]
fn gemini_counts_requests_per_day_too() {
    let [per_minute, tokens, per_day] = Gemini::new(15, 1_000_000, 2).resources(|used: &u64| *used);
    let mut runner = Runner::new(|_: &ChatRequest| Ok::<u64, String>(5))
        .resource(per_minute)
        .resource(tokens)
        .resource(per_day);
    for _ in 0..2 {
        runner.schedule(poem(Some(10), None)).unwrap();
    }
    assert_eq!(runner.run().results, vec![Some(5), Some(5)]);
    assert_eq!(per_day_rate_seconds(), 86_400);
}

fn per_day_rate_seconds() -> u64 {
    let [_, _, per_day] = Gemini::new(1, 1, 1).resources::<ChatRequest, u64>(|_| 0);
    per_day.rate().period().as_secs()
}
