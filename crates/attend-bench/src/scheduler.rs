//! `attend-bench scheduler`: items 3 and 4 of docs/benchmarks.md, the reminder-scheduler's
//! dispatcher and outbox relay under load.
//!
//! The jobs are seeded straight into the scheduler's schema with one `INSERT … SELECT
//! generate_series` per table (the scheduler must have run its migrations, i.e. be running):
//! storing a million jobs through `appointment.scheduled` events would measure the consumer,
//! not the dispatcher. A queue of our own, bound to `reminder.due.*` on the service's events
//! exchange, receives every reminder the relay publishes; each one is timed on arrival and
//! its `due_at` read from the event itself.
//!
//! - `burst`: `--reminders` jobs due in the same second; measured until every one arrived and
//!   the outbox is empty (the relay deletes a row only after the broker confirmed it).
//! - `steady`: `--rate` jobs due per second, spread evenly over each second, for
//!   `--duration-secs`, on top of `--future-jobs` jobs due 1 to 31 days from now; the lag from
//!   each job's due time to its arrival, in an HDR histogram.
//!
//! Every measured job has an id that encodes its number, so the receiver can tell a duplicate
//! or a job that should not have fired (a future one) from a loss.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use attend_events::v1;
use futures_util::StreamExt as _;
use hdrhistogram::Histogram;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use prost::Message as _;
use tokio_postgres::{Client, NoTls};

use crate::args::number;
use crate::results::{self, Row, Target};

/// The usage text of `attend-bench scheduler`, part of `attend-bench --help`.
pub const USAGE: &str = "\
Usage: attend-bench scheduler --mode burst|steady --database-url URL --amqp-url URL [options]

Benchmarks a running reminder-scheduler (items 3 and 4): seeds jobs straight into its schema,
receives every reminder.due it publishes on a queue of its own, and measures
  burst   --reminders jobs due in the same second: seconds until all were published and
          confirmed (all received, outbox empty)
  steady  --rate jobs due per second for --duration-secs over --future-jobs future jobs:
          lag from due time to arrival, p50/p99/p99.9/max
and checks that every job fired exactly once and no future job fired.

Options:
  --mode burst|steady    which measurement (required)
  --database-url URL     the scheduler's database (required)
  --schema NAME          the scheduler's schema (default scheduler)
  --amqp-url URL         the broker (required)
  --amqp-prefix PREFIX   the scheduler's AMQP_PREFIX (default empty)
  --queue-type TYPE      quorum (default, as the channels' queues) or classic
  --reminders N          burst: jobs due at once (default 100000)
  --rate N               steady: jobs due per second (default 1000)
  --duration-secs S      steady: seconds of due jobs (default 300)
  --future-jobs N        steady: jobs due 1 to 31 days from now (default 1000000)
  --lead-ms MS           time from the end of seeding to the first due time (default 2000)
  --timeout-secs S       give up this long after the last due time (default 120)
  --explain-out PATH     write EXPLAIN (ANALYZE, BUFFERS) of the dispatcher's claim there
  --results PATH         append the figures as rows of scripts/bench's table (TSV)
";

/// The dispatcher's claim, as `crates/reminder-scheduler/src/jobs.rs` sends it.
const CLAIM_QUERY: &str = "SELECT * FROM reminder_jobs WHERE status = 'pending' AND due_at <= now() \
     ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED";

/// Which measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Item 3: many jobs due in one second.
    Burst,
    /// Item 4: a steady rate over many future jobs.
    Steady,
}

/// Options of `attend-bench scheduler`.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerOptions {
    /// Burst or steady.
    pub mode: Mode,
    /// The scheduler's database.
    pub database_url: String,
    /// The scheduler's schema.
    pub schema: String,
    /// The broker.
    pub amqp_url: String,
    /// The scheduler's `AMQP_PREFIX`.
    pub amqp_prefix: String,
    /// Whether the receiving queue is a quorum queue (else classic).
    pub quorum_queue: bool,
    /// Burst: jobs due at once.
    pub reminders: u64,
    /// Steady: jobs due per second.
    pub rate: u64,
    /// Steady: seconds of due jobs.
    pub duration_secs: u64,
    /// Steady: jobs due 1 to 31 days from now.
    pub future_jobs: u64,
    /// From the end of seeding to the first due time.
    pub lead: Duration,
    /// How long after the last due time to wait for stragglers.
    pub timeout: Duration,
    /// Where to write the claim's query plan.
    pub explain_out: Option<PathBuf>,
    /// The results file of `scripts/bench`.
    pub results: Option<PathBuf>,
}

