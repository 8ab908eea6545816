//! `attend-bench`: load generators that measure Attend's services over HTTP.
//!
//! `attend-bench voicebot --url http://127.0.0.1:18080 --admin-token TOKEN` benchmarks the
//! voicebot webhook of a running booking-service, `attend-bench create ...` its booking
//! creation, `attend-bench scheduler --mode burst|steady` a running reminder-scheduler,
//! `attend-bench e2e ...` reminders through every service; the parts in `scripts/bench.d/`
//! start what each needs and run them (see docs/benchmarks.md).

mod api;
mod args;
mod create;
mod e2e;
mod report;
mod results;
mod scheduler;
mod sink;
mod voicebot;

use std::future::Future;
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
        Command::Help => print_usage(&format!("{}{}", args::USAGE, scheduler::USAGE)),
        Command::CreateHelp => print_usage(create::USAGE),
        Command::Voicebot(options) => run_benchmark(voicebot::run(options)),
        Command::Create(options) => run_benchmark(create::run(options)),
        Command::E2e(options) => run_benchmark(e2e::run(options)),
        Command::Scheduler(options) => run_benchmark(scheduler::run(options)),
    }
}

fn print_usage(usage: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    if out.write_all(usage.as_bytes()).is_err() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Runs a benchmark on a multi-threaded runtime; exit status 3 when some request failed,
/// not every reminder was delivered and confirmed in time (e2e), or reminders were lost,
/// doubled or unexpected (scheduler).
fn run_benchmark(benchmark: impl Future<Output = anyhow::Result<bool>>) -> ExitCode {
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
    match runtime.block_on(benchmark) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("attend-bench: some requests or reminders failed (figures above)");
            ExitCode::from(3)
        }
        Err(error) => {
            eprintln!("attend-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}
