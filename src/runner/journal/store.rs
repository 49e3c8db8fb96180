//! The journal's store (redb), with its panics on damaged data contained: caught, quiet, and
//! turned into an error.
//!
//! redb answers most damage with an error, but some damaged pages make it panic (an
//! `unreachable!()`, or an internal check that debug builds assert). A journal must never take
//! the process down for a damaged file, nor print a panic and a backtrace: every call into the
//! store runs through [`guarded`], which catches the panic, and the panic hook says nothing for
//! a panic raised there.
//!
//! The choice: checking the data before redb sees it would mean re-implementing redb's page
//! format; replacing the panic hook for the time of a call would race with other threads'
//! panics. So the hook is wrapped once, process-wide, when the first journal is opened: the
//! wrapper stays silent only on a thread that is inside [`guarded`] (a thread-local flag) and
//! hands every other panic to the hook that was installed before, unchanged. A hook installed
//! later by the program replaces the wrapper: the journal then still catches the panic, and that
//! hook decides what is printed.

use std::cell::Cell;
use std::sync::Once;

use redb::Database;

use crate::runner::panic_message::raised_with;

thread_local! {
    /// Whether this thread is inside [`guarded`]: a panic here is the store's, and is reported
    /// as an error instead of printed.
    static IN_STORE: Cell<bool> = const { Cell::new(false) };
}

/// Wraps the panic hook so that it stays silent for panics raised inside [`guarded`]. Called
/// when a journal is opened (never while panicking, where the hook cannot be changed); later
/// calls do nothing.
pub(super) fn silence_store_panics() {
    static WRAPPED: Once = Once::new();
    if std::thread::panicking() {
        return;
    }
    WRAPPED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_STORE.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Runs a call into the store, turning a panic (damaged data can make it panic) into an error
/// saying so. The panic's own text (an internal assertion of the store, such as "entered
/// unreachable code") tells the user nothing and reads as a crash: it is logged at debug level
/// only.
pub(super) fn guarded<R>(call: impl FnOnce() -> R) -> Result<R, String> {
    let outer = IN_STORE.with(|flag| flag.replace(true));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(call));
    IN_STORE.with(|flag| flag.set(outer));
    outcome.map_err(|panic| {
        let message = raised_with(panic.as_ref()).unwrap_or_default();
        event!(
            debug,
            "the journal's store panicked on damaged data: {message}"
        );
        "the store could not read its damaged data".to_owned()
    })
}

/// The open store, closed without letting a panic out (closing a damaged file can panic).
pub(super) struct Store(Option<Database>);

impl Store {
    pub(super) fn new(db: Database) -> Store {
        Store(Some(db))
    }
}

impl std::ops::Deref for Store {
    type Target = Database;

    fn deref(&self) -> &Database {
        self.0.as_ref().expect("the store is open until dropped")
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(db) = self.0.take() {
            // A panic here is the damage already reported; the file stays as it is.
            guarded(move || drop(db)).ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_guarded_is_an_error_and_the_flag_is_restored() {
        silence_store_panics();
        let outcome = guarded(|| -> u32 { unreachable!("damaged page") });
        // What the user reads says what happened, not the store's internal assertion.
        assert_eq!(
            outcome,
            Err("the store could not read its damaged data".to_owned())
        );
        assert!(!IN_STORE.with(Cell::get));
        assert_eq!(guarded(|| guarded(|| 7)), Ok(Ok(7)));
        assert!(!IN_STORE.with(Cell::get));
    }
}
