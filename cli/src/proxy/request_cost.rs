//! What a request costs each quota: reserved from an estimate before it is forwarded, billed
//! from the answer's `usage` once it is done.
//!
//! The estimate is the one providers count at arrival: the prompt (2 tokens per word, the
//! `rate_limited` heuristic) plus `max_tokens` × `n` (or `--default-max-tokens`); embeddings
//! count their input only; any other path one request and no tokens.

use serde_json::Value;
use tollgate::{INPUT_TOKENS, OUTPUT_TOKENS, REQUESTS, TOKENS};

/// The API a request calls, from its method and path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `POST /v1/chat/completions`.
    ChatCompletions,
    /// `POST /v1/completions`.
    Completions,
    /// `POST /v1/embeddings`: input tokens only.
    Embeddings,
    /// `POST /v1/responses`.
    Responses,
    /// `POST /v1/messages` (Anthropic).
    Messages,
    /// Anything else: one request.
    Other,
}

impl Route {
    /// The route of `method` `path` (any prefix before `/v1/` counts: `/openai/v1/...`).
    pub fn of(method: &str, path: &str) -> Route {
        if method != "POST" {
            return Route::Other;
        }
        let path = path.trim_end_matches('/');
        let ends = |suffix: &str| path.ends_with(suffix);
        if ends("/v1/chat/completions") || ends("/chat/completions") {
            Route::ChatCompletions
        } else if ends("/v1/completions") {
            Route::Completions
        } else if ends("/v1/embeddings") || ends("/embeddings") {
            Route::Embeddings
        } else if ends("/v1/responses") {
            Route::Responses
        } else if ends("/v1/messages") {
            Route::Messages
        } else {
            Route::Other
        }
    }

    /// Whether a stream of this route reports usage only when asked
    /// (`stream_options.include_usage`).
    pub fn usage_on_request(self) -> bool {
        matches!(self, Route::ChatCompletions | Route::Completions)
    }
}

/// The tokens an answer reports, in any provider's words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// Prompt (input) tokens.
    pub input: Option<u64>,
    /// Completion (output) tokens.
    pub output: Option<u64>,
    /// Their total, when reported.
    pub total: Option<u64>,
}

impl TokenUsage {
    /// The usage `usage` (a `usage` object) reports: OpenAI's `prompt_tokens`,
    /// `completion_tokens`, `total_tokens`; Anthropic's and the Responses API's `input_tokens`
    /// (plus Anthropic's `cache_creation_input_tokens`), `output_tokens`. `None` for anything
    /// else (`null`).
    pub fn from_json(usage: &Value) -> Option<TokenUsage> {
        let count = |name: &str| usage.get(name).and_then(Value::as_u64);
        let input = count("prompt_tokens").or_else(|| {
            count("input_tokens").map(|input| {
                input.saturating_add(count("cache_creation_input_tokens").unwrap_or(0))
            })
        });
        let read = TokenUsage {
            input,
            output: count("completion_tokens").or_else(|| count("output_tokens")),
            total: count("total_tokens"),
        };
        (read != TokenUsage::default()).then_some(read)
    }

    /// The usage in the body of an answer: its `usage`, or that of its `response` (Responses
    /// API events) or `message` (Anthropic's `message_start`).
    pub fn in_body(body: &Value) -> Option<TokenUsage> {
        ["usage", "response", "message"]
            .iter()
            .find_map(|field| match *field {
                "usage" => TokenUsage::from_json(body.get("usage")?),
                field => TokenUsage::from_json(body.get(field)?.get("usage")?),
            })
    }

    /// This usage with the figures `later` reports in its place (Anthropic streams the input
    /// first and the output last).
    pub fn updated(self, later: TokenUsage) -> TokenUsage {
        TokenUsage {
            input: later.input.or(self.input),
            output: later.output.or(self.output),
            total: later.total.or(self.total),
        }
    }

    /// The total: as reported, or input + output.
    fn total(self) -> Option<u64> {
        self.total.or(match (self.input, self.output) {
            (None, None) => None,
            (input, output) => Some(input.unwrap_or(0).saturating_add(output.unwrap_or(0))),
        })
    }
}

