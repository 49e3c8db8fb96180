//! Diagnostic events (a wait for quota, a pause the server asked for, a retry, a quota learnt
//! from headers), written through the [`log`](https://docs.rs/log) facade under the target
//! `"tollgate"` when the `log` feature is on, and compiled away otherwise.

/// Logs an event at `level` (`debug`, `info` or `warn`) with `format!` arguments.
macro_rules! event {
    ($level:ident, $($arg:tt)*) => {{
        #[cfg(feature = "log")]
        log::$level!(target: "tollgate", $($arg)*);
        #[cfg(not(feature = "log"))]
        {
            let _ = || format!($($arg)*);
        }
    }};
}
