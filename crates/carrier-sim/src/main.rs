//! carrier-sim binary: reads the environment, serves until ctrl-c or SIGTERM.

use std::process::ExitCode;

use anyhow::Context as _;
use carrier_sim::{Application, Config};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    // Start-up failures are reported as one line on stderr (the error chain joined with ": "),
    // not as anyhow's multi-line report with a backtrace.
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("carrier-sim: {error}");
            return ExitCode::FAILURE;
        }
    };
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error.message = %error, error.cause_chain = ?error, "carrier-sim failed");
            eprintln!("carrier-sim: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    init_tracing()?;
    let application = Application::build(config.clone()).await?;
    tracing::info!(
        host = %config.http_host,
        port = application.port(),
        auth_id = %config.auth_id,
        "carrier-sim listening"
    );
    application.run_until_stopped(shutdown_signal()).await
}

fn init_tracing() -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,carrier_sim=debug"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .try_init()
        .map_err(|error| anyhow::anyhow!(error))
        .context("failed to install the tracing subscriber")
}

/// Resolves on ctrl-c or, on unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %error, "failed to listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };

    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(error) => {
                tracing::error!(error = %error, "failed to listen for sigterm");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown signal received");
}
