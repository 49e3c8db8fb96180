//! What a caught panic says: the message it was raised with. The workers fail an attempt with
//! it; the journal's store reports its damage with it.

use std::any::Any;

/// The message `panic` (a payload [`catch_unwind`](std::panic::catch_unwind) caught) was raised
/// with, if it is a string: `panic!("text")` or `panic!("{formatted}")`.
pub(super) fn raised_with(panic: &(dyn Any + Send)) -> Option<String> {
    panic
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
}

/// The message `panic` was raised with, or "a non-string panic payload".
pub(super) fn panic_message(panic: &(dyn Any + Send)) -> String {
    raised_with(panic).unwrap_or_else(|| "a non-string panic payload".to_owned())
}

#[cfg(test)]
mod tests {
    use std::panic::{catch_unwind, panic_any};

    use super::{panic_message, raised_with};

    #[test]
    fn a_panic_says_its_message_whether_literal_or_formatted() {
        let literal = catch_unwind(|| panic!("literal")).unwrap_err();
        let formatted = catch_unwind(|| panic!("{} {}", "formatted", 2)).unwrap_err();
        let other = catch_unwind(|| panic_any(42_u8)).unwrap_err();
        assert_eq!(panic_message(literal.as_ref()), "literal");
        assert_eq!(panic_message(formatted.as_ref()), "formatted 2");
        assert_eq!(raised_with(other.as_ref()), None);
        assert_eq!(panic_message(other.as_ref()), "a non-string panic payload");
    }
}