/// What one request reserves, and how it is billed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestCost {
    /// Its route.
    pub route: Route,
    /// The estimated prompt tokens.
    pub input: u64,
    /// The completion tokens it allows (`max_tokens` × `n`).
    pub output: u64,
    /// Whether it set `max_tokens` itself: OpenAI then counts the whole `max_tokens` against
    /// the quota at arrival, whatever the completion's length.
    pub max_tokens_given: bool,
}

impl RequestCost {
    /// The cost of a request to `route` with JSON `body` (`None`: not JSON), reserving
    /// `default_max_tokens` per completion when it sets none.
    pub fn of(route: Route, body: Option<&Value>, default_max_tokens: u64) -> RequestCost {
        let free = RequestCost {
            route,
            input: 0,
            output: 0,
            max_tokens_given: false,
        };
        let Some(body) = body.filter(|_| route != Route::Other) else {
            return free;
        };
        let mut words = 0;
        let mut tokens = 0;
        for field in ["messages", "system", "prompt", "input", "instructions"] {
            count_text(&body[field], &mut words, &mut tokens);
        }
        let input = words.saturating_mul(2).saturating_add(tokens);
        if route == Route::Embeddings {
            return RequestCost { input, ..free };
        }
        let max_tokens = ["max_tokens", "max_completion_tokens", "max_output_tokens"]
            .iter()
            .find_map(|field| body[*field].as_u64());
        let completions = body["n"].as_u64().unwrap_or(1).max(1);
        RequestCost {
            route,
            input,
            output: max_tokens
                .unwrap_or(default_max_tokens)
                .saturating_mul(completions),
            max_tokens_given: max_tokens.is_some(),
        }
    }

    /// The cost of `resource` reserved before the request goes.
    pub fn reserved(&self, resource: &str) -> u64 {
        match resource {
            REQUESTS => 1,
            TOKENS => self.input.saturating_add(self.output),
            INPUT_TOKENS => self.input,
            OUTPUT_TOKENS => self.output,
            _ => 0,
        }
    }

    /// The cost of `resource` billed once answered: `usage` when the answer reported it (at
    /// least the prompt plus `max_tokens` × `n` for OpenAI's tokens quota, which counts it at
    /// arrival); the estimate for a success without usage; one request and no tokens for a
    /// failure.
    pub fn billed(&self, resource: &str, usage: Option<TokenUsage>, succeeded: bool) -> u64 {
        let Some(usage) = usage else {
            return match (resource, succeeded) {
                (REQUESTS, _) => 1,
                (_, true) => self.reserved(resource),
                (_, false) => 0,
            };
        };
        match resource {
            REQUESTS => 1,
            TOKENS => {
                let total = usage.total().unwrap_or(0);
                let counted_at_arrival = self.max_tokens_given && self.route != Route::Messages;
                match (counted_at_arrival, usage.input) {
                    (true, Some(input)) => total.max(input.saturating_add(self.output)),
                    _ => total,
                }
            }
            INPUT_TOKENS => usage.input.unwrap_or(self.input),
            OUTPUT_TOKENS => usage.output.unwrap_or(0),
            _ => 0,
        }
    }
}

