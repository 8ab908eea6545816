//! Command-line arguments, parsed by hand (`--name value` or `--name=value`).

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, bail};

/// The usage text of `attend-bench --help`.
pub const USAGE: &str = "\
Usage: attend-bench voicebot --url URL --admin-token TOKEN [options]
       attend-bench e2e --channel voice|sms --url URL --sim-url URL [options]
       attend-bench create --url URL --admin-token TOKEN [options]   (see create --help)

Benchmarks the voicebot webhook of a running booking-service (POST /voicebot/webhook):
creates a tenant, an entity, an appointment type, a product and --agents agents through the
API, books --occupancy of every slot of the next --days days, then measures
  phase A  getSlots         (half for one agent, half for any agent)
  phase B  bookAppointment  (each client books distinct free slots: no conflicts by design)
with --clients concurrent clients for --duration-secs each (getSlots after a 3 s warm-up),
and prints requests, throughput and latency percentiles per phase.

Options:
  --url URL              booking-service base URL, e.g. http://127.0.0.1:18080 (required)
  --admin-token TOKEN    its ADMIN_TOKEN (default: $ADMIN_TOKEN)
  --clients N            concurrent clients (default 32)
  --duration-secs S      measured seconds per phase (default 30)
  --warmup-secs S        unrecorded getSlots seconds before phase A (default 3)
  --agents N             agents of the entity (default 20)
  --days N               days of bookings, starting tomorrow (default 60)
  --occupancy F          share of slots booked before measuring, 0..=1 (default 0.8)
  --seed N               seed of every random choice (default 42)
  --json-out PATH        also write the results as JSON to PATH
  --results PATH         append the figures as rows of scripts/bench's table (TSV)
  --amqp-url URL         bind a sink queue for the service's events on this broker, as
                         their consumers would (without it, RabbitMQ returns the events as
                         unroutable and the service's outbox keeps retrying them)
  --amqp-prefix PREFIX   the service's AMQP_PREFIX (default empty)
  -h, --help             show this help

attend-bench e2e: reminders end to end through every service (items 5 and 6). Books --count
appointments through booking-service (POST /v1/appointments), each with one reminder on
--channel due at the same instant T, to numbers carrier-sim's default callee answers with 1
(voice) or \"Yes\" (SMS). T is set after a probe measures how fast booking-service books.
From T it reads the simulator's record (when each call was placed or text accepted; calls
or reminder texts per number) and booking-service's (each appointment's status and
status_changed_at).

Options of e2e:
  --channel voice|sms    the reminders' channel (required)
  --url URL              booking-service base URL (required)
  --sim-url URL          carrier-sim base URL (required)
  --admin-token TOKEN    booking-service's ADMIN_TOKEN (default: $ADMIN_TOKEN)
  --count N              reminders (default 10000)
  --clients N            concurrent bookings during setup (default 32)
  --lead-secs S          extra seconds between the planned end of setup and T (default 5)
  --wait-secs S          seconds after T to wait for every confirmation (default 120)
  --results PATH         append the figures as rows of scripts/bench's table (TSV)
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Print the usage.
    Help,
    /// Benchmark the voicebot webhook.
    Voicebot(VoicebotOptions),
    /// Benchmark reminders end to end.
    E2e(E2eOptions),
    /// Print the usage of `create`.
    CreateHelp,
    /// Benchmark booking creation (`POST /v1/appointments`).
    Create(crate::create::CreateOptions),
    /// Benchmark reminder-scheduler's dispatcher and outbox relay.
    Scheduler(crate::scheduler::SchedulerOptions),
}

/// The channel of the reminders of `attend-bench e2e`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Voice calls, answered by pressing 1.
    Voice,
    /// SMS, answered "Yes".
    Sms,
}

/// Options of `attend-bench e2e`.
#[derive(Debug, Clone, PartialEq)]
pub struct E2eOptions {
    /// The reminders' channel.
    pub channel: Channel,
    /// Base URL of booking-service, without a trailing slash.
    pub url: String,
    /// Base URL of carrier-sim, without a trailing slash.
    pub sim_url: String,
    /// booking-service's operator token.
    pub admin_token: String,
    /// Reminders due at once.
    pub count: usize,
    /// Concurrent bookings during setup.
    pub clients: usize,
    /// Extra seconds between the planned end of setup and the due time.
    pub lead_secs: u64,
    /// Seconds after the due time to wait for every confirmation.
    pub wait_secs: u64,
    /// The results file of `scripts/bench` to append the rows to.
    pub results: Option<PathBuf>,
}

