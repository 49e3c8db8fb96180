//! The tokens a chat request is reserved before it is sent, and billed once answered.

use serde_json::Value;
use tollgate::presets::{ChatRequest, OpenAiChat};

/// Reserves `(2 x words + max_tokens) x n` tokens for a request (the presets' OpenAI estimate;
/// `default_max_tokens` stands in for a `max_tokens` the request does not set), and bills the
/// larger of the server's `usage.total_tokens` and its prompt plus `max_tokens x n` (OpenAI
/// counts `max_tokens` against the TPM quota at arrival).
#[derive(Clone, Copy, Debug)]
pub struct TokenEstimate {
    default_max_tokens: u64,
}

impl TokenEstimate {
    /// An estimate reserving `default_max_tokens` for a request that sets no `max_tokens`.
    pub fn new(default_max_tokens: u64) -> TokenEstimate {
        TokenEstimate { default_max_tokens }
    }

    /// The tokens to reserve for `body` while it is sent.
    pub fn reserved(&self, body: &Value) -> u64 {
        let request = chat_request(body);
        let max_tokens = request.max_tokens.unwrap_or(self.default_max_tokens);
        // Only `estimate` of the profile is used: its quotas play no part.
        OpenAiChat::new(0, 0, 0).estimate(&request.max_tokens(max_tokens))
    }

    /// The completion tokens `body` allows: its `max_tokens` (or the default) x `n`.
    pub fn completion_tokens(&self, body: &Value) -> u64 {
        let request = chat_request(body);
        request
            .max_tokens
            .unwrap_or(self.default_max_tokens)
            .saturating_mul(request.completions())
    }

    /// The tokens `body` is billed once `response` answered it, or `None` when the response
    /// reports no usage.
    pub fn billed(&self, body: &Value, response: &Value) -> Option<u64> {
        let usage = &response["usage"];
        let total = usage["total_tokens"].as_u64()?;
        let request = chat_request(body);
        let reserved_at_arrival = match (usage["prompt_tokens"].as_u64(), request.max_tokens) {
            (Some(prompt), Some(max_tokens)) => {
                prompt.saturating_add(max_tokens.saturating_mul(request.completions()))
            }
            _ => 0,
        };
        Some(total.max(reserved_at_arrival))
    }
}

/// What the estimate reads from a chat completions request body: the text of its messages
/// (string contents, and the `text` of content parts), `max_tokens` (or
/// `max_completion_tokens`) and `n`.
fn chat_request(body: &Value) -> ChatRequest {
    let mut request = ChatRequest::new();
    for message in body["messages"].as_array().into_iter().flatten() {
        let role = message["role"].as_str().unwrap_or_default();
        let content = match &message["content"] {
            Value::String(text) => text.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|part| part["text"].as_str())
                .collect::<Vec<&str>>()
                .join(" "),
            _ => String::new(),
        };
        request = request.message(role, content);
    }
    let max_tokens = body["max_tokens"]
        .as_u64()
        .or_else(|| body["max_completion_tokens"].as_u64());
    if let Some(max_tokens) = max_tokens {
        request = request.max_tokens(max_tokens);
    }
    if let Some(n) = body["n"].as_u64() {
        request = request.n(n);
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_reservation_counts_words_twice_plus_max_tokens() {
        let body = json!({"messages": [{"role": "user", "content": "one two three"}], "max_tokens": 10, "n": 2});
        assert_eq!(TokenEstimate::new(100).reserved(&body), (2 * 4 + 10) * 2);
        let parts =
            json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "a b"}]}]});
        assert_eq!(TokenEstimate::new(100).reserved(&parts), 2 * 3 + 100);
        assert_eq!(TokenEstimate::new(100).completion_tokens(&body), 20);
        assert_eq!(TokenEstimate::new(100).completion_tokens(&parts), 100);
    }

    #[test]
    fn the_bill_is_at_least_the_prompt_plus_max_tokens() {
        let body = json!({"messages": [], "max_tokens": 50});
        let usage =
            json!({"usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}});
        assert_eq!(TokenEstimate::new(0).billed(&body, &usage), Some(57));
        let without_max = json!({"messages": []});
        assert_eq!(TokenEstimate::new(0).billed(&without_max, &usage), Some(10));
        assert_eq!(TokenEstimate::new(0).billed(&body, &json!({})), None);
    }
}
