//! Tracing and OpenTelemetry: readable logs locally, JSON otherwise, OTLP export when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and W3C trace context carried across HTTP and AMQP.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    Pretty,
    /// One JSON object a line, for log collectors.
    Json,
}

impl FromStr for LogFormat {
    type Err = ();

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.to_ascii_lowercase().as_str() {
            "pretty" | "text" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            _ => Err(()),
        }
    }
}

/// Keeps the tracer provider alive; [`Telemetry::shutdown`] flushes the last spans.
#[must_use = "dropping the handle without shutdown loses the last batch of spans"]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

/// Installs the global subscriber and propagator for `service_name`.
///
/// Spans always get OpenTelemetry ids (so problem bodies and AMQP headers carry a trace id);
/// they are exported only when `otlp_endpoint` is set. Calling it twice in one process (tests)
/// keeps the first subscriber.
pub fn init(
    service_name: &'static str,
    log_format: LogFormat,
    otlp_endpoint: Option<&str>,
) -> anyhow::Result<Telemetry> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service_name)
        .build();
    let mut provider_builder = SdkTracerProvider::builder().with_resource(resource);
    if let Some(endpoint) = otlp_endpoint {
        let endpoint = endpoint.trim_end_matches('/');
        // The variable names the collector's base URL; the spec appends the signal path.
        let traces_url = if endpoint.ends_with("/v1/traces") {
            endpoint.to_owned()
        } else {
            format!("{endpoint}/v1/traces")
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(traces_url)
            .with_timeout(Duration::from_secs(3))
            .build()?;
        provider_builder = provider_builder.with_batch_exporter(exporter);
    }
    let provider = provider_builder.build();
    opentelemetry::global::set_tracer_provider(provider.clone());

    let default_filter = format!("info,{}=debug", service_name.replace('-', "_"));
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // lapin logs every returned (unroutable) message whole, payload included, and payloads
    // carry phone numbers. The outbox relay logs returns itself, without the payload; this
    // holds even when RUST_LOG asks for more.
    let filter = filter.add_directive("lapin::returned_messages=off".parse()?);
    let fmt_layer = match log_format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer().with_target(false).boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
    };
    let otel_layer = tracing_opentelemetry::layer().with_tracer(provider.tracer(service_name));
    // A second init in the same process (tests) keeps the first subscriber; that is fine.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .with(otel_layer)
        .try_init();
    Ok(Telemetry { provider })
}

impl Telemetry {
    /// Flushes and stops the exporter. Runs on the blocking pool: the exporter blocks.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(error)) = flushed {
            tracing::debug!(error.message = %error, "tracer provider shutdown reported an error");
        }
    }
}

/// Returns the W3C `traceparent` of the current span, if it has a valid context.
pub fn current_traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove("traceparent")
}

/// Returns the trace id of the current span as 32 hex digits, if any.
pub fn current_trace_id() -> Option<String> {
    let context = tracing::Span::current().context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// Makes `traceparent` the remote parent of `span`; a malformed value is ignored.
pub fn set_remote_parent(span: &tracing::Span, traceparent: &str) {
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    if context.span().span_context().is_valid() {
        let _ = span.set_parent(context);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_format_parses_case_insensitively() {
        assert_eq!("JSON".parse(), Ok(LogFormat::Json));
        assert_eq!("pretty".parse(), Ok(LogFormat::Pretty));
        assert_eq!("xml".parse::<LogFormat>(), Err(()));
    }
}
