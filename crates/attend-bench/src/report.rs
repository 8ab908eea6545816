//! Latency histograms and the results table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::Serialize;

/// The slowest latency a histogram holds exactly: 60 s, in microseconds.
const HIGHEST_MICROS: u64 = 60_000_000;

/// Latencies of one kind of request, in microseconds, with its outcomes.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Latencies of the successful requests.
    pub latencies: Histogram<u64>,
    /// Requests that failed: a non-2xx status or no answer.
    pub errors: u64,
    /// How many requests ended with each status; `0` counts requests without an answer.
    pub statuses: BTreeMap<u16, u64>,
}

impl Recorder {
    /// Returns an empty recorder (1 µs to 60 s, 3 significant digits).
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            latencies: Histogram::new_with_bounds(1, HIGHEST_MICROS, 3)
                .context("failed to create a histogram")?,
            errors: 0,
            statuses: BTreeMap::new(),
        })
    }

    /// Records a request that answered 2xx after `elapsed`.
    pub fn success(&mut self, status: u16, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latencies.saturating_record(micros.max(1));
        *self.statuses.entry(status).or_default() += 1;
    }

    /// Records a request that failed with `status` (`0`: no answer).
    pub fn failure(&mut self, status: u16) {
        self.errors += 1;
        *self.statuses.entry(status).or_default() += 1;
    }

    /// Adds what `other` recorded.
    pub fn merge(&mut self, other: &Self) -> anyhow::Result<()> {
        self.latencies
            .add(&other.latencies)
            .context("failed to merge histograms")?;
        self.errors += other.errors;
        for (status, count) in &other.statuses {
            *self.statuses.entry(*status).or_default() += count;
        }
        Ok(())
    }
}

/// One row of the results: a phase's figures, latencies in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseResult {
    /// What was measured, e.g. `getSlots (any agent)`.
    pub phase: String,
    /// Successful requests.
    pub requests: u64,
    /// How long the phase ran, in seconds.
    pub seconds: f64,
    /// Successful requests per second.
    pub throughput: f64,
    /// Median latency.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Slowest request.
    pub max_ms: f64,
    /// Mean latency.
    pub mean_ms: f64,
    /// Failed requests (not in the latencies).
    pub errors: u64,
    /// Requests per HTTP status (`0`: no answer).
    pub statuses: BTreeMap<u16, u64>,
}

impl PhaseResult {
    /// Summarises `recorder` for a phase that ran `elapsed`.
    pub fn of(phase: &str, recorder: &Recorder, elapsed: Duration) -> Self {
        let histogram = &recorder.latencies;
        let seconds = elapsed.as_secs_f64();
        let requests = histogram.len();
        let at = |quantile: f64| millis(histogram.value_at_quantile(quantile));
        #[expect(
            clippy::cast_precision_loss,
            reason = "request counts are far below 2^53"
        )]
        let throughput = if seconds > 0.0 {
            requests as f64 / seconds
        } else {
            0.0
        };
        Self {
            phase: phase.to_owned(),
            requests,
            seconds: round2(seconds),
            throughput: round2(throughput),
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            p999_ms: at(0.999),
            max_ms: millis(histogram.max()),
            mean_ms: round2(histogram.mean() / 1000.0),
            errors: recorder.errors,
            statuses: recorder.statuses.clone(),
        }
    }
}

#[expect(
    clippy::cast_precision_loss,
    reason = "latencies are at most 6e7 microseconds"
)]
fn millis(micros: u64) -> f64 {
    round2(micros as f64 / 1000.0)
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Returns the results as a Markdown table.
pub fn table(rows: &[PhaseResult]) -> String {
    let mut out = String::from(
        "| phase | requests | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            row.phase,
            row.requests,
            row.throughput,
            row.p50_ms,
            row.p90_ms,
            row.p99_ms,
            row.p999_ms,
            row.max_ms,
            row.errors,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_milliseconds_with_two_decimals() {
        let mut recorder = Recorder::new().unwrap();
        for micros in 1..=1000_u64 {
            recorder.success(200, Duration::from_micros(micros * 10));
        }
        recorder.failure(409);
        let row = PhaseResult::of("x", &recorder, Duration::from_secs(2));
        assert_eq!(row.requests, 1000);
        assert!((row.throughput - 500.0).abs() < 1e-9);
        assert!((row.p50_ms - 5.0).abs() < 0.01, "{}", row.p50_ms);
        assert!((row.p99_ms - 9.9).abs() < 0.01, "{}", row.p99_ms);
        assert!((row.max_ms - 10.0).abs() < 0.01, "{}", row.max_ms);
        assert_eq!(row.errors, 1);
        assert_eq!(row.statuses[&409], 1);
        assert_eq!(row.statuses[&200], 1000);
        let table = table(&[row]);
        assert!(table.contains("| x | 1000 | 500.0 | 5.00 |"), "{table}");
    }

    #[test]
    fn merging_adds_counts() {
        let mut one = Recorder::new().unwrap();
        one.success(200, Duration::from_millis(1));
        let mut two = Recorder::new().unwrap();
        two.success(200, Duration::from_millis(3));
        two.failure(0);
        one.merge(&two).unwrap();
        assert_eq!(one.latencies.len(), 2);
        assert_eq!(one.errors, 1);
        assert_eq!(one.statuses[&0], 1);
    }
}
