//! `attend-bench create`: `POST /v1/appointments` with exactly one reminder each, from
//! many connections in a closed loop (item 1 of docs/benchmarks.md).
//!
//! Every booking is one transaction in booking-service: the customer, the appointment, its
//! reminder and the `appointment.scheduled` outbox row. The requests never conflict:
//! free-form appointments hold no agent's time, and each one has its own customer and
//! start, so the figure is the write path's, not a lock's.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::task::JoinSet;

use crate::api::{Api, Tenant, Timed};
use crate::args;
use crate::report::{PhaseResult, Recorder, table};
use crate::results::{self, Row, Target};
use crate::sink::EventSink;

/// The native API's booking route.
const APPOINTMENTS: &str = "/v1/appointments";
/// The zone of the entity and of every appointment.
const ZONE: &str = "Europe/Berlin";
/// Error answers kept to show.
const ERROR_SAMPLES: usize = 5;
/// The targets of item 1.
const RATE_TARGET: f64 = 2000.0;
const P99_TARGET_MS: f64 = 50.0;
/// The concurrency the targets are stated for.
const TARGET_CONNECTIONS: usize = 64;

/// The usage text of `attend-bench create --help`.
pub const USAGE: &str = "\
Usage: attend-bench create --url URL --admin-token TOKEN [options]

Benchmarks booking creation on a running booking-service (item 1): creates a tenant, an
entity and an appointment type through the API, then --connections clients each POST
/v1/appointments in a closed loop, every request with exactly one reminder, its own
customer and its own start (nothing conflicts), for --warmup-secs unrecorded then
--duration-secs measured seconds. Prints throughput and latency percentiles.

Options:
  --url URL              booking-service base URL, e.g. http://127.0.0.1:18080 (required)
  --admin-token TOKEN    its ADMIN_TOKEN (default: $ADMIN_TOKEN)
  --connections N        concurrent clients, each on its own keep-alive connection
                         (default 64)
  --duration-secs S      measured seconds (default 20)
  --warmup-secs S        unrecorded seconds before (default 2)
  --json-out PATH        also write the results as JSON to PATH
  --results PATH         append the figures as rows of scripts/bench's table (TSV)
  --amqp-url URL         bind a sink queue for the service's events on this broker, as
                         reminder-scheduler's queue would take them
  --amqp-prefix PREFIX   the service's AMQP_PREFIX (default empty)
  -h, --help             show this help
";

/// Options of `attend-bench create`.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateOptions {
    /// Base URL of booking-service, without a trailing slash.
    pub url: String,
    /// Its operator token.
    pub admin_token: String,
    /// Concurrent clients.
    pub connections: usize,
    /// Measured seconds.
    pub duration_secs: u64,
    /// Unrecorded seconds before measuring.
    pub warmup_secs: u64,
    /// Where to write the JSON results.
    pub json_out: Option<PathBuf>,
    /// The results file of `scripts/bench` to append the item 1 rows to.
    pub results: Option<PathBuf>,
    /// The broker to bind the event sink on, if any.
    pub amqp_url: Option<String>,
    /// The service's `AMQP_PREFIX`.
    pub amqp_prefix: String,
}

impl CreateOptions {
    /// Reads the `--name value` pairs of the command line; `admin_token_env` is
    /// `$ADMIN_TOKEN`.
    pub fn parse(
        pairs: &[(String, String)],
        admin_token_env: Option<String>,
    ) -> anyhow::Result<Self> {
        let mut options = Self {
            url: String::new(),
            admin_token: admin_token_env.unwrap_or_default(),
            connections: TARGET_CONNECTIONS,
            duration_secs: 20,
            warmup_secs: 2,
            json_out: None,
            results: None,
            amqp_url: None,
            amqp_prefix: String::new(),
        };
        for (name, value) in pairs {
            let name = name.as_str();
            match name {
                "--url" => options.url = value.trim_end_matches('/').to_owned(),
                "--admin-token" => options.admin_token.clone_from(value),
                "--connections" => options.connections = args::number(name, value)?,
                "--duration-secs" => options.duration_secs = args::number(name, value)?,
                "--warmup-secs" => options.warmup_secs = args::number(name, value)?,
                "--json-out" => options.json_out = Some(PathBuf::from(value)),
                "--results" => options.results = Some(PathBuf::from(value)),
                "--amqp-url" => options.amqp_url = Some(value.clone()),
                "--amqp-prefix" => options.amqp_prefix.clone_from(value),
                other => bail!("unknown option {other:?}"),
            }
        }
        if !options.url.starts_with("http://") && !options.url.starts_with("https://") {
            bail!("--url is required and must start with http:// or https://");
        }
        if options.admin_token.is_empty() {
            bail!("--admin-token (or $ADMIN_TOKEN) is required");
        }
        if options.connections == 0 || options.duration_secs == 0 {
            bail!("--connections and --duration-secs must be at least 1");
        }
        Ok(options)
    }
}

