//! Counts in messages, singular for one ("1 attempt", "3 retries").

/// `count` and `noun`, plural unless one ("1 attempt", "3 retries", "2 malformed lines").
pub fn counted(count: u64, noun: &str) -> String {
    match (count, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{count} {stem}ies"),
        (_, None) => format!("{count} {noun}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::counted;

    #[test]
    fn counts_are_singular_for_one() {
        assert_eq!(counted(1, "attempt"), "1 attempt");
        assert_eq!(counted(2, "attempt"), "2 attempts");
        assert_eq!(counted(0, "retry"), "0 retries");
        assert_eq!(counted(1, "retry"), "1 retry");
        assert_eq!(counted(1, "malformed line"), "1 malformed line");
    }
}
