//! `attend-bench e2e`: reminders end to end through every real service (items 5 and 6 of
//! docs/benchmarks.md).
//!
//! Books `--count` appointments through booking-service's native API, each with one reminder
//! on `--channel` due at the same instant T, to numbers whose default script in carrier-sim
//! answers "1" (voice) or "Yes" (SMS). From T on it watches the simulator's counters, then
//! reads the simulator's record (when each call was placed or text accepted, calls and
//! reminder texts per number) and booking-service's API (each appointment's status and
//! `status_changed_at`, which booking-service writes in the transaction that confirms it).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, SecondsFormat, TimeDelta, Timelike, Utc};
use reqwest::StatusCode;
use reqwest::header::AUTHORIZATION;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

use crate::args::{Channel, E2eOptions};
use crate::results::{self, Row, Target};

/// The reminder's offset before the start: any will do, the start is chosen to match.
const REMINDER_OFFSET: &str = "PT1H";
/// The same offset as a duration.
const REMINDER_OFFSET_SECONDS: i64 = 3600;
/// Appointments created first to measure how fast booking-service books (their reminders are
/// due days later, so they never fire during the run).
const PROBE_APPOINTMENTS: usize = 200;
/// T is set so that setup, at the probe's pace, ends with this much margin to spare (the
/// measured appointments are created while the service also relays their events).
const SETUP_SAFETY_FACTOR: f64 = 1.5;
/// Concurrent GETs when reading the appointments' statuses.
const STATUS_READERS: usize = 8;
/// Zones the recipients may live in; the one whose local time at T is nearest 13:00 is used,
/// so T is inside any calling window a deployment would choose (the tenant's window is also
/// set to the whole day).
const ZONES: [&str; 8] = [
    "Pacific/Auckland",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "Pacific/Honolulu",
];

/// The targets, in seconds from T.
struct Targets {
    placed_within: f64,
    confirmed_within: f64,
    item: u8,
}

fn targets(channel: Channel) -> Targets {
    match channel {
        Channel::Voice => Targets {
            placed_within: 20.0,
            confirmed_within: 60.0,
            item: 5,
        },
        Channel::Sms => Targets {
            placed_within: 15.0,
            confirmed_within: 30.0,
            item: 6,
        },
    }
}

/// Returns the `index`th recipient: +1 201 NXX-XXX1, distinct for every index below
/// 800,000, ending in 1 so that the simulator's default callee presses 1 and its default
/// subscriber answers "Yes".
fn recipient(index: usize) -> String {
    format!(
        "+1201{:03}{:04}",
        200 + index / 1000,
        (index % 1000) * 10 + 1
    )
}

/// Returns the `index`th probe number: ending in 0 (never answers, never replies).
fn probe_recipient(index: usize) -> String {
    format!("+1201{:03}{:04}", 200 + index / 1000, (index % 1000) * 10)
}

/// HTTP to booking-service and carrier-sim.
struct Clients {
    http: reqwest::Client,
    booking: String,
    sim: String,
}

impl Clients {
    async fn send_json(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let response = request
            .send()
            .await
            .with_context(|| format!("{what}: no answer"))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("{what}: the answer broke off"))?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&bytes[..bytes.len().min(400)]).into())
            })
        };
        Ok((status, body))
    }

    /// Sends `body` to booking-service and requires status `expected`.
    async fn booking(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
        expected: StatusCode,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.booking))
            .header(AUTHORIZATION, format!("Bearer {token}"));
        if let Some(body) = body {
            request = request.json(body);
        }
        let what = format!("{method} {path}");
        let (status, answer) = self.send_json(request, &what).await?;
        if status != expected {
            bail!("{what} answered {status} instead of {expected}: {answer}");
        }
        Ok(answer)
    }

    /// Returns how many events booking-service has consumed, from its `/metrics`
    /// (`attend_events_consumed_total`, summed over queues and results).
    async fn booking_events_consumed(&self) -> anyhow::Result<u64> {
        let text = self
            .http
            .get(format!("{}/metrics", self.booking))
            .send()
            .await
            .context("GET /metrics: no answer")?
            .error_for_status()
            .context("GET /metrics")?
            .text()
            .await
            .context("GET /metrics: the answer broke off")?;
        Ok(events_consumed(&text))
    }

    async fn sim_get<T: for<'de> Deserialize<'de>>(&self, path: &str) -> anyhow::Result<T> {
        let response = self
            .http
            .get(format!("{}{path}", self.sim))
            .send()
            .await
            .with_context(|| format!("GET {path} on the simulator: no answer"))?;
        if !response.status().is_success() {
            bail!("GET {path} on the simulator answered {}", response.status());
        }
        response
            .json()
            .await
            .with_context(|| format!("GET {path} on the simulator: unexpected answer"))
    }
}

