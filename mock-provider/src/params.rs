//! The request parameters the OpenAI-compatible endpoints share, parsed and validated: the body
//! as a JSON object, `model`, `max_tokens`, `stream` and `stream_options`, and the token count of
//! a prompt or an input given as text or as token ids.

use serde_json::{Map, Value};

use crate::chat::prompt_tokens;

/// Why a request is invalid: the message and the offending parameter, for a 400 answer.
#[derive(Debug)]
pub(crate) struct Invalid {
    pub(crate) message: String,
    pub(crate) param: Option<&'static str>,
}

pub(crate) fn invalid(message: impl Into<String>, param: Option<&'static str>) -> Invalid {
    Invalid {
        message: message.into(),
        param,
    }
}

/// Whether and how the answer streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Streaming {
    /// One JSON answer.
    Off,
    /// Server-sent events; a last chunk with the usage (and no choices) before `[DONE]` only
    /// when `stream_options.include_usage` is true, as OpenAI does.
    On { include_usage: bool },
}

impl Streaming {
    pub(crate) fn is_on(self) -> bool {
        matches!(self, Streaming::On { .. })
    }

    pub(crate) fn include_usage(self) -> bool {
        self == Streaming::On {
            include_usage: true,
        }
    }
}

/// The body as a JSON object.
pub(crate) fn object(body: &[u8]) -> Result<Map<String, Value>, Invalid> {
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        invalid(
            format!("We could not parse the JSON body of your request: {error}."),
            None,
        )
    })?;
    match value {
        Value::Object(object) => Ok(object),
        _ => Err(invalid("The request body must be a JSON object.", None)),
    }
}

/// The required string `model`.
pub(crate) fn model(object: &Map<String, Value>) -> Result<String, Invalid> {
    match object.get("model") {
        Some(Value::String(model)) => Ok(model.clone()),
        None | Some(Value::Null) => Err(invalid(
            "You must provide a model parameter.",
            Some("model"),
        )),
        Some(_) => Err(invalid(
            "Invalid type for 'model': expected a string.",
            Some("model"),
        )),
    }
}

/// `stream` (absent, null or a boolean) and `stream_options` (allowed only when streaming).
pub(crate) fn streaming(object: &Map<String, Value>) -> Result<Streaming, Invalid> {
    let stream = match object.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(stream)) => *stream,
        Some(other) => {
            return Err(invalid(
                format!("Invalid type for 'stream': expected a boolean, got {other}."),
                Some("stream"),
            ))
        }
    };
    let options = match object.get("stream_options") {
        None | Some(Value::Null) => None,
        Some(Value::Object(options)) => Some(options),
        Some(_) => {
            return Err(invalid(
                "Invalid type for 'stream_options': expected an object.",
                Some("stream_options"),
            ))
        }
    };
    if !stream {
        if options.is_some() {
            return Err(invalid(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                Some("stream_options"),
            ));
        }
        return Ok(Streaming::Off);
    }
    let include_usage = match options.and_then(|options| options.get("include_usage")) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(include)) => *include,
        Some(_) => {
            return Err(invalid(
                "Invalid type for 'stream_options.include_usage': expected a boolean.",
                Some("stream_options"),
            ))
        }
    };
    Ok(Streaming::On { include_usage })
}

/// `max_completion_tokens` (the newer name) or else `max_tokens`: absent, null, or an integer of
/// at least 1.
pub(crate) fn max_tokens(object: &Map<String, Value>) -> Result<Option<u64>, Invalid> {
    for name in ["max_completion_tokens", "max_tokens"] {
        match object.get(name) {
            None | Some(Value::Null) => continue,
            Some(value) => {
                return match value.as_u64() {
                    Some(n) if n >= 1 => Ok(Some(n)),
                    _ => Err(invalid(
                        format!(
                            "Invalid '{name}': expected an integer of at least 1, got {value}."
                        ),
                        Some(name),
                    )),
                }
            }
        }
    }
    Ok(None)
}