/// Reads the `--name value` pairs of `attend-bench scheduler`.
pub fn parse_options(pairs: &[(String, String)]) -> anyhow::Result<SchedulerOptions> {
    let mut options = SchedulerOptions {
        mode: Mode::Burst,
        database_url: String::new(),
        schema: "scheduler".to_owned(),
        amqp_url: String::new(),
        amqp_prefix: String::new(),
        quorum_queue: true,
        reminders: 100_000,
        rate: 1_000,
        duration_secs: 300,
        future_jobs: 1_000_000,
        lead: Duration::from_millis(2_000),
        timeout: Duration::from_secs(120),
        explain_out: None,
        results: None,
    };
    let mut mode_given = false;
    for (name, value) in pairs {
        let name = name.as_str();
        match name {
            "--mode" => {
                options.mode = match value.as_str() {
                    "burst" => Mode::Burst,
                    "steady" => Mode::Steady,
                    other => bail!("--mode must be burst or steady, got {other:?}"),
                };
                mode_given = true;
            }
            "--database-url" => options.database_url.clone_from(value),
            "--schema" => options.schema.clone_from(value),
            "--amqp-url" => options.amqp_url.clone_from(value),
            "--amqp-prefix" => options.amqp_prefix.clone_from(value),
            "--queue-type" => {
                options.quorum_queue = match value.as_str() {
                    "quorum" => true,
                    "classic" => false,
                    other => bail!("--queue-type must be quorum or classic, got {other:?}"),
                }
            }
            "--reminders" => options.reminders = number(name, value)?,
            "--rate" => options.rate = number(name, value)?,
            "--duration-secs" => options.duration_secs = number(name, value)?,
            "--future-jobs" => options.future_jobs = number(name, value)?,
            "--lead-ms" => options.lead = Duration::from_millis(number(name, value)?),
            "--timeout-secs" => options.timeout = Duration::from_secs(number(name, value)?),
            "--explain-out" => options.explain_out = Some(PathBuf::from(value)),
            "--results" => options.results = Some(PathBuf::from(value)),
            other => bail!("unknown option {other:?}"),
        }
    }
    if !mode_given {
        bail!("--mode burst|steady is required");
    }
    if options.database_url.is_empty() || options.amqp_url.is_empty() {
        bail!("--database-url and --amqp-url are required");
    }
    // The schema name is written into SQL (search_path), so only a plain identifier passes.
    if options.schema.is_empty()
        || !options
            .schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        bail!("--schema must be a plain lowercase identifier");
    }
    if options.reminders == 0 || options.rate == 0 || options.duration_secs == 0 {
        bail!("--reminders, --rate and --duration-secs must be at least 1");
    }
    // Ids encode the job's number in 48 bits; the bitmap of arrivals is one byte per job.
    if options.measured_jobs() > 50_000_000 || options.future_jobs > 50_000_000 {
        bail!("at most 50,000,000 measured and 50,000,000 future jobs");
    }
    Ok(options)
}

impl SchedulerOptions {
    /// Returns how many jobs are measured (fire during the run).
    fn measured_jobs(&self) -> u64 {
        match self.mode {
            Mode::Burst => self.reminders,
            Mode::Steady => self.rate.saturating_mul(self.duration_secs),
        }
    }

    /// Returns the spacing of the measured due times in microseconds (0: all at once).
    fn due_step_micros(&self) -> u64 {
        match self.mode {
            Mode::Burst => 0,
            Mode::Steady => 1_000_000 / self.rate,
        }
    }

    /// Returns the future jobs to seed.
    fn future_jobs(&self) -> u64 {
        match self.mode {
            Mode::Burst => 0,
            Mode::Steady => self.future_jobs,
        }
    }
}

/// The first group of the id of a measured job; future jobs use [`FUTURE_KIND`].
const MEASURED_KIND: u32 = 1;
const FUTURE_KIND: u32 = 2;

