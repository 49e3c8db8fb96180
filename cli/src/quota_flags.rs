//! The quota flags `chat` and `proxy` share: one resource's quota given as a count per minute
//! (`--rpm N`) or as a rate over any period (`--requests RATE`), one or the other.

use std::time::Duration;

use clap::{value_parser, Arg, ArgGroup, ArgMatches, Command};
use tollgate::Rate;

use crate::command_line::rate_arg;

/// The two flags of one resource's quota.
#[derive(Clone, Copy, Debug)]
pub struct QuotaFlags {
    /// The per-minute flag (`rpm`): a count.
    per_minute: &'static str,
    /// The rate flag (`requests`): a [`Rate`] such as `"20/s"`.
    rate: &'static str,
    /// The group both belong to (at most one of them is given).
    group: &'static str,
    per_minute_help: &'static str,
    rate_help: &'static str,
}

/// Requests: `--rpm N` or `--requests RATE`.
pub const REQUESTS_QUOTA: QuotaFlags = QuotaFlags {
    per_minute: "rpm",
    rate: "requests",
    group: "requests-quota",
    per_minute_help: "Requests per minute (the same as --requests N/min)",
    rate_help: "Requests per period, for quotas not counted per minute: \"20/s\", \"10000/day\"",
};

/// Tokens: `--tpm N` or `--tokens RATE`.
pub const TOKENS_QUOTA: QuotaFlags = QuotaFlags {
    per_minute: "tpm",
    rate: "tokens",
    group: "tokens-quota",
    per_minute_help: "Tokens per minute (the same as --tokens N/min)",
    rate_help: "Tokens per period: \"2000/s\", \"1000000/day\"",
};

/// Input tokens (Anthropic counts them apart): `--input-tpm N` or `--input-tokens RATE`.
pub const INPUT_TOKENS_QUOTA: QuotaFlags = QuotaFlags {
    per_minute: "input-tpm",
    rate: "input-tokens",
    group: "input-tokens-quota",
    per_minute_help: "Input (prompt) tokens per minute, a quota of its own (Anthropic's ITPM)",
    rate_help: "Input tokens per period: \"40000/min\"",
};

/// Output tokens (Anthropic counts them apart): `--output-tpm N` or `--output-tokens RATE`.
pub const OUTPUT_TOKENS_QUOTA: QuotaFlags = QuotaFlags {
    per_minute: "output-tpm",
    rate: "output-tokens",
    group: "output-tokens-quota",
    per_minute_help: "Output (completion) tokens per minute, a quota of its own (Anthropic's OTPM)",
    rate_help: "Output tokens per period: \"8000/min\"",
};

impl QuotaFlags {
    /// `command` with both flags, one of which is `required` or neither.
    pub fn add_to(self, command: Command, required: bool) -> Command {
        command
            .arg(
                Arg::new(self.per_minute)
                    .long(self.per_minute)
                    .value_name("N")
                    .value_parser(value_parser!(u64).range(1..))
                    .help(self.per_minute_help),
            )
            .arg(
                rate_arg(self.rate)
                    .conflicts_with(self.per_minute)
                    .help(self.rate_help),
            )
            .group(
                ArgGroup::new(self.group)
                    .args([self.per_minute, self.rate])
                    .required(required),
            )
    }

    /// The quota `args` give, if any.
    pub fn read(self, args: &ArgMatches) -> Option<Rate> {
        args.get_one::<u64>(self.per_minute)
            .map(|count| Rate::new(*count, Duration::from_secs(60)))
            .or_else(|| args.get_one::<Rate>(self.rate).copied())
    }
}