/// Adds the words of the text in `value` to `words`, and the tokens of token arrays to
/// `tokens`: strings, arrays of them, message objects' `content` (a string or parts with a
/// `text`), and arrays of token ids (embeddings and completions take prompts as tokens).
fn count_text(value: &Value, words: &mut u64, tokens: &mut u64) {
    match value {
        Value::String(text) => *words += text.split_whitespace().count() as u64,
        Value::Number(_) => *tokens += 1,
        Value::Array(items) => {
            for item in items {
                count_text(item, words, tokens);
            }
        }
        Value::Object(object) => {
            for field in ["content", "text"] {
                if let Some(inner) = object.get(field) {
                    count_text(inner, words, tokens);
                }
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn routes_are_told_by_method_and_path() {
        assert_eq!(
            Route::of("POST", "/v1/chat/completions"),
            Route::ChatCompletions
        );
        assert_eq!(
            Route::of("POST", "/openai/v1/chat/completions/"),
            Route::ChatCompletions
        );
        assert_eq!(Route::of("POST", "/v1/completions"), Route::Completions);
        assert_eq!(Route::of("POST", "/v1/embeddings"), Route::Embeddings);
        assert_eq!(Route::of("POST", "/v1/responses"), Route::Responses);
        assert_eq!(Route::of("POST", "/v1/messages"), Route::Messages);
        assert_eq!(Route::of("GET", "/v1/chat/completions"), Route::Other);
        assert_eq!(Route::of("POST", "/v1/messages/count_tokens"), Route::Other);
        assert!(Route::ChatCompletions.usage_on_request() && !Route::Messages.usage_on_request());
    }

    #[test]
    fn the_estimate_is_two_tokens_a_word_plus_max_tokens_times_n() {
        let chat = json!({"messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "one two three"}, {"type": "image_url", "image_url": {"url": "data:..."}}]}
        ], "max_tokens": 10, "n": 2});
        let cost = RequestCost::of(Route::ChatCompletions, Some(&chat), 1024);
        assert_eq!((cost.input, cost.output), (10, 20));
        assert_eq!(cost.reserved(TOKENS), 30);
        assert_eq!(cost.reserved(REQUESTS), 1);
        let messages = json!({"system": "terse", "messages": [{"role": "user", "content": "hi there"}], "max_tokens": 5});
        let cost = RequestCost::of(Route::Messages, Some(&messages), 1024);
        assert_eq!(
            (cost.reserved(INPUT_TOKENS), cost.reserved(OUTPUT_TOKENS)),
            (6, 5)
        );
        let embeddings = json!({"input": ["a b", "c"], "model": "e"});
        let cost = RequestCost::of(Route::Embeddings, Some(&embeddings), 1024);
        assert_eq!((cost.input, cost.output), (6, 0));
        let tokens = json!({"input": [[1, 2, 3], [4]]});
        assert_eq!(
            RequestCost::of(Route::Embeddings, Some(&tokens), 9).input,
            4
        );
        let no_max = json!({"prompt": "x", "max_output_tokens": null});
        assert_eq!(
            RequestCost::of(Route::Completions, Some(&no_max), 100).output,
            100
        );
        assert_eq!(
            RequestCost::of(Route::Other, Some(&chat), 100).reserved(TOKENS),
            0
        );
        assert_eq!(
            RequestCost::of(Route::ChatCompletions, None, 100).reserved(TOKENS),
            0
        );
    }

    #[test]
    fn bills_follow_the_usage_reported() {
        let chat = json!({"messages": [{"role": "user", "content": "a b"}], "max_tokens": 50});
        let cost = RequestCost::of(Route::ChatCompletions, Some(&chat), 1024);
        let usage = TokenUsage::from_json(
            &json!({"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}),
        );
        assert_eq!(cost.billed(TOKENS, usage, true), 57);
        assert_eq!(cost.billed(REQUESTS, usage, true), 1);
        assert_eq!(cost.billed(TOKENS, None, true), 54);
        assert_eq!(cost.billed(TOKENS, None, false), 0);
        assert_eq!(cost.billed(REQUESTS, None, false), 1);
        let messages = RequestCost::of(Route::Messages, Some(&chat), 1024);
        let anthropic = TokenUsage::in_body(&json!({"message": {"usage": {"input_tokens": 9, "cache_creation_input_tokens": 1, "output_tokens": 1}}}))
            .unwrap()
            .updated(TokenUsage::in_body(&json!({"usage": {"output_tokens": 12}})).unwrap());
        assert_eq!(messages.billed(INPUT_TOKENS, Some(anthropic), true), 10);
        assert_eq!(messages.billed(OUTPUT_TOKENS, Some(anthropic), true), 12);
        assert_eq!(messages.billed(TOKENS, Some(anthropic), true), 22);
        assert_eq!(TokenUsage::from_json(&Value::Null), None);
        assert_eq!(
            TokenUsage::in_body(&json!({"usage": null, "choices": []})),
            None
        );
    }
}
