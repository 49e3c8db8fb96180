//! The HTTP exchange of one chat request (ureq, blocking).

use std::time::Duration;

use serde_json::Value;
use tollgate::presets::{RateLimitHeaders, Signal};

use super::chat_error::ChatError;
use super::token_estimate::TokenEstimate;

/// An answered chat request.
#[derive(Clone, Debug)]
pub struct Completion {
    /// The response body.
    pub response: Value,
    /// The tokens it is billed against the tokens quota.
    pub billed_tokens: u64,
    /// The rate-limit headers it came with.
    pub headers: RateLimitHeaders,
}

/// Posts chat requests to one endpoint.
pub struct ChatClient {
    agent: ureq::Agent,
    endpoint: String,
    authorization: Option<String>,
    estimate: TokenEstimate,
}

impl ChatClient {
    /// How long one request may take, from connecting to the last byte of the answer.
    pub const TIMEOUT: Duration = Duration::from_secs(600);

    /// A client posting to `endpoint`, with `api_key` as a bearer token if given; `estimate`
    /// bills a response that reports no usage.
    pub fn new(endpoint: String, api_key: Option<String>, estimate: TokenEstimate) -> ChatClient {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Self::TIMEOUT))
            .build()
            .into();
        ChatClient {
            agent,
            endpoint,
            authorization: api_key.map(|key| format!("Bearer {key}")),
            estimate,
        }
    }

    /// Sends `body` and reads the answer.
    ///
    /// # Errors
    /// [`ChatError`] for anything but a success with a JSON body, with the answer classified.
    pub fn send(&self, body: &Value) -> Result<Completion, ChatError> {
        let mut request = self
            .agent
            .post(&self.endpoint)
            .header("content-type", "application/json");
        if let Some(authorization) = &self.authorization {
            request = request.header("authorization", authorization);
        }
        let mut response = request
            .send(body.to_string().as_str())
            .map_err(|err| ChatError::transport(err.to_string()))?;
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|err| ChatError::transport(format!("reading the answer: {err}")))?;
        let (signal, headers) = Signal::classify_http(response.status(), response.headers(), &text);
        let parsed = serde_json::from_str::<Value>(&text);
        if signal.is_some() || !response.status().is_success() {
            return Err(ChatError {
                status: Some(response.status().as_u16()),
                signal,
                headers: Box::new(headers),
                message: parsed
                    .ok()
                    .and_then(|json| json["error"]["message"].as_str().map(str::to_owned))
                    .unwrap_or(text),
            });
        }
        let response =
            parsed.map_err(|err| ChatError::transport(format!("the answer is not JSON: {err}")))?;
        let billed_tokens = self
            .estimate
            .billed(body, &response)
            .unwrap_or_else(|| self.estimate.reserved(body));
        Ok(Completion {
            response,
            billed_tokens,
            headers,
        })
    }
}
