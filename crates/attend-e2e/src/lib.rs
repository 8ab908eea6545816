//! The harness of the end-to-end tests in tests/: every Attend binary started as a real
//! process, waited for, and stopped the way a deployment stops it.
//!
//! The binaries come from the same target directory as the test (`scripts/test` builds them
//! first with `cargo build --workspace --bins`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use attend_test_support::{TestEnv, wait_until};
use tokio::process::{Child, Command};

/// The operator token every test stack is started with.
pub const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789";

/// One running binary, its port and its log file.
pub struct Service {
    /// The binary's name.
    pub name: &'static str,
    /// Its HTTP port.
    pub port: u16,
    /// The process.
    pub child: Child,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

/// Returns the path of the binary `name` next to the running test.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    // target/<profile>/deps/<this test> → target/<profile>/<name>
    let test_binary = std::env::current_exe()?;
    let profile_dir = test_binary
        .parent()
        .and_then(|deps| deps.parent())
        .context("unexpected test binary location")?;
    let path = profile_dir.join(name);
    anyhow::ensure!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (scripts/test does)",
        path.display()
    );
    Ok(path)
}

/// Returns a port free on loopback right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Returns `env` with `PUBLIC_URL` set to the service on `port`: each service with webhooks
/// is reached at its own address.
fn with_public_url(env: &[(String, String)], port: u16) -> Vec<(String, String)> {
    let mut env = env.to_vec();
    env.retain(|(name, _)| name != "PUBLIC_URL");
    env.push(("PUBLIC_URL".to_owned(), format!("http://127.0.0.1:{port}")));
    env
}

/// Starts the binary `name` on `port` with `env`, logging to `log_dir/<name>.log`.
pub async fn start(
    name: &'static str,
    port: u16,
    env: &[(String, String)],
    log_dir: &std::path::Path,
) -> anyhow::Result<Service> {
    let log = log_dir.join(format!("{name}.log"));
    let log_file = std::fs::File::create(&log)?;
    let child = Command::new(binary(name)?)
        .envs(env.iter().cloned())
        .env("HTTP_PORT", port.to_string())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("failed to start {name}"))?;
    Ok(Service {
        name,
        port,
        child,
        log,
    })
}

/// Waits up to 60 s for the service's `/readyz`; fails with its log.
pub async fn wait_ready(client: &reqwest::Client, service: &Service) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{}/readyz", service.port);
    wait_until(
        Duration::from_secs(60),
        &format!("{} to be ready", service.name),
        || async {
            let response = client.get(&url).send().await.ok()?;
            response.status().is_success().then_some(())
        },
    )
    .await
    .with_context(|| std::fs::read_to_string(&service.log).unwrap_or_default())
}

/// Stops a service with SIGTERM and expects a clean exit: graceful shutdown, for real.
pub async fn terminate(mut service: Service) -> anyhow::Result<()> {
    let pid = service.child.id().context("already exited")?;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill -TERM failed");
    let exit = tokio::time::timeout(Duration::from_secs(20), service.child.wait())
        .await
        .with_context(|| format!("{} did not stop within 20 s of SIGTERM", service.name))??;
    anyhow::ensure!(
        exit.success(),
        "{} exited with {exit} after SIGTERM:\n{}",
        service.name,
        std::fs::read_to_string(&service.log).unwrap_or_default()
    );
    Ok(())
}

/// Every Attend binary and the carrier simulator, running against one test environment.
pub struct Attend {
    /// One client for every request of the test.
    pub client: reqwest::Client,
    services: Vec<Service>,
    log_dir: PathBuf,
}

impl Attend {
    /// Starts carrier-sim, booking-service, reminder-scheduler, voice-gateway and
    /// sms-service on free ports, wired to each other and to `env`, with `extra_env` on top;
    /// returns once each answers `/readyz`.
    pub async fn start(env: &TestEnv, extra_env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let log_dir = std::env::temp_dir().join(format!("attend-e2e-{}", env.database_name));
        std::fs::create_dir_all(&log_dir)?;
        let [sim_port, booking_port, scheduler_port, voice_port, sms_port] = [
            free_port()?,
            free_port()?,
            free_port()?,
            free_port()?,
            free_port()?,
        ];
        let mut shared = env.service_env();
        shared.retain(|(name, _)| name != "HTTP_PORT");
        let sim = format!("http://127.0.0.1:{sim_port}");
        let sms = format!("http://127.0.0.1:{sms_port}");
        shared.extend([
            ("ADMIN_TOKEN".to_owned(), ADMIN_TOKEN.to_owned()),
            ("VOBIZ_API_URL".to_owned(), format!("{sim}/api/v1")),
            (
                "FLOWROUTE_API_URL".to_owned(),
                format!("{sim}/flowroute/v2.1"),
            ),
            (
                "TWILIO_API_URL".to_owned(),
                format!("{sim}/twilio/2010-04-01"),
            ),
            (
                "SIM_FLOWROUTE_INBOUND_URL".to_owned(),
                format!("{sms}/sms/flowroute/inbound?token=sim-sms-inbound-secret"),
            ),
            (
                "SIM_TWILIO_INBOUND_URL".to_owned(),
                format!("{sms}/sms/twilio/inbound"),
            ),
            ("SCHEDULER_POLL_MS".to_owned(), "200".to_owned()),
            ("SMS_POLL_MS".to_owned(), "200".to_owned()),
        ]);
        shared.extend(
            extra_env
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
        );
        let services = vec![
            start("carrier-sim", sim_port, &shared, &log_dir).await?,
            start("booking-service", booking_port, &shared, &log_dir).await?,
            start("reminder-scheduler", scheduler_port, &shared, &log_dir).await?,
            start(
                "voice-gateway",
                voice_port,
                &with_public_url(&shared, voice_port),
                &log_dir,
            )
            .await?,
            start(
                "sms-service",
                sms_port,
                &with_public_url(&shared, sms_port),
                &log_dir,
            )
            .await?,
        ];
        let client = reqwest::Client::new();
        for service in &services {
            wait_ready(&client, service).await?;
        }
        Ok(Self {
            client,
            services,
            log_dir,
        })
    }

    /// Returns the base URL of the service `name`, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self, name: &str) -> anyhow::Result<String> {
        let service = self
            .services
            .iter()
            .find(|service| service.name == name)
            .with_context(|| format!("no service {name}"))?;
        Ok(format!("http://127.0.0.1:{}", service.port))
    }

    /// Returns every service's log, each under its name: context for a failed wait.
    pub fn logs(&self) -> String {
        self.services
            .iter()
            .map(|service| {
                format!(
                    "--- {}\n{}",
                    service.name,
                    std::fs::read_to_string(&service.log).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Creates a tenant through the operator API and returns its API key.
    pub async fn create_tenant(&self, name: &str) -> anyhow::Result<String> {
        let tenant: serde_json::Value = self
            .client
            .post(format!("{}/v1/admin/tenants", self.url("booking-service")?))
            .bearer_auth(ADMIN_TOKEN)
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await?
            .json()
            .await?;
        Ok(tenant["api_key"]
            .as_str()
            .context("no api key in the tenant answer")?
            .to_owned())
    }

    /// Stops every service with SIGTERM, expecting each to exit cleanly, and removes the logs.
    pub async fn stop(self) -> anyhow::Result<()> {
        for service in self.services {
            terminate(service).await?;
        }
        let _ = std::fs::remove_dir_all(&self.log_dir);
        Ok(())
    }
}