/// The SQL expression of the id of job `i` of `kind`: `0000000k-0000-4000-8000-<i in hex>`.
fn id_sql(kind: u32) -> String {
    format!(
        "(lpad(to_hex({kind}), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid"
    )
}

/// Returns `(kind, number)` of an id written by [`id_sql`], `None` for any other id.
fn parse_id(id: &str) -> Option<(u32, u64)> {
    let (kind, rest) = id.split_once('-')?;
    let number = rest.strip_prefix("0000-4000-8000-")?;
    Some((
        u32::from_str_radix(kind, 16).ok()?,
        u64::from_str_radix(number, 16).ok()?,
    ))
}

/// Prints one line of progress or results.
fn say(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
        })
}

/// Returns an IANA zone whose local time is about 14:00 now, so that the default calling
/// window (08:00-21:00 in the recipient's zone) stays open for the whole run and the
/// dispatcher sends every job rather than deferring it.
fn zone_inside_calling_window() -> String {
    let utc_hour = i64::try_from((now_micros() / 3_600_000_000) % 24).unwrap_or(0);
    let mut offset = 14 - utc_hour;
    if offset < -12 {
        offset += 24;
    }
    // Etc/GMT signs are inverted (POSIX): Etc/GMT-3 is three hours ahead of UTC.
    match offset {
        0 => "Etc/UTC".to_owned(),
        ahead if ahead > 0 => format!("Etc/GMT-{ahead}"),
        behind => format!("Etc/GMT+{}", -behind),
    }
}

async fn connect_database(options: &SchedulerOptions) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(&options.database_url, NoTls)
        .await
        .context("failed to connect to the scheduler's database")?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            eprintln!("attend-bench: database connection closed: {error}");
        }
    });
    client
        .batch_execute(&format!("SET search_path TO {}, public", options.schema))
        .await
        .context("failed to set the search path")?;
    Ok(client)
}

/// Inserts `count` appointments and their jobs of `kind`, job `i` due at
/// `first_due_micros + i * step_micros` (Unix microseconds), in one transaction.
async fn seed(
    client: &Client,
    kind: u32,
    count: u64,
    first_due_micros: u64,
    step_micros: f64,
    time_zone: &str,
) -> anyhow::Result<()> {
    if count == 0 {
        return Ok(());
    }
    let id = id_sql(kind);
    let due = format!(
        "('epoch'::timestamptz + ({first_due_micros}::float8 + i * {step_micros}::float8) * interval '1 microsecond')"
    );
    // One tenant without stored policy: the defaults apply (08:00-21:00, the recipient's
    // zone). The phone numbers are the fictional 201-555-01xx range.
    let sql = format!(
        "BEGIN;
         INSERT INTO appointments (appointment_id, tenant_id, start, status)
         SELECT {id}, '00000000-0000-4000-8000-00000000be7c', {due} + interval '1 day', 'active'
         FROM generate_series(0, {last}::bigint) AS i;
         INSERT INTO reminder_jobs (reminder_id, appointment_id, tenant_id, channel, due_at,
             recipient_name, recipient_phone, recipient_locale, recipient_time_zone,
             business_name, appointment_start, location, participant, business_time_zone)
         SELECT {id}, {id}, '00000000-0000-4000-8000-00000000be7c',
             CASE WHEN i % 2 = 0 THEN 'sms' ELSE 'voice' END, {due},
             'Bench Recipient ' || i, '+1201555' || lpad((100 + i % 100)::text, 4, '0'), 'en',
             '{time_zone}', 'Bench Clinic', {due} + interval '1 day', 'Main St 1', 'Dr. Bench',
             'Europe/Berlin'
         FROM generate_series(0, {last}::bigint) AS i;
         COMMIT;",
        last = count - 1,
    );
    client
        .batch_execute(&sql)
        .await
        .with_context(|| format!("failed to seed {count} jobs"))
}

/// What the receiver saw.
struct Arrivals {
    /// Lag from due time to arrival, microseconds.
    lag: Histogram<u64>,
    /// Per 10 s of due time: the lag histogram, to show drift.
    windows: Vec<Histogram<u64>>,
    /// Arrival of the first and last measured job (Unix microseconds).
    first_arrival: u64,
    last_arrival: u64,
    distinct: u64,
    duplicates: u64,
    /// Reminders that are not measured jobs (a future job fired, or a foreign id).
    unexpected: u64,
}

