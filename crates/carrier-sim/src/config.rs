//! Start-up configuration, read from environment variables.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// How long the sim waits for one webhook request before it gives up and ends the call.
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// The first wait before an inbound SMS webhook is retried; it doubles with each retry.
pub const DEFAULT_SMS_RETRY_BACKOFF: Duration = Duration::from_millis(100);
/// Where replies sent through the Flowroute API go when the number has no URL of its own.
pub const DEFAULT_FLOWROUTE_INBOUND_URL: &str =
    "http://127.0.0.1:8083/sms/flowroute/inbound?token=sim-sms-inbound-secret";
/// Where replies sent through the Twilio API go when the number has no URL of its own.
pub const DEFAULT_TWILIO_INBOUND_URL: &str = "http://127.0.0.1:8083/sms/twilio/inbound";

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable is set but its value cannot be used.
    #[error("invalid {variable}={value:?}: {reason}")]
    Invalid {
        /// The environment variable's name.
        variable: &'static str,
        /// The value as found (never a secret: secrets are reported without their value).
        value: String,
        /// What a valid value looks like.
        reason: &'static str,
    },
    /// A variable is set but is not valid unicode.
    #[error("invalid {variable}: the value is not valid unicode")]
    NotUnicode {
        /// The environment variable's name.
        variable: &'static str,
    },
}

/// Everything the sim needs to start.
#[derive(Clone)]
pub struct Config {
    /// Address to listen on (`HTTP_HOST`, default `127.0.0.1`).
    pub http_host: IpAddr,
    /// Port to listen on (`HTTP_PORT`, default `8090`; `0` picks a free port).
    pub http_port: u16,
    /// Account id the make-call API expects in its path and `X-Auth-ID` header (`VOBIZ_AUTH_ID`).
    pub auth_id: String,
    /// Token the make-call API expects in `X-Auth-Token` and that signs webhooks (`VOBIZ_AUTH_TOKEN`).
    pub auth_token: String,
    /// Time limit for each webhook request (not read from the environment; tests may lower it).
    pub webhook_timeout: Duration,
    /// Flowroute API access key, the Basic-auth user (`FLOWROUTE_ACCESS_KEY`).
    pub flowroute_access_key: String,
    /// Flowroute API secret key, the Basic-auth password (`FLOWROUTE_SECRET_KEY`).
    pub flowroute_secret_key: String,
    /// Twilio account SID, the Basic-auth user and the `{AccountSid}` path segment
    /// (`TWILIO_ACCOUNT_SID`).
    pub twilio_account_sid: String,
    /// Twilio auth token, the Basic-auth password and the key of `X-Twilio-Signature`
    /// (`TWILIO_AUTH_TOKEN`).
    pub twilio_auth_token: String,
    /// Default inbound SMS webhook for Flowroute conversations (`SIM_FLOWROUTE_INBOUND_URL`).
    pub flowroute_inbound_url: String,
    /// Default inbound SMS webhook for Twilio conversations (`SIM_TWILIO_INBOUND_URL`).
    pub twilio_inbound_url: String,
    /// First wait before an inbound SMS webhook is retried, doubling each time (not read from
    /// the environment; tests may lower it).
    pub sms_retry_backoff: Duration,
}

impl fmt::Debug for Config {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Config")
            .field("http_host", &self.http_host)
            .field("http_port", &self.http_port)
            .field("auth_id", &self.auth_id)
            .field("auth_token", &"<redacted>")
            .field("webhook_timeout", &self.webhook_timeout)
            .field("flowroute_access_key", &self.flowroute_access_key)
            .field("flowroute_secret_key", &"<redacted>")
            .field("twilio_account_sid", &self.twilio_account_sid)
            .field("twilio_auth_token", &"<redacted>")
            .field("flowroute_inbound_url", &self.flowroute_inbound_url)
            .field("twilio_inbound_url", &self.twilio_inbound_url)
            .field("sms_retry_backoff", &self.sms_retry_backoff)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http_host: IpAddr::from([127, 0, 0, 1]),
            http_port: 8090,
            auth_id: "MA_SIM".to_owned(),
            auth_token: "sim-token".to_owned(),
            webhook_timeout: DEFAULT_WEBHOOK_TIMEOUT,
            flowroute_access_key: "sim-access".to_owned(),
            flowroute_secret_key: "sim-secret".to_owned(),
            twilio_account_sid: "AC_SIM".to_owned(),
            twilio_auth_token: "sim-twilio-token".to_owned(),
            flowroute_inbound_url: DEFAULT_FLOWROUTE_INBOUND_URL.to_owned(),
            twilio_inbound_url: DEFAULT_TWILIO_INBOUND_URL.to_owned(),
            sms_retry_backoff: DEFAULT_SMS_RETRY_BACKOFF,
        }
    }
}