#[derive(Debug, Deserialize)]
struct SimStats {
    calls: SimCallCounts,
    messages: SimMessageCounts,
}

#[derive(Debug, Deserialize)]
struct SimCallCounts {
    placed: usize,
    finished: usize,
}

#[derive(Debug, Deserialize)]
struct SimMessageCounts {
    outbound: usize,
    inbound_answered: usize,
}

/// A call in the simulator's record (`GET /sim/calls/summary`).
#[derive(Debug, Deserialize)]
struct CallSummary {
    to: String,
    created_at: DateTime<Utc>,
    /// Why the call ended early (a webhook failed or timed out), if it did.
    error: Option<String>,
}

/// A text in the simulator's record (`GET /sim/messages?direction=outbound`).
#[derive(Debug, Deserialize)]
struct MessageRecord {
    to: String,
    body: String,
    created_at: DateTime<Utc>,
}

/// An appointment as `GET /v1/appointments/{id}` shows it (the fields read here).
#[derive(Debug, Deserialize)]
struct AppointmentStatus {
    status: String,
    status_changed_at: DateTime<Utc>,
}

/// Seconds from `due` to `at`.
fn seconds_after(due: DateTime<Utc>, at: DateTime<Utc>) -> f64 {
    #[expect(
        clippy::cast_precision_loss,
        reason = "microseconds of a run fit f64's 53 bits exactly"
    )]
    let micros = (at - due).num_microseconds().unwrap_or(i64::MAX) as f64;
    micros / 1e6
}

/// The `share` quantile (0..=1) of sorted `values`.
fn quantile(sorted: &[f64], share: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a vector far below 2^53 elements"
    )]
    let index = ((sorted.len() - 1) as f64 * share).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn say(message: &str) {
    eprintln!("[attend-bench] {message}");
}

/// Returns the zone of `ZONES` whose local time at `due` is nearest 13:00.
fn zone_near_midday(due: DateTime<Utc>) -> &'static str {
    let mut best = (u32::MAX, ZONES[0]);
    for name in ZONES {
        let Ok(zone) = name.parse::<chrono_tz::Tz>() else {
            continue;
        };
        let local = due.with_timezone(&zone);
        let minutes = local.hour() * 60 + local.minute();
        let distance = minutes.abs_diff(13 * 60);
        if distance < best.0 {
            best = (distance, name);
        }
    }
    best.1
}

/// Creates one appointment per number, `clients` at a time; returns their ids in order.
async fn book_all(
    clients: &Arc<Clients>,
    api_key: &str,
    channel: Channel,
    numbers: Vec<String>,
    start: DateTime<Utc>,
    zone: &str,
    concurrency: usize,
) -> anyhow::Result<Vec<String>> {
    let count = numbers.len();
    let numbers = Arc::new(numbers);
    let next = Arc::new(AtomicUsize::new(0));
    let ids = Arc::new(Mutex::new(vec![String::new(); count]));
    let start = start.to_rfc3339_opts(SecondsFormat::Secs, true);
    let channel = match channel {
        Channel::Voice => "voice",
        Channel::Sms => "sms",
    };
    let mut workers = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (clients, numbers, next, ids) =
            (clients.clone(), numbers.clone(), next.clone(), ids.clone());
        let (api_key, start, zone) = (api_key.to_owned(), start.clone(), zone.to_owned());
        workers.spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(number) = numbers.get(index) else {
                    return anyhow::Ok(());
                };
                let body = json!({
                    "customer": { "name": format!("Bench Callee {index}"), "phone": number, "locale": "en" },
                    "start": start,
                    "time_zone": zone,
                    "location": "12 Bench Street",
                    "reminders": [{ "channel": channel, "offset": REMINDER_OFFSET }],
                });
                let created = clients
                    .booking(
                        reqwest::Method::POST,
                        "/v1/appointments",
                        &api_key,
                        Some(&body),
                        StatusCode::CREATED,
                    )
                    .await?;
                let id = created
                    .get("id")
                    .and_then(Value::as_str)
                    .with_context(|| format!("POST /v1/appointments answered no id: {created}"))?
                    .to_owned();
                ids.lock().await[index] = id;
            }
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined.context("a booking worker panicked")??;
    }
    let ids = std::mem::take(&mut *ids.lock().await);
    Ok(ids)
}