/// Declares our queue on the service's events exchange and binds it to `reminder.due.*`.
async fn bind_receiver(options: &SchedulerOptions) -> anyhow::Result<(Connection, String)> {
    let connection = Connection::connect(&options.amqp_url, ConnectionProperties::default())
        .await
        .context("failed to connect to rabbitmq")?;
    let channel = connection
        .create_channel()
        .await
        .context("failed to open an amqp channel")?;
    let exchange = format!("{}{}", options.amqp_prefix, attend_events::EVENTS_EXCHANGE);
    channel
        .exchange_declare(
            exchange.as_str().into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                passive: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("exchange {exchange} does not exist (wrong --amqp-prefix?)"))?;
    let queue = format!("{}bench.reminders-due", options.amqp_prefix);
    let mut arguments = FieldTable::default();
    let declare = if options.quorum_queue {
        // A durable quorum queue, as voice-gateway's and sms-service's: the broker confirms a
        // message only after its Raft log holds it, which is what a deployment pays.
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        }
    } else {
        QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..QueueDeclareOptions::default()
        }
    };
    channel
        .queue_declare(queue.as_str().into(), declare, arguments)
        .await
        .with_context(|| format!("failed to declare {queue}"))?;
    channel
        .queue_bind(
            queue.as_str().into(),
            exchange.as_str().into(),
            "reminder.due.*".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("failed to bind {queue} to {exchange}"))?;
    Ok((connection, queue))
}

/// Consumes `queue` until `expected` measured jobs arrived and then `settle` passed (to catch
/// late duplicates), or until `deadline`. `first_due_micros` starts the 10 s windows.
async fn receive(
    connection: &Connection,
    queue: &str,
    expected: u64,
    first_due_micros: u64,
    deadline: Instant,
    settle: Duration,
    progress: Arc<AtomicU64>,
) -> anyhow::Result<Arrivals> {
    let channel = connection
        .create_channel()
        .await
        .context("failed to open the consuming channel")?;
    channel
        .basic_qos(2_000, BasicQosOptions::default())
        .await
        .context("failed to set prefetch")?;
    let mut deliveries = channel
        .basic_consume(
            queue.into(),
            "attend-bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .context("failed to consume")?;
    let mut seen = vec![false; usize::try_from(expected).context("too many jobs")?];
    let new_histogram = || Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3);
    let mut arrivals = Arrivals {
        lag: new_histogram().context("histogram")?,
        windows: Vec::new(),
        first_arrival: 0,
        last_arrival: 0,
        distinct: 0,
        duplicates: 0,
        unexpected: 0,
    };
    let mut unacked = 0_u32;
    let mut stop_at = deadline;
    loop {
        let next = tokio::time::timeout_at(stop_at.into(), deliveries.next()).await;
        let delivery = match next {
            Err(_elapsed) => break,
            Ok(None) => bail!("the broker closed the consumer"),
            Ok(Some(delivery)) => delivery.context("delivery failed")?,
        };
        let arrived = now_micros();
        unacked += 1;
        // Acknowledge in groups: one ack per delivery would cost the receiver more than the
        // service it measures.
        if unacked >= 500 {
            delivery
                .acker
                .ack(BasicAckOptions { multiple: true })
                .await
                .context("failed to ack")?;
            unacked = 0;
        }
        let Ok(event) = v1::ReminderDue::decode(delivery.data.as_slice()) else {
            arrivals.unexpected += 1;
            continue;
        };
        let slot = match parse_id(&event.reminder_id) {
            Some((MEASURED_KIND, number)) if number < expected => usize::try_from(number).ok(),
            _ => None,
        };
        let Some(slot) = slot else {
            arrivals.unexpected += 1;
            continue;
        };
        if seen[slot] {
            arrivals.duplicates += 1;
            continue;
        }
        seen[slot] = true;
        arrivals.distinct += 1;
        progress.store(arrivals.distinct, Ordering::Relaxed);
        let due_micros = event.due_at.map_or(0, |due| {
            u64::try_from(due.seconds).unwrap_or(0) * 1_000_000
                + u64::try_from(due.nanos / 1_000).unwrap_or(0)
        });
        let lag = arrived.saturating_sub(due_micros).max(1);
        arrivals.lag.saturating_record(lag);
        let window =
            usize::try_from(due_micros.saturating_sub(first_due_micros) / 10_000_000).unwrap_or(0);
        while arrivals.windows.len() <= window {
            arrivals.windows.push(new_histogram().context("histogram")?);
        }
        arrivals.windows[window].saturating_record(lag);
        if arrivals.first_arrival == 0 {
            arrivals.first_arrival = arrived;
        }
        arrivals.last_arrival = arrived;
        if arrivals.distinct == expected {
            stop_at = Instant::now() + settle;
        }
    }
    let _ = channel.close(200, "benchmark done".into()).await;
    Ok(arrivals)
}

