//! The gateway's configuration: the common variables plus the carrier, the public callback
//! address and the dialer's pacing, each with a local default that points at the carrier sim.

use std::time::Duration;

use attend_runtime::{CommonConfig, ConfigError, Env, Secret};

/// The gateway's own port.
pub const DEFAULT_PORT: u16 = 8082;
/// Where the carrier reaches this gateway on a developer machine.
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8082";
/// The carrier sim's Vobiz-style API.
pub const DEFAULT_VOBIZ_API_URL: &str = "http://127.0.0.1:8090/api/v1";
/// The carrier sim's account id.
pub const DEFAULT_VOBIZ_AUTH_ID: &str = "MA_SIM";
/// The carrier sim's token.
pub const DEFAULT_VOBIZ_AUTH_TOKEN: &str = "sim-token";
/// The caller id of reminder calls.
pub const DEFAULT_FROM_NUMBER: &str = "+15550100000";

/// Everything the gateway reads at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Database, broker, listener and telemetry.
    pub common: CommonConfig,
    /// `PUBLIC_URL`: the base URL the carrier calls back, without a trailing slash. Webhook
    /// signatures are checked against it, so it must be exactly what the carrier requests.
    pub public_url: String,
    /// The carrier account.
    pub vobiz: VobizConfig,
    /// `CALLBACK_NUMBER`: the number the call flow asks people to call back (default
    /// `FROM_NUMBER`).
    pub callback_number: String,
    /// How the dialer paces make-call requests.
    pub dialer: DialerConfig,
    /// How batch completion callbacks are sent.
    pub callbacks: CallbackConfig,
}

/// How batch completion callbacks are sent and retried.
#[derive(Debug, Clone)]
pub struct CallbackConfig {
    /// `CALLBACK_TIMEOUT_MS`: one request's time limit (default 10000).
    pub timeout: Duration,
    /// `CALLBACK_RETRY_BASE_MS`: the pause after the first failure; doubles per failure, with
    /// jitter (default 30000).
    pub retry_base: Duration,
    /// `CALLBACK_RETRY_MAX_MS`: the longest pause between two tries (default 3600000).
    pub retry_max: Duration,
    /// `CALLBACK_GIVE_UP_SECS`: how long after the batch completed tries go on (default 86400).
    pub give_up_after: Duration,
    /// `CALLBACK_POLL_MS`: how often due callbacks are looked for (default 1000).
    pub poll_interval: Duration,
}

/// The Vobiz account calls are placed with.
#[derive(Debug, Clone)]
pub struct VobizConfig {
    /// `VOBIZ_API_URL`: the API base, e.g. `https://api.vobiz.ai/api/v1`, without a trailing
    /// slash.
    pub api_url: String,
    /// `VOBIZ_AUTH_ID`: the account id (a path segment and the `X-Auth-ID` header).
    pub auth_id: String,
    /// `VOBIZ_AUTH_TOKEN`: the account token; authenticates our requests and signs the
    /// carrier's webhooks.
    pub auth_token: Secret,
    /// `FROM_NUMBER`: the caller id.
    pub from_number: String,
    /// `VOBIZ_TIMEOUT_MS`: the make-call request's time limit (default 10 s). A request that
    /// times out has an unknown outcome and is never sent again.
    pub request_timeout: Duration,
}

/// The dialer's pacing and patience.
#[derive(Debug, Clone)]
pub struct DialerConfig {
    /// `DIALER_RETRY_BASE_MS`: the first backoff after the carrier refused a call it may
    /// accept later (429, unreachable); doubles per try, with jitter (default 2000).
    pub retry_base: Duration,
    /// `DIALER_MAX_TRIES`: make-call requests per reminder before it fails (default 5).
    pub max_tries: u32,
    /// `DIALER_POLL_MS`: how often the dialer looks for work without a wake-up (default 1000).
    pub poll_interval: Duration,
    /// `DIALER_UNKNOWN_GRACE_SECS`: how long to wait for a webhook after a make-call request
    /// with an unknown outcome (timeout, 5xx) before reporting `failed` (default 600).
    pub outcome_unknown_grace: Duration,
    /// `CALL_WATCHDOG_SECS`: how long a placed call may go without its hangup callback before
    /// it is reported `failed` (default 15000, beyond the carrier's 4-hour call limit).
    pub call_watchdog: Duration,
    /// `DIALER_CONCURRENCY`: make-call requests in flight at once (default 8).
    pub concurrency: usize,
    /// The carrier account's limits, shared by every replica.
    pub limits: CarrierLimits,
}

