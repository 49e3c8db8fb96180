//! A line of a requests JSONL file: the request body to send, and what is only copied to the
//! output (its `custom_id` and `metadata`).

use std::error::Error;
use std::fmt;

use serde_json::{Map, Value};

/// A request as read from its line.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestLine {
    /// The chat completions request body to send.
    pub body: Value,
    /// The line's `custom_id` (the OpenAI Batch API's name), not sent.
    pub custom_id: Option<Value>,
    /// The line's `metadata` (the OpenAI cookbook processor's field), not sent.
    pub metadata: Option<Value>,
}

/// Why a line is not a request.
#[derive(Debug)]
#[non_exhaustive]
pub enum LineError {
    /// The line is not JSON.
    NotJson(serde_json::Error),
    /// The line is JSON, but not an object.
    NotAnObject,
    /// The object has no `messages` array.
    NoMessages,
    /// The request asks for a streamed answer, which `chat` does not read.
    Streamed,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::NotJson(err) => write!(f, "not valid JSON: {err}"),
            LineError::NotAnObject => f.write_str("not a JSON object; write one request per line"),
            LineError::NoMessages => {
                f.write_str("no \"messages\" array; a chat completions request needs its messages")
            }
            LineError::Streamed => {
                f.write_str("\"stream\": true is not supported; remove it to get whole answers")
            }
        }
    }
}

impl Error for LineError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            LineError::NotJson(err) => Some(err),
            LineError::NotAnObject | LineError::NoMessages | LineError::Streamed => None,
        }
    }
}

impl RequestLine {
    /// Reads `text`; `default_model` is set as the `model` of a request that names none.
    ///
    /// # Errors
    /// [`LineError`] when the line is not a JSON object with a `messages` array.
    pub fn parse(text: &str, default_model: Option<&str>) -> Result<RequestLine, LineError> {
        let Value::Object(mut body) = serde_json::from_str(text).map_err(LineError::NotJson)?
        else {
            return Err(LineError::NotAnObject);
        };
        if !body.get("messages").is_some_and(Value::is_array) {
            return Err(LineError::NoMessages);
        }
        if body.get("stream") == Some(&Value::Bool(true)) {
            return Err(LineError::Streamed);
        }
        let custom_id = body.remove("custom_id");
        let metadata = body.remove("metadata");
        if let (Some(model), false) = (default_model, body.contains_key("model")) {
            body.insert("model".to_owned(), Value::from(model));
        }
        Ok(RequestLine {
            body: Value::Object(body),
            custom_id,
            metadata,
        })
    }

    /// The fields of this request's output line that say which request it answers.
    pub fn identity(&self, index: usize, line: usize) -> Map<String, Value> {
        let mut identity = Map::new();
        identity.insert("index".to_owned(), Value::from(index));
        identity.insert("line".to_owned(), Value::from(line));
        if let Some(custom_id) = &self.custom_id {
            identity.insert("custom_id".to_owned(), custom_id.clone());
        }
        if let Some(metadata) = &self.metadata {
            identity.insert("metadata".to_owned(), metadata.clone());
        }
        identity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_and_custom_id_are_kept_apart() {
        let line = r#"{"custom_id":"a","messages":[],"metadata":{"row":1}}"#;
        let request = RequestLine::parse(line, Some("m")).unwrap();
        assert_eq!(request.body, json!({"messages": [], "model": "m"}));
        assert_eq!(
            Value::Object(request.identity(0, 3)),
            json!({"index": 0, "line": 3, "custom_id": "a", "metadata": {"row": 1}})
        );
    }

    #[test]
    fn a_model_given_is_kept() {
        let request = RequestLine::parse(r#"{"model":"x","messages":[]}"#, Some("m")).unwrap();
        assert_eq!(request.body["model"], "x");
    }

    #[test]
    fn malformed_lines_say_why() {
        let not_json = RequestLine::parse("{", None).unwrap_err();
        assert!(
            not_json.to_string().starts_with("not valid JSON"),
            "{not_json}"
        );
        assert!(matches!(
            RequestLine::parse("[1]", None),
            Err(LineError::NotAnObject)
        ));
        assert!(matches!(
            RequestLine::parse(r#"{"model":"x"}"#, None),
            Err(LineError::NoMessages)
        ));
        assert!(matches!(
            RequestLine::parse(r#"{"messages":[],"stream":true}"#, None),
            Err(LineError::Streamed)
        ));
    }
}