/// Options of `attend-bench voicebot`.
#[derive(Debug, Clone, PartialEq)]
pub struct VoicebotOptions {
    /// Base URL of booking-service, without a trailing slash.
    pub url: String,
    /// Its operator token.
    pub admin_token: String,
    /// Concurrent clients.
    pub clients: usize,
    /// Measured seconds per phase.
    pub duration_secs: u64,
    /// Unrecorded seconds of getSlots before phase A.
    pub warmup_secs: u64,
    /// Agents of the entity.
    pub agents: usize,
    /// Days of bookings, starting tomorrow.
    pub days: usize,
    /// Share of slots booked before measuring.
    pub occupancy: f64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Where to write the JSON results.
    pub json_out: Option<PathBuf>,
    /// The results file of `scripts/bench` to append the item 2 rows to.
    pub results: Option<PathBuf>,
    /// The broker to bind the event sink on, if any.
    pub amqp_url: Option<String>,
    /// The service's `AMQP_PREFIX`.
    pub amqp_prefix: String,
}

/// Parses the arguments after the program name; `admin_token_env` is `$ADMIN_TOKEN`.
pub fn parse(args: &[String], admin_token_env: Option<String>) -> anyhow::Result<Command> {
    let Some((first, rest)) = args.split_first() else {
        bail!("no command given");
    };
    match first.as_str() {
        "-h" | "--help" | "help" => Ok(Command::Help),
        "voicebot" => match options(rest)? {
            None => Ok(Command::Help),
            Some(pairs) => Ok(Command::Voicebot(voicebot_options(
                &pairs,
                admin_token_env,
            )?)),
        },
        "e2e" => match options(rest)? {
            None => Ok(Command::Help),
            Some(pairs) => Ok(Command::E2e(e2e_options(&pairs, admin_token_env)?)),
        },
        "create" => match options(rest)? {
            None => Ok(Command::CreateHelp),
            Some(pairs) => Ok(Command::Create(crate::create::CreateOptions::parse(
                &pairs,
                admin_token_env,
            )?)),
        },
        "scheduler" => match options(rest)? {
            None => Ok(Command::Help),
            Some(pairs) => Ok(Command::Scheduler(crate::scheduler::parse_options(&pairs)?)),
        },
        other => bail!("unknown command {other:?}"),
    }
}

fn e2e_options(
    pairs: &[(String, String)],
    admin_token_env: Option<String>,
) -> anyhow::Result<E2eOptions> {
    let mut channel = None;
    let mut options = E2eOptions {
        channel: Channel::Voice,
        url: String::new(),
        sim_url: String::new(),
        admin_token: admin_token_env.unwrap_or_default(),
        count: 10_000,
        clients: 32,
        lead_secs: 5,
        wait_secs: 120,
        results: None,
    };
    for (name, value) in pairs {
        let name = name.as_str();
        match name {
            "--channel" => {
                channel = Some(match value.as_str() {
                    "voice" => Channel::Voice,
                    "sms" => Channel::Sms,
                    other => bail!("--channel must be voice or sms, got {other:?}"),
                });
            }
            "--url" => options.url = value.trim_end_matches('/').to_owned(),
            "--sim-url" => options.sim_url = value.trim_end_matches('/').to_owned(),
            "--admin-token" => options.admin_token.clone_from(value),
            "--count" => options.count = number(name, value)?,
            "--clients" => options.clients = number(name, value)?,
            "--lead-secs" => options.lead_secs = number(name, value)?,
            "--wait-secs" => options.wait_secs = number(name, value)?,
            "--results" => options.results = Some(PathBuf::from(value)),
            other => bail!("unknown option {other:?}"),
        }
    }
    options.channel = channel.context("--channel is required (voice or sms)")?;
    for (name, url) in [("--url", &options.url), ("--sim-url", &options.sim_url)] {
        if !url.starts_with("http://") && !url.starts_with("https://") {
            bail!("{name} is required and must start with http:// or https://");
        }
    }
    if options.admin_token.is_empty() {
        bail!("--admin-token (or $ADMIN_TOKEN) is required");
    }
    if !(1..=700_000).contains(&options.count) {
        bail!("--count must be from 1 to 700000 (the bench's distinct numbers)");
    }
    if options.clients == 0 || options.wait_secs == 0 {
        bail!("--clients and --wait-secs must be at least 1");
    }
    Ok(options)
}

/// Splits `--name value` and `--name=value` pairs; `None` when help is asked for. Every
/// option takes a value.
pub fn options(rest: &[String]) -> anyhow::Result<Option<Vec<(String, String)>>> {
    let mut pairs = Vec::new();
    let mut rest = rest.iter();
    while let Some(arg) = rest.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        let (name, value) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name.to_owned(), value.to_owned()),
            _ if arg.starts_with("--") => {
                let value = rest
                    .next()
                    .cloned()
                    .with_context(|| format!("{arg} needs a value"))?;
                (arg.clone(), value)
            }
            _ => bail!("unexpected argument {arg:?}"),
        };
        pairs.push((name, value));
    }
    Ok(Some(pairs))
}