/// What the carrier account allows, and how batches share it with reminders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CarrierLimits {
    /// `CARRIER_CPS`: make-call requests per second, every kind of call, all replicas together
    /// (default 10).
    pub calls_per_second: u32,
    /// `CARRIER_MAX_CALLS`: calls holding a line at once, every kind (default 50).
    pub max_lines: u32,
    /// `BATCH_MAX_CALLS_PER_TENANT`: batch calls of one tenant holding a line at once
    /// (default 10).
    pub batch_lines_per_tenant: u32,
    /// `BATCH_RESERVED_LINES`: lines batch calls never take, so a reminder always finds one
    /// (default 5; less than `CARRIER_MAX_CALLS`).
    pub reserved_for_reminders: u32,
}

impl Config {
    /// Reads the configuration from `env`; the error names the first bad variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env(env, DEFAULT_PORT)?;
        let public_url = base_url(env, "PUBLIC_URL", DEFAULT_PUBLIC_URL)?;
        let api_url = base_url(env, "VOBIZ_API_URL", DEFAULT_VOBIZ_API_URL)?;
        let auth_id = env.string_or("VOBIZ_AUTH_ID", DEFAULT_VOBIZ_AUTH_ID);
        if !auth_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ConfigError::new(
                "VOBIZ_AUTH_ID",
                "must be made of letters, digits, `_` or `-`",
            ));
        }
        let auth_token = Secret::new(env.string_or("VOBIZ_AUTH_TOKEN", DEFAULT_VOBIZ_AUTH_TOKEN));
        let from_number = env.string_or("FROM_NUMBER", DEFAULT_FROM_NUMBER);
        let callback_number = env.string_or("CALLBACK_NUMBER", &from_number);
        let request_timeout = millis(env, "VOBIZ_TIMEOUT_MS", 10_000, 100..=120_000)?;

        let max_tries = env.or("DIALER_MAX_TRIES", 5_u32, "a whole number from 1 to 50")?;
        if !(1..=50).contains(&max_tries) {
            return Err(ConfigError::new(
                "DIALER_MAX_TRIES",
                "must be a whole number from 1 to 50",
            ));
        }
        let concurrency = env.or(
            "DIALER_CONCURRENCY",
            8_usize,
            "a whole number from 1 to 256",
        )?;
        if !(1..=256).contains(&concurrency) {
            return Err(ConfigError::new(
                "DIALER_CONCURRENCY",
                "must be a whole number from 1 to 256",
            ));
        }
        let dialer = DialerConfig {
            retry_base: millis(env, "DIALER_RETRY_BASE_MS", 2_000, 1..=3_600_000)?,
            max_tries,
            poll_interval: millis(env, "DIALER_POLL_MS", 1_000, 10..=60_000)?,
            outcome_unknown_grace: seconds(env, "DIALER_UNKNOWN_GRACE_SECS", 600, 1..=86_400)?,
            call_watchdog: seconds(env, "CALL_WATCHDOG_SECS", 15_000, 1..=172_800)?,
            concurrency,
            limits: carrier_limits(env)?,
        };
        let callbacks = CallbackConfig {
            timeout: millis(env, "CALLBACK_TIMEOUT_MS", 10_000, 100..=120_000)?,
            retry_base: millis(env, "CALLBACK_RETRY_BASE_MS", 30_000, 1..=3_600_000)?,
            retry_max: millis(env, "CALLBACK_RETRY_MAX_MS", 3_600_000, 1..=86_400_000)?,
            give_up_after: seconds(env, "CALLBACK_GIVE_UP_SECS", 86_400, 1..=604_800)?,
            poll_interval: millis(env, "CALLBACK_POLL_MS", 1_000, 10..=60_000)?,
        };
        Ok(Self {
            common,
            public_url,
            vobiz: VobizConfig {
                api_url,
                auth_id,
                auth_token,
                from_number,
                request_timeout,
            },
            callback_number,
            dialer,
            callbacks,
        })
    }
}

fn carrier_limits(env: &Env) -> Result<CarrierLimits, ConfigError> {
    let whole = |name: &'static str, default: u32, range: std::ops::RangeInclusive<u32>| {
        let expected = format!("a whole number from {} to {}", range.start(), range.end());
        let value = env.or(name, default, &expected)?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(ConfigError::new(name, format!("must be {expected}")))
        }
    };
    let limits = CarrierLimits {
        calls_per_second: whole("CARRIER_CPS", 10, 1..=1_000)?,
        max_lines: whole("CARRIER_MAX_CALLS", 50, 1..=100_000)?,
        batch_lines_per_tenant: whole("BATCH_MAX_CALLS_PER_TENANT", 10, 1..=100_000)?,
        reserved_for_reminders: whole("BATCH_RESERVED_LINES", 5, 0..=100_000)?,
    };
    if limits.reserved_for_reminders >= limits.max_lines {
        return Err(ConfigError::new(
            "BATCH_RESERVED_LINES",
            "must be less than CARRIER_MAX_CALLS, or no batch call could ever be placed",
        ));
    }
    Ok(limits)
}

