//! `tollgate --help` and every subcommand's help say what it does, every flag, and an example.

mod common;

use common::{run, stdout_of};

fn help(args: &[&str]) -> String {
    let output = run(args, "");
    assert!(output.status.success(), "{args:?}");
    stdout_of(&output)
}

#[test]
fn the_top_level_help_lists_every_subcommand_with_examples() {
    let text = help(&["--help"]);
    for subcommand in [
        "exec",
        "chat",
        "mock-server",
        "proxy",
        "demo",
        "Examples:",
        "Exit status",
    ] {
        assert!(
            text.contains(subcommand),
            "{subcommand} missing from:\n{text}"
        );
    }
}

#[test]
fn every_subcommand_documents_every_flag_and_an_example() {
    let flags: [(&str, &[&str]); 5] = [
        (
            "exec",
            &[
                "--rate",
                "--concurrency",
                "--retries",
                "--input",
                "--keep-order",
                "--as-completed",
                "COMMAND",
            ],
        ),
        (
            "chat",
            &[
                "--rpm",
                "--tpm",
                "--requests",
                "--tokens",
                "--endpoint",
                "--model",
                "--api-key-env",
                "--default-max-tokens",
                "--concurrency",
                "--retries",
                "REQUESTS",
            ],
        ),
        (
            "mock-server",
            &["--rpm", "--tpm", "--window", "--latency", "--port"],
        ),
        (
            "proxy",
            &[
                "--upstream",
                "--rpm",
                "--tpm",
                "--requests",
                "--tokens",
                "--input-tpm",
                "--output-tpm",
                "--concurrency",
                "--redis",
                "--name",
                "--listen",
                "--api-key-env",
                "--retries",
                "--header-timeout",
                "--max-body-bytes",
                "--max-connections",
                "--log",
                "/tollgate/stats",
                "OPENAI_BASE_URL",
            ],
        ),
        ("demo", &[]),
    ];
    for (subcommand, flags) in flags {
        let text = help(&[subcommand, "--help"]);
        assert!(
            text.contains("Example"),
            "no example in {subcommand} --help:\n{text}"
        );
        for flag in flags {
            assert!(
                text.contains(flag),
                "{flag} missing from {subcommand} --help:\n{text}"
            );
        }
    }
}
