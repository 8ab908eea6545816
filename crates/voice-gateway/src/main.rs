//! The voice-gateway binary: configuration, telemetry, then the application until a signal.

use attend_runtime::Env;
use voice_gateway::{Application, Config, SERVICE_NAME};

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
    let outcome = match Application::build(config).await {
        Ok(application) => {
            application
                .run_until_stopped(attend_runtime::shutdown::signal())
                .await
        }
        Err(error) => Err(error),
    };
    if let Err(error) = &outcome {
        tracing::error!(
            error.message = %error,
            error.cause_chain = ?error,
            "voice-gateway stopped with an error"
        );
    }
    telemetry.shutdown().await;
    outcome
}