/// Reads the status of every appointment in `pending` (indexes into `ids`); returns those
/// confirmed with their `status_changed_at`, and the others' statuses.
async fn read_statuses(
    clients: &Arc<Clients>,
    api_key: &str,
    ids: &Arc<Vec<String>>,
    pending: Vec<usize>,
) -> anyhow::Result<(Vec<(usize, DateTime<Utc>)>, HashMap<String, usize>)> {
    let pending = Arc::new(pending);
    let next = Arc::new(AtomicUsize::new(0));
    let mut readers = JoinSet::new();
    for _ in 0..STATUS_READERS {
        let (clients, ids, pending, next) =
            (clients.clone(), ids.clone(), pending.clone(), next.clone());
        let api_key = api_key.to_owned();
        readers.spawn(async move {
            let mut confirmed = Vec::new();
            let mut others: HashMap<String, usize> = HashMap::new();
            loop {
                let position = next.fetch_add(1, Ordering::Relaxed);
                let Some(&index) = pending.get(position) else {
                    return anyhow::Ok((confirmed, others));
                };
                let answer = clients
                    .booking(
                        reqwest::Method::GET,
                        &format!("/v1/appointments/{}", ids[index]),
                        &api_key,
                        None,
                        StatusCode::OK,
                    )
                    .await?;
                let appointment: AppointmentStatus = serde_json::from_value(answer)
                    .context("GET /v1/appointments/{id}: unexpected answer")?;
                if appointment.status == "confirmed" {
                    confirmed.push((index, appointment.status_changed_at));
                } else {
                    *others.entry(appointment.status).or_default() += 1;
                }
            }
        });
    }
    let mut confirmed = Vec::new();
    let mut others: HashMap<String, usize> = HashMap::new();
    while let Some(joined) = readers.join_next().await {
        let (part, part_others) = joined.context("a status reader panicked")??;
        confirmed.extend(part);
        for (status, count) in part_others {
            *others.entry(status).or_default() += count;
        }
    }
    Ok((confirmed, others))
}

/// What the simulator recorded for our numbers.
struct Delivered {
    /// Seconds from T to the first call / text to each number that got one.
    first_after_due: Vec<f64>,
    /// Calls (voice) or repeated reminder texts (SMS) beyond one per number.
    duplicates: usize,
    /// Calls or texts to numbers that are not ours (the probe's, or strangers).
    strangers: usize,
    /// Calls the simulator ended early because the application misbehaved, with a sample.
    failed_calls: usize,
    failure_sample: Option<String>,
}

async fn read_delivered(
    clients: &Clients,
    channel: Channel,
    numbers: &HashMap<String, usize>,
    due: DateTime<Utc>,
) -> anyhow::Result<Delivered> {
    // Per number: when the first call or reminder text came, its text, how many repeated it.
    let mut first: HashMap<usize, (DateTime<Utc>, String, usize)> = HashMap::new();
    let mut strangers = 0;
    let mut failed_calls = 0;
    let mut failure_sample = None;
    let mut note = |to: &str, at: DateTime<Utc>, body: String| match numbers.get(to) {
        None => strangers += 1,
        Some(&index) => {
            let entry = first.entry(index).or_insert_with(|| (at, body.clone(), 0));
            if at < entry.0 {
                entry.0 = at;
            }
            if entry.1 == body {
                entry.2 += 1;
            }
        }
    };
    match channel {
        Channel::Voice => {
            let calls: Vec<CallSummary> = clients.sim_get("/sim/calls/summary").await?;
            // Every call to a number counts: a second call is a duplicate, whatever it says.
            for call in calls {
                if let Some(error) = call.error {
                    failed_calls += 1;
                    failure_sample.get_or_insert(error);
                }
                note(&call.to, call.created_at, String::new());
            }
        }
        Channel::Sms => {
            let texts: Vec<MessageRecord> =
                clients.sim_get("/sim/messages?direction=outbound").await?;
            // The confirmation text that follows a "Yes" is expected; only the reminder's
            // own text sent again is a duplicate.
            for text in texts {
                note(&text.to, text.created_at, text.body);
            }
        }
    }
    let mut first_after_due: Vec<f64> = first
        .values()
        .map(|(at, _, _)| seconds_after(due, *at))
        .collect();
    first_after_due.sort_by(f64::total_cmp);
    let duplicates = first.values().map(|(_, _, times)| times - 1).sum();
    Ok(Delivered {
        first_after_due,
        duplicates,
        strangers,
        failed_calls,
        failure_sample,
    })
}