/// Reads an absolute http(s) URL and returns it normalized (as the carrier's URL parser
/// writes it) without a trailing slash, so `{base}/voice/answer` is exactly what is signed.
fn base_url(env: &Env, name: &str, default: &str) -> Result<String, ConfigError> {
    let raw = env.string_or(name, default);
    let url = reqwest::Url::parse(&raw)
        .map_err(|_| ConfigError::new(name, "must be an absolute http(s) URL"))?;
    let has_host = url.host_str().is_some_and(|host| !host.is_empty());
    if !matches!(url.scheme(), "http" | "https") || !has_host {
        return Err(ConfigError::new(name, "must be an absolute http(s) URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(
            name,
            "must not have a query string or fragment",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn millis(
    env: &Env,
    name: &str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Duration, ConfigError> {
    let expected = format!(
        "a whole number of milliseconds from {} to {}",
        range.start(),
        range.end()
    );
    let value = env.or(name, default, &expected)?;
    if !range.contains(&value) {
        return Err(ConfigError::new(name, format!("must be {expected}")));
    }
    Ok(Duration::from_millis(value))
}

fn seconds(
    env: &Env,
    name: &str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Duration, ConfigError> {
    let expected = format!(
        "a whole number of seconds from {} to {}",
        range.start(),
        range.end()
    );
    let value = env.or(name, default, &expected)?;
    if !range.contains(&value) {
        return Err(ConfigError::new(name, format!("must be {expected}")));
    }
    Ok(Duration::from_secs(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_point_at_the_carrier_sim() {
        let config = Config::from_env(&Env::default()).unwrap();
        assert_eq!(config.common.http_port, 8082);
        assert_eq!(config.public_url, "http://127.0.0.1:8082");
        assert_eq!(config.vobiz.api_url, "http://127.0.0.1:8090/api/v1");
        assert_eq!(config.vobiz.auth_id, "MA_SIM");
        assert_eq!(config.vobiz.auth_token.expose(), "sim-token");
        assert_eq!(config.callback_number, "+15550100000");
        assert_eq!(config.dialer.max_tries, 5);
        assert_eq!(config.vobiz.request_timeout, Duration::from_secs(10));
        assert_eq!(config.dialer.limits.calls_per_second, 10);
        assert_eq!(config.callbacks.give_up_after, Duration::from_secs(86_400));
    }

    #[test]
    fn reserving_every_line_for_reminders_is_refused() {
        let env = Env::from_pairs([("CARRIER_MAX_CALLS", "5"), ("BATCH_RESERVED_LINES", "5")]);
        assert_eq!(
            Config::from_env(&env).unwrap_err().variable,
            "BATCH_RESERVED_LINES"
        );
    }

    #[test]
    fn the_callback_number_defaults_to_the_from_number() {
        let env = Env::from_pairs([("FROM_NUMBER", "+15550109999")]);
        assert_eq!(
            Config::from_env(&env).unwrap().callback_number,
            "+15550109999"
        );
        let env = env.with("CALLBACK_NUMBER", "+15550108888");
        assert_eq!(
            Config::from_env(&env).unwrap().callback_number,
            "+15550108888"
        );
    }

    #[test]
    fn public_urls_are_normalized_without_a_trailing_slash() {
        let env = Env::from_pairs([("PUBLIC_URL", "https://GW.example.com:443/attend/")]);
        assert_eq!(
            Config::from_env(&env).unwrap().public_url,
            "https://gw.example.com/attend"
        );
    }

    #[test]
    fn a_relative_public_url_names_the_variable() {
        let env = Env::from_pairs([("PUBLIC_URL", "/voice")]);
        let error = Config::from_env(&env).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid configuration: PUBLIC_URL must be an absolute http(s) URL"
        );
    }

    #[test]
    fn an_out_of_range_retry_count_is_refused() {
        let env = Env::from_pairs([("DIALER_MAX_TRIES", "0")]);
        assert_eq!(
            Config::from_env(&env).unwrap_err().variable,
            "DIALER_MAX_TRIES"
        );
    }

    #[test]
    fn the_token_does_not_print() {
        let env = Env::from_pairs([("VOBIZ_AUTH_TOKEN", "very-secret")]);
        let printed = format!("{:?}", Config::from_env(&env).unwrap());
        assert!(!printed.contains("very-secret"), "{printed}");
    }
}
