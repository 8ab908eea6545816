//! sms-service's configuration: the common variables, the SMS carrier, the public webhook
//! address and the sender's pacing, each with a local default that points at the carrier sim.

use std::time::Duration;

use attend_runtime::{CommonConfig, ConfigError, Env, Secret};

use crate::carrier::{FlowrouteConfig, TwilioConfig};

/// The service's own port.
pub const DEFAULT_PORT: u16 = 8083;
/// Where carriers reach this service on a developer machine.
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8083";
/// The number reminders are sent from unless a tenant has its own.
pub const DEFAULT_FROM_NUMBER: &str = "+15550100900";
/// The carrier sim's Flowroute-style API.
pub const DEFAULT_FLOWROUTE_API_URL: &str = "http://127.0.0.1:8090/flowroute/v2.1";
/// The carrier sim's Twilio-style API.
pub const DEFAULT_TWILIO_API_URL: &str = "http://127.0.0.1:8090/twilio/2010-04-01";
/// The secret of the inbound Flowroute webhook on a developer machine (the sim's default).
pub const DEFAULT_INBOUND_SECRET: &str = "sim-sms-inbound-secret";

/// Everything sms-service reads at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Database, broker, HTTP and telemetry settings.
    pub common: CommonConfig,
    /// `PUBLIC_URL`: the base URL carriers call back, without a trailing slash. Twilio signs
    /// the URL it calls, so it must be exactly what the carrier requests.
    pub public_url: String,
    /// `SMS_CARRIER`: which adapter sends (`flowroute`, the default, or `twilio`).
    pub carrier: CarrierChoice,
    /// The Flowroute account (`FLOWROUTE_*`).
    pub flowroute: FlowrouteConfig,
    /// The Twilio account (`TWILIO_*`); its token also verifies Twilio's inbound webhooks.
    pub twilio: TwilioConfig,
    /// `SMS_FROM_NUMBER`: the default sender, E.164.
    pub from_number: String,
    /// `SMS_INBOUND_SECRET`: authenticates Flowroute's inbound webhook, which carries no
    /// signature: the shared route takes it as `?token=`, a tenant's route takes
    /// HMAC-SHA256(secret, tenant id) (docs/sms.md).
    pub inbound_secret: Secret,
    /// How the sender paces and retries.
    pub sender: SenderConfig,
}

/// The carrier adapter that sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CarrierChoice {
    /// Flowroute's messages API.
    Flowroute,
    /// Twilio's Messages API.
    Twilio,
}

/// The sender's pacing and patience.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// `SMS_SEND_CONCURRENCY`: send requests in flight at once (default 16).
    pub concurrency: usize,
    /// `SMS_SENDS_PER_SECOND`: the most send requests per second toward the carrier
    /// (default 50).
    pub per_second: u32,
    /// `SMS_MAX_TRIES`: send requests per message before it fails (default 5).
    pub max_tries: u32,
    /// `SMS_RETRY_BASE_MS`: the first backoff after a retryable error; doubles per try, with
    /// jitter (default 2000).
    pub retry_base: Duration,
    /// `SMS_POLL_MS`: how often the sender looks for work without a wake-up (default 1000).
    pub poll_interval: Duration,
    /// `SMS_SENDING_LEASE_SECS`: how long a message may stay `sending` before a crash is
    /// presumed and it is settled as failed, never sent again (default 120).
    pub sending_lease: Duration,
}

