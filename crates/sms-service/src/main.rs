//! sms-service binary: configuration, telemetry, then the application until a signal.

use attend_runtime::{Env, shutdown, telemetry};
use sms_service::{Application, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = match Config::from_env(&Env::from_process()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("sms-service: {error}");
            std::process::exit(2);
        }
    };
    let telemetry = telemetry::init(
        "sms-service",
        config.common.log_format,
        config.common.otlp_endpoint.as_deref(),
    )?;
    let outcome = match Application::build(config).await {
        Ok(application) => application.run_until_stopped(shutdown::signal()).await,
        Err(error) => Err(error),
    };
    if let Err(error) = &outcome {
        tracing::error!(error.message = %error, error.cause_chain = ?error, "sms-service failed");
    }
    telemetry.shutdown().await;
    outcome
}
