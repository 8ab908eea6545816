//! The reminder-scheduler binary: configuration, telemetry, then the application until a
//! shutdown signal.

use attend_runtime::Env;
use reminder_scheduler::{Application, Config, SERVICE_NAME};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = match Config::from_env(&Env::from_process()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    let telemetry = attend_runtime::telemetry::init(
        SERVICE_NAME,
        config.common.log_format,
        config.common.otlp_endpoint.as_deref(),
    )?;
    let outcome = async {
        let app = Application::build(config).await?;
        app.run_until_stopped(attend_runtime::shutdown::signal())
            .await
    }
    .await;
    if let Err(error) = &outcome {
        tracing::error!(error.message = %error, error.cause_chain = ?error, "reminder-scheduler failed");
    }
    telemetry.shutdown().await;
    outcome
}
