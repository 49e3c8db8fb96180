/// What token estimates need from a chat request: its messages, `max_tokens` and `n`.
///
/// Jobs of a [`Runner`](crate::Runner) built from a preset implement `AsRef<ChatRequest>` (this
/// type does), so a job can carry more than the request.
///
/// ```
/// use tollgate::presets::ChatRequest;
///
/// let request = ChatRequest::new()
///     .message("system", "You are terse.")
///     .message("user", "Please write a poem about llamas")
///     .max_tokens(256);
/// assert_eq!(request.word_count(), 1 + 3 + 1 + 6); // roles count too
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChatRequest {
    /// `(role, content)` of each message.
    pub messages: Vec<(String, String)>,
    /// The most output tokens per completion, if set.
    pub max_tokens: Option<u64>,
    /// Completions asked for (default 1).
    pub n: Option<u64>,
}

impl ChatRequest {
    /// An empty request.
    pub fn new() -> ChatRequest {
        ChatRequest::default()
    }

    /// Adds a message.
    pub fn message(mut self, role: impl Into<String>, content: impl Into<String>) -> ChatRequest {
        self.messages.push((role.into(), content.into()));
        self
    }

    /// Sets `max_tokens`.
    pub fn max_tokens(mut self, max_tokens: u64) -> ChatRequest {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Sets `n`.
    pub fn n(mut self, n: u64) -> ChatRequest {
        self.n = Some(n);
        self
    }

    /// Space-separated pieces of every string field of the messages (role and content).
    pub fn word_count(&self) -> u64 {
        self.messages
            .iter()
            .map(|(role, content)| {
                role.split_whitespace().count() + content.split_whitespace().count()
            })
            .sum::<usize>() as u64
    }

    /// Completions asked for: `n`, at least 1.
    pub fn completions(&self) -> u64 {
        self.n.unwrap_or(1).max(1)
    }
}

impl AsRef<ChatRequest> for ChatRequest {
    fn as_ref(&self) -> &ChatRequest {
        self
    }
}
