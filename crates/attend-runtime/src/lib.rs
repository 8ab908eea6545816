//! What every Attend service needs and nobody should write twice.
//!
//! - [`config`]: environment variables with local defaults, failing fast with one clear line;
//! - [`telemetry`]: tracing, OpenTelemetry export, W3C trace context across HTTP and AMQP;
//! - [`db`]: the diesel-async pool on the service's own schema and embedded migrations under an
//!   advisory lock;
//! - [`amqp`]: one broker connection per process, the exchanges, publisher confirms;
//! - [`outbox`] and [`consumer`]: the transactional outbox relay and the inbox consumer loop;
//! - [`http`]: problem+json errors, JSON extraction that names the failing field, health,
//!   readiness and metrics routes, the request root span;
//! - [`service`]: the wiring of all of the above and graceful shutdown;
//! - [`pipelined`]: a transaction whose `BEGIN` shares a round trip with its first
//!   statement;
//! - [`mask`] and [`phone`]: phone numbers masked for logs, and normalised to E.164;
//! - [`calling_window`]: the local hours reminders may go out in, per recipient zone.

pub mod amqp;
pub mod backoff;
pub mod cache;
pub mod calling_window;
pub mod carrier_text;
pub mod config;
pub mod consumer;
pub mod db;
pub mod http;
pub mod mask;
pub mod metrics;
pub mod outbox;
pub mod phone;
pub mod pipelined;
pub mod prepared;
pub mod schema;
pub mod service;
pub mod shutdown;
pub mod telemetry;

pub use config::{CommonConfig, ConfigError, Env, Secret};
pub use consumer::{ConsumerSpec, EventHandler, HandlerError, IncomingEvent};
pub use http::{ApiJson, FieldIssue, Problem};
pub use service::{Infra, Runner};