impl Config {
    /// Reads the configuration from `env`; the error names the first bad variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env(env, DEFAULT_PORT)?;
        let public_url = base_url(env, "PUBLIC_URL", DEFAULT_PUBLIC_URL)?;
        let carrier = match env.string_or("SMS_CARRIER", "flowroute").as_str() {
            "flowroute" => CarrierChoice::Flowroute,
            "twilio" => CarrierChoice::Twilio,
            _ => {
                return Err(ConfigError::new(
                    "SMS_CARRIER",
                    "must be `flowroute` or `twilio`",
                ));
            }
        };
        let request_timeout = env.millis("SMS_CARRIER_TIMEOUT_MS", 10_000, 100..=120_000)?;
        let flowroute = FlowrouteConfig {
            api_url: base_url(env, "FLOWROUTE_API_URL", DEFAULT_FLOWROUTE_API_URL)?,
            access_key: env.string_or("FLOWROUTE_ACCESS_KEY", "sim-access"),
            secret_key: Secret::new(env.string_or("FLOWROUTE_SECRET_KEY", "sim-secret")),
            request_timeout,
        };
        let twilio = TwilioConfig {
            api_url: base_url(env, "TWILIO_API_URL", DEFAULT_TWILIO_API_URL)?,
            account_sid: env.string_or("TWILIO_ACCOUNT_SID", "AC_SIM"),
            auth_token: Secret::new(env.string_or("TWILIO_AUTH_TOKEN", "sim-twilio-token")),
            request_timeout,
        };
        let from_number = env.string_or("SMS_FROM_NUMBER", DEFAULT_FROM_NUMBER);
        if !attend_runtime::phone::is_e164(&from_number) {
            return Err(ConfigError::new(
                "SMS_FROM_NUMBER",
                "must be an E.164 number such as +15550100900",
            ));
        }
        let inbound_secret = env.string_or("SMS_INBOUND_SECRET", DEFAULT_INBOUND_SECRET);
        if inbound_secret.len() < 16 {
            return Err(ConfigError::new(
                "SMS_INBOUND_SECRET",
                "must be at least 16 characters",
            ));
        }
        let sender = SenderConfig {
            concurrency: usize::try_from(env.number_in(
                "SMS_SEND_CONCURRENCY",
                16,
                1..=256,
                "requests",
            )?)
            .unwrap_or(16),
            per_second: u32::try_from(env.number_in(
                "SMS_SENDS_PER_SECOND",
                50,
                1..=10_000,
                "messages",
            )?)
            .unwrap_or(50),
            max_tries: u32::try_from(env.number_in("SMS_MAX_TRIES", 5, 1..=50, "tries")?)
                .unwrap_or(5),
            retry_base: env.millis("SMS_RETRY_BASE_MS", 2_000, 1..=3_600_000)?,
            poll_interval: env.millis("SMS_POLL_MS", 1_000, 10..=60_000)?,
            sending_lease: env.seconds("SMS_SENDING_LEASE_SECS", 120, 5..=86_400)?,
        };
        Ok(Self {
            common,
            public_url,
            carrier,
            flowroute,
            twilio,
            from_number,
            inbound_secret: Secret::new(inbound_secret),
            sender,
        })
    }
}

/// Reads an absolute http(s) URL without query or fragment and returns it without a trailing
/// slash, so `{base}/sms/...` is exactly what a carrier calls and signs.
fn base_url(env: &Env, name: &str, default: &str) -> Result<String, ConfigError> {
    let raw = env.string_or(name, default);
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"));
    let host = rest.and_then(|rest| rest.split('/').next()).unwrap_or("");
    if host.is_empty() {
        return Err(ConfigError::new(name, "must be an absolute http(s) URL"));
    }
    if raw.contains('?') || raw.contains('#') {
        return Err(ConfigError::new(
            name,
            "must not have a query string or fragment",
        ));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_point_at_the_carrier_sim() {
        let config = Config::from_env(&Env::default()).unwrap();
        assert_eq!(config.common.http_port, 8083);
        assert_eq!(config.public_url, "http://127.0.0.1:8083");
        assert_eq!(config.carrier, CarrierChoice::Flowroute);
        assert_eq!(config.flowroute.api_url, DEFAULT_FLOWROUTE_API_URL);
        assert_eq!(config.twilio.api_url, DEFAULT_TWILIO_API_URL);
        assert_eq!(config.from_number, DEFAULT_FROM_NUMBER);
        assert_eq!(config.sender.max_tries, 5);
    }

    #[test]
    fn a_bad_variable_is_named() {
        for (name, value) in [
            ("SMS_CARRIER", "pigeon"),
            ("SMS_FROM_NUMBER", "5550100"),
            ("SMS_INBOUND_SECRET", "short"),
            ("SMS_MAX_TRIES", "0"),
            ("PUBLIC_URL", "/sms"),
            ("FLOWROUTE_API_URL", "http://host/api?x=1"),
        ] {
            let error = Config::from_env(&Env::from_pairs([(name, value)])).unwrap_err();
            assert_eq!(error.variable, name, "{value}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let env = Env::from_pairs([
            ("TWILIO_AUTH_TOKEN", "very-secret-token"),
            ("FLOWROUTE_SECRET_KEY", "very-secret-key"),
            ("SMS_INBOUND_SECRET", "very-secret-inbound"),
        ]);
        let printed = format!("{:?}", Config::from_env(&env).unwrap());
        assert!(!printed.contains("very-secret"), "{printed}");
    }
}
