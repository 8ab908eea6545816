//! The voice account's limits, as a carrier enforces them: make-call requests per second and
//! calls holding a line at once (carriers.md §2.6 "API responses 429 (CPS/concurrency)"). With
//! no limit set the sim only measures; either way it records the peaks and every refusal, so a
//! test can show that an application neither floods the carrier nor exceeds its lines.

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::SimState;
use crate::error::SimApiError;

/// The limits set through `PUT /sim/voice/limits`; `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Make-call requests per second (a token bucket holding one second's worth).
    #[serde(default)]
    pub calls_per_second: Option<u32>,
    /// Calls holding a line at once, from the make-call request until the call ends.
    #[serde(default)]
    pub max_concurrent_calls: Option<u32>,
}

/// What the sim saw since the limits were last set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Make-call requests that passed authentication and validation.
    pub requests: u64,
    /// Refused with 429 for the calls-per-second limit.
    pub rejected_rate: u64,
    /// Refused with 429 for the concurrent-calls limit.
    pub rejected_concurrency: u64,
    /// Calls holding a line now.
    pub lines_in_use: u32,
    /// The most calls that held a line at once.
    pub peak_concurrent_calls: u32,
    /// The most make-call requests accepted within any one second (sliding).
    pub peak_calls_per_second: u32,
}

/// Why a make-call request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over the calls-per-second limit.
    Rate,
    /// Every line is in use (hangup cause 1020's "simultaneous dial limit reached").
    Concurrency,
}

#[derive(Debug, Default)]
struct State {
    limits: Limits,
    counters: Counters,
    tokens: f64,
    refilled_at: Option<Instant>,
    /// Accepted requests of the last second, oldest first.
    recent: std::collections::VecDeque<Instant>,
}

/// The account's limits and counters, shared by every request and call.
#[derive(Debug, Default)]
pub struct VoiceLimits {
    state: Mutex<State>,
}

impl VoiceLimits {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the limits and resets the counters (calls holding a line keep holding it).
    pub fn set(&self, limits: Limits) {
        let mut state = self.lock();
        let lines_in_use = state.counters.lines_in_use;
        *state = State {
            limits,
            counters: Counters {
                lines_in_use,
                peak_concurrent_calls: lines_in_use,
                ..Counters::default()
            },
            tokens: f64::from(limits.calls_per_second.unwrap_or(0)),
            refilled_at: Some(Instant::now()),
            recent: std::collections::VecDeque::new(),
        };
    }

    /// Returns the limits and counters.
    pub fn snapshot(&self) -> (Limits, Counters) {
        let state = self.lock();
        (state.limits, state.counters.clone())
    }

    /// Admits one make-call request: takes a token and a line, or says why not.
    pub fn admit(&self) -> Result<(), Refusal> {
        let now = Instant::now();
        let mut state = self.lock();
        state.counters.requests += 1;
        if let Some(per_second) = state.limits.calls_per_second {
            let capacity = f64::from(per_second);
            let elapsed = state
                .refilled_at
                .map_or(0.0, |at| now.duration_since(at).as_secs_f64());
            state.tokens = (state.tokens + elapsed * capacity).min(capacity);
            state.refilled_at = Some(now);
            if state.tokens < 1.0 {
                state.counters.rejected_rate += 1;
                return Err(Refusal::Rate);
            }
        }
        if let Some(max) = state.limits.max_concurrent_calls
            && state.counters.lines_in_use >= max
        {
            state.counters.rejected_concurrency += 1;
            return Err(Refusal::Concurrency);
        }
        if state.limits.calls_per_second.is_some() {
            state.tokens -= 1.0;
        }
        state.counters.lines_in_use += 1;
        state.counters.peak_concurrent_calls = state
            .counters
            .peak_concurrent_calls
            .max(state.counters.lines_in_use);
        while state
            .recent
            .front()
            .is_some_and(|at| now.duration_since(*at).as_secs_f64() >= 1.0)
        {
            state.recent.pop_front();
        }
        state.recent.push_back(now);
        let in_last_second = u32::try_from(state.recent.len()).unwrap_or(u32::MAX);
        state.counters.peak_calls_per_second =
            state.counters.peak_calls_per_second.max(in_last_second);
        Ok(())
    }

    /// Frees the line of a call that ended.
    pub fn release(&self) {
        let mut state = self.lock();
        state.counters.lines_in_use = state.counters.lines_in_use.saturating_sub(1);
    }
}

/// Registers `/sim/voice/limits`.
pub(crate) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/sim/voice/limits", web::get().to(get_limits))
        .route("/sim/voice/limits", web::put().to(put_limits))
        .route("/sim/voice/limits", web::delete().to(delete_limits));
}

fn limits_json(limits: Limits, counters: Counters) -> serde_json::Value {
    serde_json::json!({"limits": limits, "counters": counters})
}

async fn get_limits(state: web::Data<SimState>) -> HttpResponse {
    let (limits, counters) = state.limits.snapshot();
    HttpResponse::Ok().json(limits_json(limits, counters))
}

async fn put_limits(
    state: web::Data<SimState>,
    body: web::Bytes,
) -> Result<HttpResponse, SimApiError> {
    let limits: Limits = serde_json::from_slice(&body)?;
    if limits.calls_per_second == Some(0) || limits.max_concurrent_calls == Some(0) {
        return Err(SimApiError::InvalidRequest(
            "limits must be at least 1 (or null for none)".to_owned(),
        ));
    }
    state.limits.set(limits);
    tracing::info!(?limits, "voice limits set");
    let (limits, counters) = state.limits.snapshot();
    Ok(HttpResponse::Ok().json(limits_json(limits, counters)))
}

async fn delete_limits(state: web::Data<SimState>) -> HttpResponse {
    state.limits.set(Limits::default());
    HttpResponse::NoContent().finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_admits_one_second_of_requests_then_refuses() {
        let limits = VoiceLimits::default();
        limits.set(Limits {
            calls_per_second: Some(3),
            max_concurrent_calls: None,
        });
        for _ in 0..3 {
            assert_eq!(limits.admit(), Ok(()));
        }
        assert_eq!(limits.admit(), Err(Refusal::Rate));
        let (_, counters) = limits.snapshot();
        assert_eq!(counters.rejected_rate, 1);
        assert_eq!(counters.peak_calls_per_second, 3);
    }

    #[test]
    fn lines_are_held_until_released() {
        let limits = VoiceLimits::default();
        limits.set(Limits {
            calls_per_second: None,
            max_concurrent_calls: Some(2),
        });
        assert_eq!(limits.admit(), Ok(()));
        assert_eq!(limits.admit(), Ok(()));
        assert_eq!(limits.admit(), Err(Refusal::Concurrency));
        limits.release();
        assert_eq!(limits.admit(), Ok(()));
        let (_, counters) = limits.snapshot();
        assert_eq!(counters.peak_concurrent_calls, 2);
        assert_eq!(counters.rejected_concurrency, 1);
        assert_eq!(counters.lines_in_use, 2);
    }
}