/// Runs the benchmark; returns whether every reminder was delivered and every appointment
/// confirmed before the deadline.
#[expect(
    clippy::too_many_lines,
    reason = "one run, step by step, reads best in one place"
)]
pub async fn run(options: E2eOptions) -> anyhow::Result<bool> {
    let channel = options.channel;
    let goal = targets(channel);
    let noun = match channel {
        Channel::Voice => "call",
        Channel::Sms => "reminder text",
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(options.clients.max(STATUS_READERS) * 2)
        .tcp_nodelay(true)
        .build()
        .context("failed to build the HTTP client")?;
    let clients = Arc::new(Clients {
        http,
        booking: options.url.clone(),
        sim: options.sim_url.clone(),
    });
    say(&format!(
        "end to end, {channel:?}: {} reminders due at once, booking-service {}, carrier-sim {}",
        options.count, options.url, options.sim_url
    ));

    // A tenant of its own, whose calling window is the whole day (as scripts/demo-voice does):
    // the window rule is covered by tests, the bench measures throughput.
    let stamp = Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let tenant = clients
        .booking(
            reqwest::Method::POST,
            "/v1/admin/tenants",
            &options.admin_token,
            Some(&json!({ "name": format!("Bench e2e {stamp}") })),
            StatusCode::CREATED,
        )
        .await
        .context("creating the tenant failed")?;
    let api_key = tenant
        .get("api_key")
        .and_then(Value::as_str)
        .context("the new tenant has no api_key")?
        .to_owned();
    clients
        .booking(
            reqwest::Method::PUT,
            "/v1/settings/reminders",
            &api_key,
            Some(&json!({ "callingHours": { "start": "00:00", "end": "24:00" } })),
            StatusCode::OK,
        )
        .await
        .context("setting the calling hours failed")?;

    // How fast does booking-service book here? Probe appointments are due in three days.
    let probe_count = PROBE_APPOINTMENTS.min(options.count.max(20));
    let probe_started = Instant::now();
    let probe_start = (Utc::now() + TimeDelta::days(3))
        .with_nanosecond(0)
        .unwrap_or_default();
    book_all(
        &clients,
        &api_key,
        channel,
        (0..probe_count).map(probe_recipient).collect(),
        probe_start,
        "Europe/London",
        options.clients,
    )
    .await
    .context("the probe bookings failed")?;
    let probe_rate = f64::from(u32::try_from(probe_count).unwrap_or(u32::MAX))
        / probe_started.elapsed().as_secs_f64().max(0.001);
    #[expect(
        clippy::cast_precision_loss,
        reason = "a reminder count far below 2^53"
    )]
    let setup_estimate = options.count as f64 / probe_rate * SETUP_SAFETY_FACTOR;
    let lead = Duration::from_secs_f64(setup_estimate) + Duration::from_secs(options.lead_secs);
    let due = (Utc::now() + TimeDelta::from_std(lead).unwrap_or_default() + TimeDelta::seconds(1))
        .with_nanosecond(0)
        .unwrap_or_default();
    let zone = zone_near_midday(due);
    say(&format!(
        "booking-service books {probe_rate:.0}/s here ({probe_count} probe appointments); every reminder is due at T = {} (in {:.1} s), recipients in {zone}",
        due.to_rfc3339_opts(SecondsFormat::Millis, true),
        seconds_after(Utc::now(), due)
    ));

    let numbers: Vec<String> = (0..options.count).map(recipient).collect();
    let setup_started = Instant::now();
    let ids = book_all(
        &clients,
        &api_key,
        channel,
        numbers.clone(),
        due + TimeDelta::seconds(REMINDER_OFFSET_SECONDS),
        zone,
        options.clients,
    )
    .await
    .context("booking the appointments failed")?;
    let margin = seconds_after(Utc::now(), due);
    say(&format!(
        "booked {} appointments in {:.1} s; T is {margin:.1} s away",
        ids.len(),
        setup_started.elapsed().as_secs_f64()
    ));
    if margin < 1.0 {
        bail!(
            "setup ended {:.1} s before T, too late to measure from T (raise --lead-secs)",
            margin
        );
    }

    // From T: follow the simulator's counters until every call ended / every reply was taken.
    let deadline = due + TimeDelta::seconds(i64::try_from(options.wait_secs).unwrap_or(600));
    tokio::time::sleep(Duration::from_secs_f64(margin.max(0.0))).await;
    let mut last_print = -1_i64;
    loop {
        let stats: SimStats = clients.sim_get("/sim/stats").await?;
        let since = seconds_after(due, Utc::now());
        #[expect(
            clippy::cast_possible_truncation,
            reason = "whole seconds of a run of minutes"
        )]
        let whole = since.floor() as i64;
        let (sent, answered) = match channel {
            Channel::Voice => (stats.calls.placed, stats.calls.finished),
            Channel::Sms => (stats.messages.outbound, stats.messages.inbound_answered),
        };
        if whole > last_print {
            last_print = whole;
            let what = match channel {
                Channel::Voice => "calls placed / ended",
                Channel::Sms => "texts accepted / replies taken",
            };
            say(&format!("T+{since:>5.1} s  {what}: {sent} / {answered}"));
        }
        if answered >= options.count || Utc::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Then booking-service: every appointment's status, again and again for those that are
    // not confirmed yet, until all are or the deadline passes.
    let ids = Arc::new(ids);
    let mut pending: Vec<usize> = (0..ids.len()).collect();
    let mut confirmed_after_due: Vec<f64> = Vec::with_capacity(ids.len());
    let mut others = HashMap::new();
    while !pending.is_empty() {
        // A pass reads every pending appointment through the API, two statements each, on
        // the machine being measured: 10,000 reads per pass competed with the very consumer
        // that confirms them. So a pass waits until booking-service has stopped consuming
        // events for a moment. The figure comes from `status_changed_at`, which the wait
        // does not move.
        wait_until_quiet(&clients, deadline).await;
        let (confirmed, still) = read_statuses(&clients, &api_key, &ids, pending.clone()).await?;
        let now_confirmed: std::collections::HashSet<usize> =
            confirmed.iter().map(|&(index, _)| index).collect();
        confirmed_after_due.extend(confirmed.iter().map(|&(_, at)| seconds_after(due, at)));
        pending.retain(|index| !now_confirmed.contains(index));
        others = still;
        say(&format!(
            "T+{:>5.1} s  appointments confirmed: {} of {}",
            seconds_after(due, Utc::now()),
            confirmed_after_due.len(),
            ids.len()
        ));
        if pending.is_empty() || Utc::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    confirmed_after_due.sort_by(f64::total_cmp);

    let number_index: HashMap<String, usize> = numbers
        .iter()
        .enumerate()
        .map(|(index, number)| (number.clone(), index))
        .collect();
    let delivered = read_delivered(&clients, channel, &number_index, due).await?;

    let count = options.count;
    let all_delivered = delivered.first_after_due.len() == count;
    let all_confirmed = confirmed_after_due.len() == count;
    let wait = f64::from(u32::try_from(options.wait_secs).unwrap_or(u32::MAX));
    // An incomplete run is reported at the deadline, which fails the target either way.
    let placed_within = if all_delivered {
        quantile(&delivered.first_after_due, 1.0)
    } else {
        wait
    };
    let confirmed_within = if all_confirmed {
        quantile(&confirmed_after_due, 1.0)
    } else {
        wait
    };
    let mut report = String::new();
    writeln!(
        report,
        "{count} {channel:?} reminders due at {}",
        due.to_rfc3339_opts(SecondsFormat::Millis, true)
    )?;
    writeln!(
        report,
        "  {noun}s handed to carrier-sim: {} of {count}; seconds after T: first {:.2}, p50 {:.2}, p99 {:.2}, last {:.2}",
        delivered.first_after_due.len(),
        quantile(&delivered.first_after_due, 0.0),
        quantile(&delivered.first_after_due, 0.5),
        quantile(&delivered.first_after_due, 0.99),
        quantile(&delivered.first_after_due, 1.0),
    )?;
    writeln!(
        report,
        "  appointments confirmed: {} of {count}; seconds after T: first {:.2}, p50 {:.2}, p99 {:.2}, last {:.2}",
        confirmed_after_due.len(),
        quantile(&confirmed_after_due, 0.0),
        quantile(&confirmed_after_due, 0.5),
        quantile(&confirmed_after_due, 0.99),
        quantile(&confirmed_after_due, 1.0),
    )?;
    if !others.is_empty() {
        writeln!(report, "  not confirmed, by status: {others:?}")?;
    }
    writeln!(
        report,
        "  duplicate {noun}s (simulator's record): {}; {noun}s to numbers not booked here: {}",
        delivered.duplicates, delivered.strangers
    )?;
    if delivered.failed_calls > 0 {
        writeln!(
            report,
            "  calls the simulator ended early: {} (first: {})",
            delivered.failed_calls,
            delivered.failure_sample.as_deref().unwrap_or("")
        )?;
    }

    std::io::stdout()
        .lock()
        .write_all(report.as_bytes())
        .context("failed to print the results")?;

    if let Some(path) = &options.results {
        let (placed_label, confirmed_label, duplicates_label) = match channel {
            Channel::Voice => (
                "calls placed within (from the due time)",
                "appointments confirmed within (from the due time)",
                "duplicate calls",
            ),
            Channel::Sms => (
                "SMS handed to the simulator within (from the due time)",
                "Yes replies applied within (from the due time)",
                "duplicate reminder texts",
            ),
        };
        #[expect(clippy::cast_precision_loss, reason = "counts far below 2^53")]
        let rows = vec![
            Row::new(
                goal.item,
                format!("{placed_label}, {count} reminders"),
                placed_within,
                "s",
                Target::AtMost(goal.placed_within),
            ),
            Row::new(
                goal.item,
                format!("{confirmed_label}, {count} reminders"),
                confirmed_within,
                "s",
                Target::AtMost(goal.confirmed_within),
            ),
            Row::new(
                goal.item,
                duplicates_label,
                delivered.duplicates as f64,
                "",
                Target::AtMost(0.0),
            ),
            Row::new(
                goal.item,
                "appointments confirmed",
                confirmed_after_due.len() as f64,
                "",
                Target::AtLeast(count as f64),
            ),
        ];
        results::append(path, &rows)?;
    }
    Ok(all_delivered && all_confirmed)
}