/// When the outbox was first seen empty after every measured job arrived, polled every
/// 20 ms: the relay deletes an outbox row only after the broker confirmed its event, so that
/// instant bounds "all published and confirmed". (A job that arrived was dispatched, so no
/// measured job is still pending then.) The outbox is only counted once everything arrived:
/// counting a table of 100,000 rows 50 times a second would load the machine it measures.
async fn watch_drained(
    client: &Client,
    expected: u64,
    progress: Arc<AtomicU64>,
    deadline: Instant,
) -> anyhow::Result<Option<u64>> {
    let statement = client
        .prepare("SELECT count(*) FROM outbox")
        .await
        .context("failed to prepare the drain check")?;
    while Instant::now() < deadline {
        if progress.load(Ordering::Relaxed) >= expected {
            let row = client
                .query_one(&statement, &[])
                .await
                .context("failed to read the outbox")?;
            let checked_at = now_micros();
            let outbox: i64 = row.get(0);
            if outbox == 0 {
                return Ok(Some(checked_at));
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(None)
}

/// Runs the claim query under EXPLAIN (ANALYZE, BUFFERS), inside a transaction that is
/// rolled back (the claim locks what it finds), both as the dispatcher's prepared statement
/// would be planned generically and with the limit as a constant.
async fn explain_claim(client: &Client, path: &PathBuf, batch: i64) -> anyhow::Result<()> {
    let mut text = String::new();
    let counts = client
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE status = 'pending'), \
             count(*) FILTER (WHERE status = 'pending' AND due_at <= now()) FROM reminder_jobs",
            &[],
        )
        .await
        .context("failed to count jobs")?;
    let (all, pending, due): (i64, i64, i64) = (counts.get(0), counts.get(1), counts.get(2));
    text.push_str(&format!(
        "-- reminder_jobs: {all} rows, {pending} pending, {due} of them due now\n"
    ));
    client
        .batch_execute(&format!(
            "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan; \
             PREPARE bench_claim(bigint) AS {CLAIM_QUERY};"
        ))
        .await
        .context("failed to prepare the claim")?;
    let plans = [
        (
            "-- the dispatcher's prepared statement, generic plan (plan_cache_mode = force_generic_plan)",
            format!("EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_claim({batch})"),
        ),
        (
            "-- the same query with the limit written out",
            format!(
                "EXPLAIN (ANALYZE, BUFFERS) {}",
                CLAIM_QUERY.replace("$1", &batch.to_string())
            ),
        ),
    ];
    let mut outcome = Ok(());
    for (title, sql) in plans {
        match client.simple_query(&sql).await {
            Ok(messages) => {
                text.push_str(title);
                text.push('\n');
                for message in messages {
                    if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
                        text.push_str(row.get(0).unwrap_or_default());
                        text.push('\n');
                    }
                }
            }
            Err(error) => {
                outcome = Err(anyhow::Error::new(error).context("EXPLAIN of the claim failed"));
                break;
            }
        }
    }
    client
        .batch_execute("ROLLBACK; DEALLOCATE ALL")
        .await
        .context("failed to roll back the EXPLAIN")?;
    outcome?;
    std::fs::write(path, &text).with_context(|| format!("failed to write {}", path.display()))?;
    say(text.trim_end());
    Ok(())
}