/// What every client shares.
struct Shared {
    api: Api,
    api_key: String,
    appointment_type_id: String,
    /// The first appointment's start; each next one starts a minute later.
    first_start: DateTime<Utc>,
    /// Numbers the bookings, so each has its own customer and start.
    next_booking: AtomicU64,
    errors: Mutex<Vec<String>>,
}

impl Shared {
    fn body(&self) -> anyhow::Result<Vec<u8>> {
        let number = self.next_booking.fetch_add(1, Ordering::Relaxed);
        let minutes = i64::try_from(number).context("too many bookings")?;
        let start = self.first_start + chrono::Duration::minutes(minutes);
        let body = json!({
            "customer": {
                // A new name each time, so every booking creates its customer.
                "name": format!("Bench Customer{number}"),
                // +1 201 555-0100 .. -0199: numbers libphonenumber accepts, reserved for fiction.
                "phone": format!("+12015550{}", 100 + number % 100),
                "locale": "de",
            },
            "start": start.to_rfc3339(),
            "duration_minutes": 30,
            "time_zone": ZONE,
            "appointment_type_id": self.appointment_type_id,
            "reminders": [{ "channel": "sms", "offset": "P1D" }],
        });
        serde_json::to_vec(&body).context("failed to encode an appointment")
    }

    fn note_error(&self, answer: &Timed) {
        if let Ok(mut errors) = self.errors.lock()
            && errors.len() < ERROR_SAMPLES
        {
            errors.push(answer.describe());
        }
    }
}

/// Runs the benchmark and prints (and writes) its results. Returns whether every measured
/// request succeeded.
pub async fn run(options: CreateOptions) -> anyhow::Result<bool> {
    let api = Api::new(&options.url, options.connections)?;
    say(&format!(
        "create benchmark against {}: {} connections, {} s warm-up, {} s measured",
        options.url, options.connections, options.warmup_secs, options.duration_secs
    ));
    let sink = match &options.amqp_url {
        Some(url) => Some(EventSink::bind(url, &options.amqp_prefix).await?),
        None => {
            say("events: no --amqp-url, so no sink: the outbox will retry unroutable events");
            None
        }
    };
    let (api_key, appointment_type_id) = setup(&api, &options.admin_token).await?;
    let shared = Arc::new(Shared {
        api,
        api_key,
        appointment_type_id,
        // Far enough ahead that the one-day reminder is in the future.
        first_start: Utc::now() + chrono::Duration::days(3),
        next_booking: AtomicU64::new(0),
        errors: Mutex::new(Vec::new()),
    });

    let measure_from = Instant::now() + Duration::from_secs(options.warmup_secs);
    let until = measure_from + Duration::from_secs(options.duration_secs);
    let mut tasks = JoinSet::new();
    for _ in 0..options.connections {
        let shared = Arc::clone(&shared);
        tasks.spawn(async move {
            let mut recorder = Recorder::new()?;
            loop {
                let sent_at = Instant::now();
                if sent_at >= until {
                    return Ok::<_, anyhow::Error>(recorder);
                }
                let body = shared.body()?;
                let answer = shared
                    .api
                    .post_timed(APPOINTMENTS, &shared.api_key, body)
                    .await;
                if sent_at < measure_from {
                    continue;
                }
                if answer.ok() {
                    recorder.success(answer.status, answer.elapsed);
                } else {
                    shared.note_error(&answer);
                    recorder.failure(answer.status);
                }
            }
        });
    }
    let mut recorder = Recorder::new()?;
    while let Some(joined) = tasks.join_next().await {
        recorder.merge(&joined.context("a client panicked")??)?;
    }
    let elapsed = measure_from.elapsed();
    let errors = shared
        .errors
        .lock()
        .map(|errors| errors.clone())
        .unwrap_or_default();
    for sample in &errors {
        say(&format!("error: {sample}"));
    }
    if let Some(sink) = sink {
        // The relay publishes the last bookings' events just after their commits.
        tokio::time::sleep(Duration::from_secs(2)).await;
        sink.close().await;
    }

    let row = PhaseResult::of(
        &format!(
            "POST /v1/appointments, 1 reminder, {} connections",
            options.connections
        ),
        &recorder,
        elapsed,
    );
    let mut out = std::io::stdout().lock();
    writeln!(out)?;
    write!(out, "{}", table(std::slice::from_ref(&row)))?;
    writeln!(out)?;
    let scope = if options.connections == TARGET_CONNECTIONS {
        format!("at {TARGET_CONNECTIONS} connections")
    } else {
        format!(
            "at {} connections (not a verdict: the target is for {TARGET_CONNECTIONS})",
            options.connections
        )
    };
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    writeln!(
        out,
        "target rate >= {RATE_TARGET} req/s {scope}: {} ({:.1} req/s)",
        verdict(row.throughput >= RATE_TARGET),
        row.throughput
    )?;
    writeln!(
        out,
        "target p99 <= {P99_TARGET_MS} ms {scope}: {} ({:.2} ms)",
        verdict(row.p99_ms <= P99_TARGET_MS),
        row.p99_ms
    )?;
    out.flush()?;
    drop(out);

    if let Some(path) = &options.results {
        let scope = format!("{} connections", options.connections);
        #[expect(
            clippy::cast_precision_loss,
            reason = "error counts are far below 2^53"
        )]
        let failed = row.errors as f64;
        results::append(
            path,
            &[
                Row::new(
                    1,
                    format!("booking create rate ({scope})"),
                    row.throughput,
                    "req/s",
                    Target::AtLeast(RATE_TARGET),
                ),
                Row::new(
                    1,
                    format!("booking create p99 ({scope})"),
                    row.p99_ms,
                    "ms",
                    Target::AtMost(P99_TARGET_MS),
                ),
                Row::new(
                    1,
                    "booking create failed requests",
                    failed,
                    "",
                    Target::AtMost(0.0),
                ),
            ],
        )?;
    }
    if let Some(path) = &options.json_out {
        let document = json!({
            "benchmark": "create",
            "finished_at": Utc::now().to_rfc3339(),
            "url": options.url,
            "config": {
                "connections": options.connections,
                "duration_secs": options.duration_secs,
                "warmup_secs": options.warmup_secs,
                "event_sink": options.amqp_url.is_some(),
            },
            "result": row,
            "error_samples": errors,
        });
        let text = serde_json::to_string_pretty(&document)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("failed to write {}", path.display()))?;
    }
    Ok(row.errors == 0)
}