impl Config {
    /// Reads the configuration from the process environment, falling back to defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// Reads the configuration through `lookup`, which returns a variable's raw value if set.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let read = |variable: &'static str| -> Result<Option<String>, ConfigError> {
            match lookup(variable) {
                None => Ok(None),
                Some(raw) => raw
                    .into_string()
                    .map(Some)
                    .map_err(|_| ConfigError::NotUnicode { variable }),
            }
        };

        let http_host = match read("HTTP_HOST")? {
            None => defaults.http_host,
            Some(value) => value.trim().parse().map_err(|_| ConfigError::Invalid {
                variable: "HTTP_HOST",
                value,
                reason: "expected an IP address such as 127.0.0.1",
            })?,
        };
        let http_port = match read("HTTP_PORT")? {
            None => defaults.http_port,
            Some(value) => value.trim().parse().map_err(|_| ConfigError::Invalid {
                variable: "HTTP_PORT",
                value,
                reason: "expected an integer from 0 to 65535",
            })?,
        };
        let auth_id = match read("VOBIZ_AUTH_ID")? {
            None => defaults.auth_id,
            Some(value) if is_valid_auth_id(&value) => value,
            Some(value) => {
                return Err(ConfigError::Invalid {
                    variable: "VOBIZ_AUTH_ID",
                    value,
                    reason: "expected a non-empty id made of letters, digits, '_' or '-'",
                });
            }
        };
        let auth_token = match read("VOBIZ_AUTH_TOKEN")? {
            None => defaults.auth_token,
            Some(value) if !value.trim().is_empty() => value,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    variable: "VOBIZ_AUTH_TOKEN",
                    value: String::new(),
                    reason: "expected a non-empty token",
                });
            }
        };

        let flowroute_access_key = read_credential(
            read("FLOWROUTE_ACCESS_KEY")?,
            "FLOWROUTE_ACCESS_KEY",
            defaults.flowroute_access_key,
            true,
        )?;
        let flowroute_secret_key = read_credential(
            read("FLOWROUTE_SECRET_KEY")?,
            "FLOWROUTE_SECRET_KEY",
            defaults.flowroute_secret_key,
            false,
        )?;
        let twilio_account_sid = match read("TWILIO_ACCOUNT_SID")? {
            None => defaults.twilio_account_sid,
            Some(value) if is_valid_auth_id(value.trim()) => value.trim().to_owned(),
            Some(value) => {
                return Err(ConfigError::Invalid {
                    variable: "TWILIO_ACCOUNT_SID",
                    value,
                    reason: "expected a non-empty id made of letters, digits, '_' or '-'",
                });
            }
        };
        let twilio_auth_token = read_credential(
            read("TWILIO_AUTH_TOKEN")?,
            "TWILIO_AUTH_TOKEN",
            defaults.twilio_auth_token,
            false,
        )?;
        let flowroute_inbound_url = read_url(
            read("SIM_FLOWROUTE_INBOUND_URL")?,
            "SIM_FLOWROUTE_INBOUND_URL",
            defaults.flowroute_inbound_url,
        )?;
        let twilio_inbound_url = read_url(
            read("SIM_TWILIO_INBOUND_URL")?,
            "SIM_TWILIO_INBOUND_URL",
            defaults.twilio_inbound_url,
        )?;

        Ok(Self {
            http_host,
            http_port,
            auth_id,
            auth_token,
            webhook_timeout: defaults.webhook_timeout,
            flowroute_access_key,
            flowroute_secret_key,
            twilio_account_sid,
            twilio_auth_token,
            flowroute_inbound_url,
            twilio_inbound_url,
            sms_retry_backoff: defaults.sms_retry_backoff,
        })
    }
}

/// Reads a Basic-auth credential: non-empty, and without ':' in the user part (the separator).
/// A secret's value is never echoed in the error.
fn read_credential(
    value: Option<String>,
    variable: &'static str,
    default: String,
    is_user: bool,
) -> Result<String, ConfigError> {
    match value {
        None => Ok(default),
        Some(value) if value.trim().is_empty() => Err(ConfigError::Invalid {
            variable,
            value: String::new(),
            reason: "expected a non-empty value",
        }),
        Some(value) if is_user && value.contains(':') => Err(ConfigError::Invalid {
            variable,
            value,
            reason: "a basic-auth user may not contain ':'",
        }),
        Some(value) => Ok(value.trim().to_owned()),
    }
}