/// The tokens of a completions `prompt` or an embeddings `input` (`param` names it): a string,
/// an array of strings, an array of token ids, or an array of arrays of token ids. Text counts
/// as [`prompt_tokens`] (its words × 4/3, rounded up), token ids one each; the total is at least
/// 1. Returns the total and how many inputs there are (1 for a string or an array of ids).
pub(crate) fn input_tokens(
    value: Option<&Value>,
    param: &'static str,
) -> Result<(u64, usize), Invalid> {
    let wrong = || {
        invalid(
            format!(
                "Invalid type for '{param}': expected a string, an array of strings, an array of \
                 integers or an array of arrays of integers."
            ),
            Some(param),
        )
    };
    let empty = || {
        invalid(
            format!("Invalid '{param}': empty. Expected at least one input."),
            Some(param),
        )
    };
    let ids = |items: &[Value]| -> Result<u64, Invalid> {
        if items.iter().all(|item| item.as_u64().is_some()) {
            Ok(items.len() as u64)
        } else {
            Err(wrong())
        }
    };
    match value {
        None | Some(Value::Null) => Err(invalid(
            format!("Missing required parameter: '{param}'."),
            Some(param),
        )),
        Some(Value::String(text)) => Ok((prompt_tokens([text.as_str()]), 1)),
        Some(Value::Array(items)) if items.is_empty() => Err(empty()),
        Some(Value::Array(items)) => match &items[0] {
            Value::String(_) => {
                let mut texts = Vec::with_capacity(items.len());
                for item in items {
                    texts.push(item.as_str().ok_or_else(wrong)?);
                }
                Ok((prompt_tokens(texts), items.len()))
            }
            Value::Number(_) => Ok((ids(items)?.max(1), 1)),
            Value::Array(_) => {
                let mut total = 0;
                for item in items {
                    match item {
                        Value::Array(inner) if !inner.is_empty() => total += ids(inner)?,
                        Value::Array(_) => return Err(empty()),
                        _ => return Err(wrong()),
                    }
                }
                Ok((total, items.len()))
            }
            _ => Err(wrong()),
        },
        Some(_) => Err(wrong()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(body: Value) -> Map<String, Value> {
        object(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn streaming_and_its_options() {
        let cases = [
            (json!({}), Streaming::Off),
            (json!({"stream": false}), Streaming::Off),
            (json!({"stream": null}), Streaming::Off),
            (
                json!({"stream": true}),
                Streaming::On {
                    include_usage: false,
                },
            ),
            (
                json!({"stream": true, "stream_options": {"include_usage": true}}),
                Streaming::On {
                    include_usage: true,
                },
            ),
            (
                json!({"stream": true, "stream_options": {"include_usage": false}}),
                Streaming::On {
                    include_usage: false,
                },
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                streaming(&parsed(body.clone())).unwrap(),
                expected,
                "{body}"
            );
        }
        for body in [
            json!({"stream": "yes"}),
            json!({"stream_options": {"include_usage": true}}),
            json!({"stream": true, "stream_options": 1}),
            json!({"stream": true, "stream_options": {"include_usage": 1}}),
        ] {
            let error = streaming(&parsed(body.clone())).expect_err(&body.to_string());
            assert!(
                error.param.is_some_and(|p| p.starts_with("stream")),
                "{body}"
            );
        }
    }

    #[test]
    fn inputs_as_text_or_token_ids() {
        let tokens = |value: Value| input_tokens(Some(&value), "input");
        assert_eq!(tokens(json!("one two three")).unwrap(), (4, 1));
        assert_eq!(tokens(json!(["one two", "three"])).unwrap(), (4, 2));
        assert_eq!(tokens(json!([1, 2, 3])).unwrap(), (3, 1));
        assert_eq!(tokens(json!([[1, 2], [3, 4, 5]])).unwrap(), (5, 2));
        assert_eq!(tokens(json!("")).unwrap(), (1, 1));
        for bad in [
            json!([]),
            json!([[]]),
            json!(3),
            json!(["a", 1]),
            json!([1, "a"]),
            json!([[1], 2]),
            json!([-1]),
            json!([{}]),
        ] {
            assert!(tokens(bad.clone()).is_err(), "{bad}");
        }
        assert_eq!(
            input_tokens(None, "prompt").unwrap_err().param,
            Some("prompt")
        );
    }
}
