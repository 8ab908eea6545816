//! Prometheus metrics: a few families every service shares, exposed as text on `/metrics`.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoutingKeyLabels {
    routing_key: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConsumedLabels {
    queue: String,
    result: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NameLabels {
    name: String,
}

/// The process's metrics. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<HttpLabels, Histogram>,
    events_published: Family<RoutingKeyLabels, Counter>,
    events_consumed: Family<ConsumedLabels, Counter>,
    domain_events: Family<NameLabels, Counter>,
}

impl Metrics {
    /// Returns a fresh registry with the shared families, prefixed `attend`.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("attend");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration = Family::<HttpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ])
        });
        let events_published = Family::<RoutingKeyLabels, Counter>::default();
        let events_consumed = Family::<ConsumedLabels, Counter>::default();
        let domain_events = Family::<NameLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests served",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            http_duration.clone(),
        );
        registry.register(
            "events_published",
            "Events confirmed by the broker",
            events_published.clone(),
        );
        registry.register(
            "events_consumed",
            "Events delivered, by result",
            events_consumed.clone(),
        );
        registry.register(
            "domain_events",
            "Service-specific occurrences",
            domain_events.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                http_requests,
                http_duration,
                events_published,
                events_consumed,
                domain_events,
            }),
        }
    }

    /// Counts one served request.
    pub fn http_request(&self, method: &str, status: u16, seconds: f64) {
        let labels = HttpLabels {
            method: method.to_owned(),
            status,
        };
        self.inner.http_requests.get_or_create(&labels).inc();
        self.inner
            .http_duration
            .get_or_create(&labels)
            .observe(seconds);
    }

    /// Counts one event confirmed by the broker.
    pub fn event_published(&self, routing_key: &str) {
        let labels = RoutingKeyLabels {
            routing_key: routing_key.to_owned(),
        };
        self.inner.events_published.get_or_create(&labels).inc();
    }

    /// Counts one delivery and what became of it.
    pub fn event_consumed(&self, queue: &str, result: &str) {
        let labels = ConsumedLabels {
            queue: queue.to_owned(),
            result: result.to_owned(),
        };
        self.inner.events_consumed.get_or_create(&labels).inc();
    }

    /// Counts a service-specific occurrence, e.g. `call_placed`.
    pub fn count(&self, name: &str) {
        self.inner
            .domain_events
            .get_or_create(&NameLabels {
                name: name.to_owned(),
            })
            .inc();
    }

    /// Returns the Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.inner.registry).is_err() {
            tracing::warn!("failed to encode metrics");
        }
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_values_appear_in_the_text_exposition() {
        let metrics = Metrics::new();
        metrics.http_request("GET", 200, 0.002);
        metrics.event_published("reminder.outcome");
        metrics.count("call_placed");
        let text = metrics.render();
        assert!(
            text.contains(r#"attend_http_requests_total{method="GET",status="200"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"attend_events_published_total{routing_key="reminder.outcome"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"attend_domain_events_total{name="call_placed"} 1"#),
            "{text}"
        );
    }
}
