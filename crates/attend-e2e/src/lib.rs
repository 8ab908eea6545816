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
use attend_test_support::wait_until;
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
