//! A request as the runner holds it: the body to send, and the fields of its output line.

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

/// A request to send, with what its output line says about it.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatJob {
    /// The chat completions request body.
    pub body: Value,
    /// The output fields that say which request it is (`index`, `line`, `custom_id`,
    /// `metadata`).
    pub identity: Map<String, Value>,
}

/// In the journal a request is its body alone: where it stands in the file does not change
/// which request it is (a request without a custom_id is known by its body's hash).
impl Serialize for ChatJob {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.body.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_body_is_serialized() {
        let job = ChatJob {
            body: json!({"messages": []}),
            identity: Map::from_iter([("line".to_owned(), json!(3))]),
        };
        assert_eq!(serde_json::to_value(&job).unwrap(), json!({"messages": []}));
    }
}