/// Creates the tenant, an entity and an appointment type through the API; returns the
/// tenant's API key and the type's id.
async fn setup(api: &Api, admin_token: &str) -> anyhow::Result<(String, String)> {
    let Tenant { api_key, tenant_id } = api.create_tenant(admin_token).await?;
    let entity_id = api
        .create(
            "/v1/entities",
            &api_key,
            &json!({
                "name": "Bench Clinic",
                "time_zone": ZONE,
                "locale": "de",
                "sip_ids": ["bench-create"],
                "reminders": [{ "channel": "sms", "offset": "P1D" }],
            }),
            "the entity",
        )
        .await?;
    let appointment_type_id = api
        .create(
            "/v1/appointment-types",
            &api_key,
            &json!({ "entity_id": entity_id, "name": "Check-up" }),
            "the appointment type",
        )
        .await?;
    say(&format!(
        "setup: tenant {tenant_id}, entity {entity_id}, appointment type {appointment_type_id}"
    ));
    Ok((api_key, appointment_type_id))
}

/// Progress, on stderr so that stdout is the results alone.
fn say(message: &str) {
    eprintln!("[attend-bench] {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
        args::options(&words).unwrap().unwrap()
    }

    #[test]
    fn defaults_are_the_targets_conditions() {
        let options =
            CreateOptions::parse(&pairs("--url http://x/ --admin-token t"), None).unwrap();
        assert_eq!(options.url, "http://x");
        assert_eq!(options.connections, 64);
        assert_eq!(options.duration_secs, 20);
        assert_eq!(options.warmup_secs, 2);
    }

    #[test]
    fn mistakes_are_named() {
        let error = CreateOptions::parse(
            &pairs("--url http://x --connections many"),
            Some("t".into()),
        )
        .unwrap_err();
        assert!(error.to_string().contains("--connections"), "{error}");
        let error = CreateOptions::parse(&pairs("--admin-token t"), None).unwrap_err();
        assert!(error.to_string().contains("--url"), "{error}");
    }
}
