//! `tollgate`: run commands (`exec`) or OpenAI-compatible chat requests (`chat`) as fast as
//! their quotas allow, and never faster; `proxy` holds every program's requests within one
//! quota; `mock-server` and `demo` try it without an API key.
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
mod proxy;
mod quota_flags;
mod run_outcome;
mod stop_signals;

use std::process::ExitCode;

use command_line::Invocation;

fn main() -> ExitCode {
    let ran = command_line::parse().and_then(|invocation| match invocation {
        Invocation::Exec(settings) => exec::exec(&settings),
        Invocation::Chat(settings) => chat::chat(&settings),
        Invocation::MockServer(config) => {
            mock_server::mock_server(&config).map(|()| run_outcome::RunOutcome::AllSucceeded)
        }
        Invocation::Proxy(settings) => proxy::proxy(&settings),
        Invocation::Demo => demo::demo(),
    });
    match ran {
        Ok(outcome) => outcome.exit_code(),
        Err(err) => {
            eprintln!("tollgate: {err}");
            ExitCode::from(2)
        }
    }
}