/// Runs the benchmark; returns whether every job fired exactly once and nothing else fired.
pub async fn run(options: SchedulerOptions) -> anyhow::Result<bool> {
    let client = connect_database(&options).await?;
    let (connection, queue) = bind_receiver(&options).await?;
    let measured = options.measured_jobs();
    let time_zone = zone_inside_calling_window();
    let mode = match options.mode {
        Mode::Burst => "burst",
        Mode::Steady => "steady",
    };
    say(&format!(
        "scheduler {mode}: {measured} measured jobs, {} future jobs, recipient zone {time_zone}, {} queue {queue}",
        options.future_jobs(),
        if options.quorum_queue {
            "quorum"
        } else {
            "classic"
        }
    ));

    let seeding = Instant::now();
    let day_micros = 86_400_000_000_u64;
    let future = options.future_jobs();
    if future > 0 {
        // Due 1 to 31 days from now, evenly: far enough to never fire during the run.
        let step = (30 * day_micros) as f64 / future as f64;
        seed(
            &client,
            FUTURE_KIND,
            future,
            now_micros() + day_micros,
            step,
            &time_zone,
        )
        .await?;
        client
            .batch_execute("ANALYZE reminder_jobs; ANALYZE appointments")
            .await
            .context("failed to analyze")?;
        say(&format!(
            "seeded {future} future jobs in {:.1} s",
            seeding.elapsed().as_secs_f64()
        ));
    }
    // The measured jobs must all be committed before the first of them is due; their insert
    // is estimated at 40,000 rows/s (both tables) on a 2-core machine, plus --lead-ms.
    let estimate_micros = measured * 25;
    let first_due_micros = {
        let earliest = now_micros()
            + estimate_micros
            + u64::try_from(options.lead.as_micros()).unwrap_or(u64::MAX);
        // Burst: a whole second, as "due in the same second" reads.
        match options.mode {
            Mode::Burst => earliest.div_ceil(1_000_000) * 1_000_000,
            Mode::Steady => earliest,
        }
    };
    let step = options.due_step_micros();
    let measured_seeding = Instant::now();
    seed(
        &client,
        MEASURED_KIND,
        measured,
        first_due_micros,
        step as f64,
        &time_zone,
    )
    .await?;
    let committed = now_micros();
    say(&format!(
        "seeded {measured} measured jobs in {:.1} s; the first is due {:.2} s after the commit",
        measured_seeding.elapsed().as_secs_f64(),
        (first_due_micros as f64 - committed as f64) / 1e6
    ));
    if committed > first_due_micros {
        bail!(
            "seeding ended {:.2} s after the first due time: raise --lead-ms",
            (committed - first_due_micros) as f64 / 1e6
        );
    }
    let last_due_micros = first_due_micros + step * measured.saturating_sub(1);
    let last_due_in = Duration::from_micros(last_due_micros.saturating_sub(now_micros()));
    let deadline = Instant::now() + last_due_in + options.timeout;

    let progress = Arc::new(AtomicU64::new(0));
    let receiver = {
        let progress = progress.clone();
        let queue = queue.clone();
        let connection_for_receiver = connection;
        tokio::spawn(async move {
            let arrivals = receive(
                &connection_for_receiver,
                &queue,
                measured,
                first_due_micros,
                deadline,
                Duration::from_secs(2),
                progress,
            )
            .await;
            (connection_for_receiver, arrivals)
        })
    };
    let drained_at = watch_drained(&client, measured, progress, deadline).await?;
    let (connection, arrivals) = receiver.await.context("the receiver panicked")?;
    let arrivals = arrivals?;
    let _ = connection.close(200, "benchmark done".into()).await;

    let lost = measured - arrivals.distinct;
    let seconds = |micros: u64| micros.saturating_sub(first_due_micros) as f64 / 1e6;
    let millis = |micros: u64| micros as f64 / 1000.0;
    let mut rows = Vec::new();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "received {} of {measured} distinct, {} duplicates, {} unexpected, {lost} lost",
        arrivals.distinct, arrivals.duplicates, arrivals.unexpected
    );
    match options.mode {
        Mode::Burst => {
            let drained = drained_at.map(seconds);
            let _ = writeln!(
                out,
                "first arrival {:.3} s after the due second, last {:.3} s, outbox empty at {}",
                seconds(arrivals.first_arrival),
                seconds(arrivals.last_arrival),
                drained.map_or("never".to_owned(), |s| format!("{s:.3} s"))
            );
            let label = format!("burst: {measured} reminders due in one second");
            let last = seconds(arrivals.last_arrival);
            rows.push(Row::new(
                3,
                format!("{label}, all published and confirmed"),
                drained.unwrap_or(f64::INFINITY),
                "s",
                Target::AtMost(30.0),
            ));
            rows.push(Row::new(
                3,
                format!("{label}, last received"),
                last,
                "s",
                Target::None,
            ));
            if let Some(drained) = drained.filter(|s| *s > 0.0) {
                rows.push(Row::new(
                    3,
                    "burst: reminders published per second",
                    measured as f64 / drained,
                    "/s",
                    Target::None,
                ));
            }
            rows.push(Row::new(
                3,
                "burst: reminders lost or doubled",
                (lost + arrivals.duplicates + arrivals.unexpected) as f64,
                "",
                Target::AtMost(0.0),
            ));
        }
        Mode::Steady => {
            let lag = &arrivals.lag;
            let _ = writeln!(
                out,
                "lag due -> received: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms, max {:.1} ms",
                millis(lag.value_at_quantile(0.5)),
                millis(lag.value_at_quantile(0.9)),
                millis(lag.value_at_quantile(0.99)),
                millis(lag.value_at_quantile(0.999)),
                millis(lag.max())
            );
            let _ = writeln!(out, "per 10 s of due time: p50 / p99 / max ms");
            for (index, window) in arrivals.windows.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "  {:>4}-{:<4} s  {:>8.1} {:>8.1} {:>8.1}  ({} jobs)",
                    index * 10,
                    index * 10 + 10,
                    millis(window.value_at_quantile(0.5)),
                    millis(window.value_at_quantile(0.99)),
                    millis(window.max()),
                    window.len()
                );
            }
            let label = format!(
                "steady: {}/s for {} s over {} future jobs",
                options.rate, options.duration_secs, options.future_jobs
            );
            rows.push(Row::new(
                4,
                format!("{label}, lag p50"),
                millis(lag.value_at_quantile(0.5)),
                "ms",
                Target::AtMost(100.0),
            ));
            rows.push(Row::new(
                4,
                format!("{label}, lag p99"),
                millis(lag.value_at_quantile(0.99)),
                "ms",
                Target::AtMost(1000.0),
            ));
            rows.push(Row::new(
                4,
                "steady: lag max",
                millis(lag.max()),
                "ms",
                Target::None,
            ));
            rows.push(Row::new(
                4,
                "steady: reminders lost or doubled",
                (lost + arrivals.duplicates + arrivals.unexpected) as f64,
                "",
                Target::AtMost(0.0),
            ));
        }
    }
    drop(out);
    if let Some(path) = &options.explain_out {
        explain_claim(&client, path, 500).await?;
    }
    if let Some(path) = &options.results {
        results::append(path, &rows)?;
    }
    Ok(lost == 0 && arrivals.duplicates == 0 && arrivals.unexpected == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        text.split_whitespace()
            .collect::<Vec<_>>()
            .chunks(2)
            .map(|pair| {
                (
                    pair[0].to_owned(),
                    pair.get(1).copied().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn ids_round_trip_through_their_text() {
        assert_eq!(
            parse_id("00000001-0000-4000-8000-0000000186a0"),
            Some((1, 100_000))
        );
        assert_eq!(parse_id("0191f3c2-7d1e-7000-8000-000000000001"), None);
    }

    #[test]
    fn options_need_a_mode_and_both_urls() {
        let options = parse_options(&pairs(
            "--mode steady --database-url postgres://x --amqp-url amqp://y --rate 10 --duration-secs 3",
        ))
        .unwrap();
        assert_eq!(options.mode, Mode::Steady);
        assert_eq!(options.measured_jobs(), 30);
        assert_eq!(options.due_step_micros(), 100_000);
        assert!(parse_options(&pairs("--database-url postgres://x --amqp-url amqp://y")).is_err());
        assert!(
            parse_options(&pairs(
                "--mode burst --database-url postgres://x --amqp-url amqp://y --schema a;b"
            ))
            .is_err()
        );
    }

    #[test]
    fn the_chosen_zone_parses() {
        let zone = zone_inside_calling_window();
        assert!(zone.parse::<chrono_tz::Tz>().is_ok(), "{zone}");
    }
}
