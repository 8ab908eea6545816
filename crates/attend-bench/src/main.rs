//! `attend-bench`: load generators that measure Attend's services over HTTP.
//!
//! `attend-bench voicebot --url http://127.0.0.1:18080 --admin-token TOKEN` benchmarks the
//! voicebot webhook of a running booking-service; `scripts/bench.d/voicebot` starts one on a
//! fresh database and runs it; `attend-bench scheduler --mode burst|steady` measures a running
//! reminder-scheduler (`scripts/bench.d/burst`, `scripts/bench.d/steady`; see docs/benchmarks.md).

mod api;
mod args;
mod report;
mod results;
mod scheduler;
mod sink;
mod voicebot;

use std::io::Write as _;
use std::process::ExitCode;

use args::Command;

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let admin_token = std::env::var("ADMIN_TOKEN")
        .ok()
        .filter(|token| !token.is_empty());
    let command = match args::parse(&arguments, admin_token) {
        Ok(command) => command,
        Err(error) => {
            eprintln!("attend-bench: {error} (see attend-bench --help)");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help => {
            let mut out = std::io::stdout().lock();
            if out.write_all(args::USAGE.as_bytes()).is_err()
                || out.write_all(scheduler::USAGE.as_bytes()).is_err()
            {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Command::Scheduler(options) => match runtime() {
            Ok(runtime) => match runtime.block_on(scheduler::run(options)) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => {
                    eprintln!(
                        "attend-bench: reminders were lost, doubled or unexpected (figures above)"
                    );
                    ExitCode::from(3)
                }
                Err(error) => {
                    eprintln!("attend-bench: {error:#}");
                    ExitCode::FAILURE
                }
            },
            Err(error) => {
                eprintln!("attend-bench: failed to start the runtime: {error}");
                ExitCode::FAILURE
            }
        },
        Command::Voicebot(options) => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("attend-bench: failed to start the runtime: {error}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(voicebot::run(options)) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => {
                    eprintln!("attend-bench: some requests failed (figures above)");
                    ExitCode::from(3)
                }
                Err(error) => {
                    eprintln!("attend-bench: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}