/// Reads an absolute http(s) URL.
fn read_url(
    value: Option<String>,
    variable: &'static str,
    default: String,
) -> Result<String, ConfigError> {
    match value {
        None => Ok(default),
        Some(value) => match crate::webhook::parse_http_url(&value) {
            Ok(url) => Ok(url.to_string()),
            Err(_) => Err(ConfigError::Invalid {
                variable,
                value,
                reason: "expected an absolute http(s) url",
            }),
        },
    }
}

/// The auth id is a path segment of the make-call URL, so keep it URL-safe.
fn is_valid_auth_id(value: &str) -> bool {
    !value.is_empty()
        && value.chars().all(|character| {
            character.is_ascii_alphanumeric() || character == '_' || character == '-'
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::ffi::OsString;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let variables: HashMap<String, OsString> = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), OsString::from(*value)))
            .collect();
        Config::from_lookup(|name| variables.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let config = load(&[]).unwrap();
        assert_eq!(config.http_host.to_string(), "127.0.0.1");
        assert_eq!(config.http_port, 8090);
        assert_eq!(config.auth_id, "MA_SIM");
        assert_eq!(config.auth_token, "sim-token");
    }

    #[test]
    fn values_from_the_environment_override_defaults() {
        let config = load(&[
            ("HTTP_HOST", "0.0.0.0"),
            ("HTTP_PORT", "0"),
            ("VOBIZ_AUTH_ID", "MA_TEST"),
            ("VOBIZ_AUTH_TOKEN", "secret"),
        ])
        .unwrap();
        assert_eq!(config.http_host.to_string(), "0.0.0.0");
        assert_eq!(config.http_port, 0);
        assert_eq!(config.auth_id, "MA_TEST");
        assert_eq!(config.auth_token, "secret");
    }

    #[test]
    fn a_malformed_port_names_the_variable() {
        let error = load(&[("HTTP_PORT", "eighty")]).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("HTTP_PORT"), "{message}");
        assert!(message.contains("eighty"), "{message}");
    }

    #[test]
    fn a_malformed_host_names_the_variable() {
        let error = load(&[("HTTP_HOST", "not a host")]).unwrap_err();
        assert!(error.to_string().contains("HTTP_HOST"));
    }

    #[test]
    fn an_empty_token_is_rejected_without_echoing_it() {
        let error = load(&[("VOBIZ_AUTH_TOKEN", " ")]).unwrap_err();
        assert!(error.to_string().contains("VOBIZ_AUTH_TOKEN"));
    }

    #[test]
    fn sms_credentials_and_inbound_urls_have_defaults_and_overrides() {
        let defaults = load(&[]).unwrap();
        assert_eq!(defaults.flowroute_access_key, "sim-access");
        assert_eq!(defaults.flowroute_secret_key, "sim-secret");
        assert_eq!(defaults.twilio_account_sid, "AC_SIM");
        assert_eq!(defaults.twilio_auth_token, "sim-twilio-token");
        assert_eq!(
            defaults.flowroute_inbound_url,
            DEFAULT_FLOWROUTE_INBOUND_URL
        );
        assert_eq!(defaults.twilio_inbound_url, DEFAULT_TWILIO_INBOUND_URL);

        let config = load(&[
            ("FLOWROUTE_ACCESS_KEY", "key"),
            ("FLOWROUTE_SECRET_KEY", "secret"),
            ("TWILIO_ACCOUNT_SID", "AC123"),
            ("TWILIO_AUTH_TOKEN", "token"),
            ("SIM_TWILIO_INBOUND_URL", "http://127.0.0.1:9/in"),
        ])
        .unwrap();
        assert_eq!(config.flowroute_access_key, "key");
        assert_eq!(config.flowroute_secret_key, "secret");
        assert_eq!(config.twilio_account_sid, "AC123");
        assert_eq!(config.twilio_auth_token, "token");
        assert_eq!(config.twilio_inbound_url, "http://127.0.0.1:9/in");
    }

    #[test]
    fn a_relative_inbound_url_names_the_variable() {
        let error = load(&[("SIM_FLOWROUTE_INBOUND_URL", "/sms")]).unwrap_err();
        assert!(error.to_string().contains("SIM_FLOWROUTE_INBOUND_URL"));
    }

    #[test]
    fn debug_output_hides_the_sms_secrets() {
        let config = load(&[
            ("FLOWROUTE_SECRET_KEY", "flow-secret"),
            ("TWILIO_AUTH_TOKEN", "twilio-secret"),
        ])
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("flow-secret"));
        assert!(!debug.contains("twilio-secret"));
    }

    #[test]
    fn debug_output_hides_the_token() {
        let config = load(&[("VOBIZ_AUTH_TOKEN", "very-secret")]).unwrap();
        assert!(!format!("{config:?}").contains("very-secret"));
    }
}
