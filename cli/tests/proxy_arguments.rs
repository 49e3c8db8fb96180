//! `tollgate proxy` refuses what it cannot do before it listens: exit 2, with a message that
//! says what to change, never a panic.

mod common;

use std::net::TcpListener;

use common::{run, stderr_of};

fn refused(args: &[&str], says: &str) {
    let output = run(args, "");
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(says), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert!(output.stdout.is_empty(), "no URL printed: {args:?}");
}

#[test]
fn what_the_proxy_cannot_do_is_refused_before_it_listens() {
    fn with<'a>(more: &[&'a str]) -> Vec<&'a str> {
        ["proxy", "--upstream", "http://127.0.0.1:9"]
            .iter()
            .chain(more)
            .copied()
            .collect()
    }
    refused(&["proxy", "--rpm", "10"], "--upstream <URL>");
    refused(
        &["proxy", "--upstream", "ftp://x/"],
        "use http:// or https://",
    );
    refused(&with(&["--requests", "ten/s"]), "cannot parse rate");
    refused(
        &with(&["--rpm", "10", "--requests", "10/s"]),
        "cannot be used with",
    );
    refused(&with(&["--redis", "redis://127.0.0.1:1/"]), "--name <NAME>");
    refused(
        &with(&["--listen", "localhost"]),
        "invalid value 'localhost'",
    );
    refused(&with(&["--log", "loud"]), "invalid value 'loud'");
    refused(
        &with(&["--api-key-env", "TOLLGATE_SURELY_UNSET_VARIABLE"]),
        "no API key: set TOLLGATE_SURELY_UNSET_VARIABLE",
    );
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    refused(
        &with(&["--listen", &address]),
        &format!("cannot listen on {address}"),
    );
}

#[cfg(not(feature = "redis"))]
#[test]
fn redis_needs_the_feature() {
    refused(
        &[
            "proxy",
            "--upstream",
            "http://127.0.0.1:9",
            "--redis",
            "redis://127.0.0.1:1/",
            "--name",
            "n",
        ],
        "--redis needs a tollgate built with the redis feature",
    );
}

#[cfg(feature = "redis")]
#[test]
fn an_unreachable_redis_is_refused() {
    refused(
        &[
            "proxy",
            "--upstream",
            "http://127.0.0.1:9",
            "--redis",
            "redis://127.0.0.1:1/",
            "--name",
            "n",
        ],
        "shared limiter",
    );
}