fn voicebot_options(
    pairs: &[(String, String)],
    admin_token_env: Option<String>,
) -> anyhow::Result<VoicebotOptions> {
    let mut options = VoicebotOptions {
        url: String::new(),
        admin_token: admin_token_env.unwrap_or_default(),
        clients: 32,
        duration_secs: 30,
        warmup_secs: 3,
        agents: 20,
        days: 60,
        occupancy: 0.8,
        seed: 42,
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
            "--clients" => options.clients = number(name, value)?,
            "--duration-secs" => options.duration_secs = number(name, value)?,
            "--warmup-secs" => options.warmup_secs = number(name, value)?,
            "--agents" => options.agents = number(name, value)?,
            "--days" => options.days = number(name, value)?,
            "--occupancy" => options.occupancy = number(name, value)?,
            "--seed" => options.seed = number(name, value)?,
            "--json-out" => options.json_out = Some(PathBuf::from(value)),
            "--results" => options.results = Some(PathBuf::from(value)),
            "--amqp-url" => options.amqp_url = Some(value.clone()),
            "--amqp-prefix" => options.amqp_prefix.clone_from(value),
            other => bail!("unknown option {other:?}"),
        }
    }
    if options.url.is_empty() {
        bail!("--url is required");
    }
    if !options.url.starts_with("http://") && !options.url.starts_with("https://") {
        bail!("--url must start with http:// or https://");
    }
    if options.admin_token.is_empty() {
        bail!("--admin-token (or $ADMIN_TOKEN) is required");
    }
    if options.clients == 0 || options.agents == 0 || options.days == 0 {
        bail!("--clients, --agents and --days must be at least 1");
    }
    if options.duration_secs == 0 {
        bail!("--duration-secs must be at least 1");
    }
    if !(0.0..=1.0).contains(&options.occupancy) {
        bail!("--occupancy must be from 0 to 1");
    }
    Ok(options)
}

/// Parses `text` as the value of option `name`.
pub fn number<T: FromStr>(name: &str, text: &str) -> anyhow::Result<T> {
    text.trim()
        .parse()
        .ok()
        .with_context(|| format!("{name} must be a number, got {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn defaults_fill_what_is_not_given() {
        let Command::Voicebot(options) = parse(
            &args("voicebot --url http://127.0.0.1:18080/ --admin-token t"),
            None,
        )
        .unwrap() else {
            panic!("not voicebot");
        };
        assert_eq!(options.url, "http://127.0.0.1:18080");
        assert_eq!(options.clients, 32);
        assert_eq!(options.duration_secs, 30);
        assert_eq!(options.agents, 20);
        assert_eq!(options.days, 60);
        assert!((options.occupancy - 0.8).abs() < f64::EPSILON);
        assert_eq!(options.json_out, None);
        assert_eq!(options.amqp_url, None);
    }

    #[test]
    fn both_spellings_of_a_value_are_read() {
        let Command::Voicebot(options) = parse(
            &args("voicebot --url=http://x --clients 8 --occupancy=0.5 --json-out out.json"),
            Some("from-env".to_owned()),
        )
        .unwrap() else {
            panic!("not voicebot");
        };
        assert_eq!(options.clients, 8);
        assert_eq!(options.admin_token, "from-env");
        assert!((options.occupancy - 0.5).abs() < f64::EPSILON);
        assert_eq!(options.json_out, Some(PathBuf::from("out.json")));
    }

    #[test]
    fn mistakes_are_named() {
        let error = parse(
            &args("voicebot --url http://x --clients many"),
            Some("t".into()),
        )
        .unwrap_err();
        assert!(error.to_string().contains("--clients"), "{error}");
        let error = parse(&args("voicebot --admin-token t"), None).unwrap_err();
        assert!(error.to_string().contains("--url"), "{error}");
        let error =
            parse(&args("voicebot --url http://x --bogus 1"), Some("t".into())).unwrap_err();
        assert!(error.to_string().contains("--bogus"), "{error}");
        assert_eq!(parse(&args("--help"), None).unwrap(), Command::Help);
    }

    #[test]
    fn e2e_reads_its_channel_and_count() {
        let Command::E2e(options) = parse(
            &args("e2e --channel sms --url http://b/ --sim-url http://s --count 1000"),
            Some("t".into()),
        )
        .unwrap() else {
            panic!("not e2e");
        };
        assert_eq!(options.channel, Channel::Sms);
        assert_eq!(options.url, "http://b");
        assert_eq!(options.count, 1000);
        assert_eq!(options.wait_secs, 120);
        let error = parse(
            &args("e2e --url http://b --sim-url http://s"),
            Some("t".into()),
        )
        .unwrap_err();
        assert!(error.to_string().contains("--channel"), "{error}");
        let error = parse(
            &args("e2e --channel fax --url http://b --sim-url http://s"),
            Some("t".into()),
        )
        .unwrap_err();
        assert!(error.to_string().contains("voice or sms"), "{error}");
    }
}