/// How long booking-service's consumed-event count must stay still before a status pass.
const QUIET_FOR: Duration = Duration::from_secs(1);

/// Waits until booking-service's consumed-event count has not moved for [`QUIET_FOR`], or
/// until `deadline`. An unreadable `/metrics` ends the wait: the pass then simply runs.
async fn wait_until_quiet(clients: &Clients, deadline: DateTime<Utc>) {
    let Ok(mut last) = clients.booking_events_consumed().await else {
        return;
    };
    let mut still_since = std::time::Instant::now();
    while Utc::now() < deadline && still_since.elapsed() < QUIET_FOR {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let Ok(now) = clients.booking_events_consumed().await else {
            return;
        };
        if now != last {
            last = now;
            still_since = std::time::Instant::now();
        }
    }
}

/// Sums the `attend_events_consumed_total` samples of a Prometheus text exposition.
fn events_consumed(exposition: &str) -> u64 {
    exposition
        .lines()
        .filter(|line| line.starts_with("attend_events_consumed_total"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|value| {
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "a counter: a whole, non-negative number"
            )]
            let count = value as u64;
            count
        })
        .sum()
}

#[cfg(test)]
mod tests {
    #[test]
    fn consumed_events_are_summed_over_queues_and_results() {
        let exposition = "# HELP attend_events_consumed Events delivered, by result\n\
            # TYPE attend_events_consumed counter\n\
            attend_events_consumed_total{queue=\"booking.reminder-events\",result=\"applied\"} 1200\n\
            attend_events_consumed_total{queue=\"booking.reminder-events\",result=\"duplicate\"} 3\n\
            attend_events_published_total{routing_key=\"appointment.scheduled\"} 99\n";
        assert_eq!(super::events_consumed(exposition), 1203);
    }

    use super::*;

    #[test]
    fn recipients_are_distinct_and_end_in_one() {
        let numbers: std::collections::HashSet<String> = (0..20_000).map(recipient).collect();
        assert_eq!(numbers.len(), 20_000);
        assert!(numbers.iter().all(|number| number.ends_with('1')));
        assert!(numbers.iter().all(|number| number.len() == 12));
        assert_eq!(recipient(0), "+12012000001");
        assert_eq!(recipient(1234), "+12012012341");
        assert!(probe_recipient(5).ends_with('0'));
    }

    #[test]
    fn quantiles_pick_from_sorted_values() {
        let values = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!((quantile(&values, 0.0) - 1.0).abs() < f64::EPSILON);
        assert!((quantile(&values, 0.5) - 3.0).abs() < f64::EPSILON);
        assert!((quantile(&values, 1.0) - 5.0).abs() < f64::EPSILON);
        assert!(quantile(&[], 0.5).is_nan());
    }
}
