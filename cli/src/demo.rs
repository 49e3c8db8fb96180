//! `tollgate demo`: 200 chat requests through `chat`'s code against the loopback mock provider,
//! then the wall time against the ideal and the server's count of 429s.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use tollgate::Rate;
use tollgate_mock_provider::{arrival_cost, prompt_tokens, MockConfig, MockProvider};

use crate::chat::{run_chat, ChatSettings, Concurrency, Endpoint, RequestTimeout};
use crate::cli_error::CliError;
use crate::input_lines::InputLine;
use crate::mock_server;
use crate::run_outcome::RunOutcome;

/// Requests in the sample.
const REQUESTS: usize = 200;
/// The mock's window: a compressed minute, so that the demo takes seconds.
const WINDOW: Duration = Duration::from_secs(2);
/// Requests the mock accepts per window.
const REQUESTS_PER_WINDOW: u64 = 40;
/// Tokens the mock accepts per window: with the sample's requests (64 tokens each on average),
/// the tokens quota binds a little harder than the requests quota.
const TOKENS_PER_WINDOW: u64 = 2_400;
/// How long the mock takes to answer.
const LATENCY: Duration = Duration::from_millis(50);

const TOPICS: [&str; 8] = [
    "llamas",
    "honey badgers",
    "pandas",
    "the sea",
    "rate limits",
    "autumn",
    "trains",
    "bread",
];

/// Runs `tollgate demo`.
///
/// # Errors
/// [`CliError`] when the mock provider cannot start or Ctrl-C cannot be caught.
pub fn demo() -> Result<RunOutcome, CliError> {
    let mut provider = MockProvider::start(
        MockConfig::new()
            .requests_per_window(REQUESTS_PER_WINDOW)
            .tokens_per_window(TOKENS_PER_WINDOW)
            .window(WINDOW)
            .latency(LATENCY),
    )
    .map_err(CliError::MockProvider)?;
    let sample = sample();
    println!(
        "tollgate demo: {REQUESTS} chat requests to a mock provider on {} that allows \
         {REQUESTS_PER_WINDOW} requests and {TOKENS_PER_WINDOW} tokens per {} s window (a \
         compressed minute), counted at arrival, and answers after {} ms",
        provider.url(),
        WINDOW.as_secs(),
        LATENCY.as_millis(),
    );
    let endpoint = Endpoint::parse(&provider.chat_completions_url())
        .map_err(|err| CliError::MockProvider(io::Error::new(io::ErrorKind::InvalidData, err)))?;
    let settings = ChatSettings {
        input: PathBuf::from("the demo's sample"),
        requests: Rate::new(REQUESTS_PER_WINDOW, WINDOW),
        tokens: Rate::new(TOKENS_PER_WINDOW, WINDOW),
        endpoint,
        api_key: None,
        model: None,
        default_max_tokens: 64,
        concurrency: Concurrency::FollowQuota,
        timeout: RequestTimeout::ByMaxTokens,
        retries: 5,
        progress: true,
        journal: None,
    };
    let summary = run_chat(&settings, sample.into_iter().map(Ok), &mut io::sink())?;
    let stats = provider.stats();
    provider.stop();

    let tokens: u64 = (0..REQUESTS).map(|index| sample_request(index).1).sum();
    let ideal = ideal_time(REQUESTS as u64, tokens);
    let wall = summary.elapsed;
    println!(
        "answered    {} of {REQUESTS} ({} failed)\n\
         wall time   {:.2} s\n\
         ideal time  {:.2} s ({REQUESTS} requests and {tokens} tokens need {} whole windows of \
         {} s, plus one answer's latency)\n\
         ratio       {:.3}\n\
         429s        {} (the server's count: {})",
        summary.answered,
        summary.failed,
        wall.as_secs_f64(),
        ideal.as_secs_f64(),
        (ideal - LATENCY).as_secs() / WINDOW.as_secs(),
        WINDOW.as_secs(),
        wall.as_secs_f64() / ideal.as_secs_f64(),
        stats.rejected,
        mock_server::describe(&stats),
    );
    Ok(RunOutcome::of(summary.failed, summary.stopped))
}

/// The sample, as lines of a requests file.
fn sample() -> Vec<InputLine> {
    (0..REQUESTS)
        .map(|index| InputLine {
            number: index + 1,
            bytes: sample_request(index).0.into_bytes(),
        })
        .collect()
}

/// Request `index` of the sample (varied lengths: 4 to 32 words, `max_tokens` 16 to 64) and
/// the tokens the server counts for it at arrival.
fn sample_request(index: usize) -> (String, u64) {
    let topic = TOPICS[index % TOPICS.len()];
    let extra_words = vec!["please"; (index * 7) % 29].join(" ");
    let content = format!("Write a poem about {topic} {extra_words}");
    let max_tokens = 16 + (index as u64 * 13) % 49;
    let request = json!({
        "model": "gpt-mock",
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
        "metadata": {"sample": index},
    });
    let cost = arrival_cost(prompt_tokens([content.as_str()]), Some(max_tokens));
    (request.to_string(), cost)
}

/// The least time any client needs for `requests` requests using `tokens` tokens: a quota of Q
/// per window W (counted at arrival, exactly) admits usage U in whole windows, so the last
/// request arrives no earlier than W x floor((U - 1) / Q), and is answered one latency later.
fn ideal_time(requests: u64, tokens: u64) -> Duration {
    let windows = |used: u64, quota: u64| used.saturating_sub(1) / quota;
    let needed = windows(requests, REQUESTS_PER_WINDOW).max(windows(tokens, TOKENS_PER_WINDOW));
    WINDOW * u32::try_from(needed).unwrap_or(u32::MAX) + LATENCY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ideal_counts_whole_windows_of_the_binding_quota() {
        assert_eq!(ideal_time(40, 100), LATENCY);
        assert_eq!(ideal_time(41, 100), WINDOW + LATENCY);
        assert_eq!(
            ideal_time(1, 2 * TOKENS_PER_WINDOW + 1),
            WINDOW * 2 + LATENCY
        );
    }
}
