//! The embeddings request (`POST /v1/embeddings`): its input tokens (the only tokens it counts
//! against the quota) and a deterministic answer, as floats or as base64 (the official Python
//! client asks for base64 unless told otherwise).

use serde_json::{json, Value};

use crate::params::{self, invalid, Invalid};

/// The length of an embedding when the request gives no `dimensions`.
pub(crate) const DEFAULT_DIMENSIONS: u64 = 8;

/// The largest `dimensions` accepted.
const MAX_DIMENSIONS: u64 = 4_096;

/// A valid embeddings request, reduced to what the mock uses.
#[derive(Debug)]
pub(crate) struct EmbeddingsRequest {
    pub(crate) model: String,
    /// The inputs' tokens: what the request counts against the token quota.
    pub(crate) prompt_tokens: u64,
    pub(crate) inputs: usize,
    pub(crate) dimensions: u64,
    pub(crate) base64: bool,
}

/// Parses and validates a request body.
pub(crate) fn parse(body: &[u8]) -> Result<EmbeddingsRequest, Invalid> {
    let object = params::object(body)?;
    let model = params::model(&object)?;
    let (prompt_tokens, inputs) = params::input_tokens(object.get("input"), "input")?;
    let base64 = match object.get("encoding_format") {
        None | Some(Value::Null) => false,
        Some(Value::String(format)) if format == "float" => false,
        Some(Value::String(format)) if format == "base64" => true,
        Some(other) => {
            return Err(invalid(
                format!("Invalid 'encoding_format': expected 'float' or 'base64', got {other}."),
                Some("encoding_format"),
            ))
        }
    };
    let dimensions = match object.get("dimensions") {
        None | Some(Value::Null) => DEFAULT_DIMENSIONS,
        Some(value) => match value.as_u64() {
            Some(n) if (1..=MAX_DIMENSIONS).contains(&n) => n,
            _ => {
                return Err(invalid(
                    format!(
                        "Invalid 'dimensions': expected an integer from 1 to {MAX_DIMENSIONS}, \
                         got {value}."
                    ),
                    Some("dimensions"),
                ))
            }
        },
    };
    Ok(EmbeddingsRequest {
        model,
        prompt_tokens,
        inputs,
        dimensions,
        base64,
    })
}

/// The embedding of input `index`: `dimensions` numbers in [-0.5, 0.5), the same for the same
/// index.
fn embedding(index: usize, dimensions: u64) -> Vec<f32> {
    (0..dimensions)
        .map(|j| ((index as u64 * 31 + j * 17) % 100) as f32 / 100.0 - 0.5)
        .collect()
}

/// The 200 body: one embedding per input, and the usage (prompt tokens only).
pub(crate) fn embeddings_body(request: &EmbeddingsRequest) -> Value {
    let data: Vec<Value> = (0..request.inputs)
        .map(|index| {
            let embedding = embedding(index, request.dimensions);
            let embedding = if request.base64 {
                let bytes: Vec<u8> = embedding.iter().flat_map(|x| x.to_le_bytes()).collect();
                Value::String(base64(&bytes))
            } else {
                json!(embedding)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": request.model,
        "usage": {"prompt_tokens": request.prompt_tokens, "total_tokens": request.prompt_tokens},
    })
}

/// Standard base64 with padding (RFC 4648 §4): how OpenAI sends little-endian `f32` embeddings.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= group.len() {
                out.push(char::from(ALPHABET[(n >> shift & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_as_rfc_4648() {
        // RFC 4648 §10's test vectors.
        for (input, output) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), output, "{input}");
        }
    }

    #[test]
    fn one_embedding_per_input_and_prompt_tokens_only() {
        let request =
            parse(br#"{"model": "e", "input": ["one two", "three"], "dimensions": 3}"#).unwrap();
        let body = embeddings_body(&request);
        assert_eq!(body["data"].as_array().unwrap().len(), 2);
        assert_eq!(body["data"][1]["index"], 1);
        assert_eq!(body["data"][0]["embedding"].as_array().unwrap().len(), 3);
        assert_eq!(
            body["usage"],
            json!({"prompt_tokens": 4, "total_tokens": 4})
        );
        let request =
            parse(br#"{"model": "e", "input": "x", "encoding_format": "base64"}"#).unwrap();
        let body = embeddings_body(&request);
        // 8 floats of 4 bytes: 32 bytes, 44 characters of base64.
        assert_eq!(body["data"][0]["embedding"].as_str().unwrap().len(), 44);
        for bad in [
            r#"{"model": "e"}"#,
            r#"{"model": "e", "input": "x", "encoding_format": "hex"}"#,
            r#"{"model": "e", "input": "x", "dimensions": 0}"#,
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
