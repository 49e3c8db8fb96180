//! `tollgate`: run commands (`exec`) or OpenAI-compatible chat requests (`chat`) as fast as
//! their quotas allow, and never faster; `mock-server` and `demo` try it without an API key.
//! See `tollgate --help`.

#![forbid(unsafe_code)]

mod chat;
mod cli_error;
mod command_line;
mod counted;
mod demo;
mod exec;
mod input_lines;
mod mock_server;
mod run_outcome;
mod stop_signals;

use std::process::ExitCode;

use cli_error::CliError;
use run_outcome::RunOutcome;

fn main() -> ExitCode {
    let args = command_line::tollgate().get_matches();
    let ran: Result<RunOutcome, CliError> = match args.subcommand() {
        Some(("exec", args)) => exec::exec(args),
        Some(("chat", args)) => chat::chat(args),
        Some(("mock-server", args)) => {
            mock_server::mock_server(args).map(|()| RunOutcome::AllSucceeded)
        }
        Some(("demo", _)) => demo::demo(),
        _ => unreachable!("clap requires a known subcommand"),
    };
    match ran {
        Ok(outcome) => outcome.exit_code(),
        Err(err) => {
            eprintln!("tollgate: {err}");
            ExitCode::from(2)
        }
    }
}
