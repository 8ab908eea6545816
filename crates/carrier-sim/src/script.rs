//! Callee scripts: how the simulated person at each destination number behaves.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::SimState;
use crate::error::SimApiError;

/// Longest ring delay a script may ask for, so a typo cannot park a call for hours.
pub const MAX_RING_MS: u64 = 60_000;

/// What the callee does when a Gather finds no scripted digits left (carriers.md 2.3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoInputMode {
    /// Continue with the element after the Gather (the documented Vobiz/Plivo behaviour).
    #[default]
    Fallthrough,
    /// POST to the Gather's action with an empty `Digits` (the behaviour one Vobiz guide claims).
    PostEmpty,
}

/// What is at the other end of the line when the phone rings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Line {
    /// A person picks up (unless `answer` is false).
    #[default]
    Person,
    /// The line is busy: hangup callback `CallStatus=busy`, `HangupCause=USER_BUSY`.
    Busy,
    /// The call cannot be connected: `CallStatus=failed`, `HangupCause=UNALLOCATED_NUMBER`.
    Failed,
    /// An answering machine picks up. With `machine_detection` on the make-call request the
    /// answer request carries `Machine=true` (and `machine_detection_url` is told first);
    /// without it the machine behaves like a person who never presses anything.
    Machine,
}

/// Failure injected into the make-call API answer for calls to one number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiFault {
    /// The status to answer instead of 201 (e.g. 429, 500, 503).
    #[serde(default)]
    pub status: Option<u16>,
    /// How long to wait before answering, in milliseconds (a slow carrier).
    #[serde(default)]
    pub delay_ms: u64,
    /// Whether the call is fired anyway (a 5xx that hides a placed call, carriers.md 1.6).
    #[serde(default)]
    pub fire_anyway: bool,
    /// How many make-call requests get the fault; `0` means every one.
    #[serde(default)]
    pub times: u32,
}

/// How the callee at one number behaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalleeScript {
    /// Whether the callee picks up; `false` ends the call as no-answer.
    #[serde(default = "default_answer")]
    pub answer: bool,
    /// One entry per Gather, in order; an entry may hold several keys ("12"), and an empty
    /// entry means "no input at this Gather".
    #[serde(default)]
    pub digits: Vec<String>,
    /// How long the phone rings before it is answered (or given up on), in milliseconds.
    #[serde(default)]
    pub ring_ms: u64,
    /// What happens at a Gather once no entries are left (or at an empty entry).
    #[serde(default)]
    pub no_input: NoInputMode,
    /// Who picks up.
    #[serde(default)]
    pub line: Line,
    /// The callee hangs up after hearing this many `<Speak>`s (mid-prompt).
    #[serde(default)]
    pub hangup_after_speaks: Option<u32>,
    /// Every answer, action and hangup webhook is sent twice (fresh nonce), the second answer
    /// ignored: the carrier retrying a request the application already handled.
    #[serde(default)]
    pub duplicate_webhooks: bool,
    /// After the hangup callback, the last Gather action is sent again: a late, out-of-order
    /// webhook for a call that is over.
    #[serde(default)]
    pub late_action_after_hangup: bool,
    /// A fault in the make-call API answer.
    #[serde(default)]
    pub api_fault: Option<ApiFault>,
}

fn default_answer() -> bool {
    true
}

/// Why a script was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScriptError {
    /// A digits entry holds a character that is not a DTMF key.
    #[error("digits entry {entry:?} may only contain 0-9, * and #")]
    InvalidDigits {
        /// The offending entry.
        entry: String,
    },
    /// The ring delay is longer than `MAX_RING_MS`.
    #[error("ring_ms and api_fault.delay_ms must be at most {MAX_RING_MS}")]
    RingTooLong,
    /// An injected API status that is not an error status.
    #[error("api_fault.status must be from 400 to 599")]
    InvalidApiStatus,
}

impl CalleeScript {
    /// Returns the built-in script for `number`, chosen by its last digit.
    ///
    /// 1 presses "1", 2 presses "2", 3 presses "3" then "1", 9 answers and presses nothing,
    /// 0 never answers, and anything else presses "1".
    pub fn default_for(number: &str) -> Self {
        let pressing = |digits: &[&str]| Self {
            answer: true,
            digits: digits.iter().map(|digit| (*digit).to_owned()).collect(),
            ring_ms: 0,
            no_input: NoInputMode::Fallthrough,
            line: Line::Person,
            hangup_after_speaks: None,
            duplicate_webhooks: false,
            late_action_after_hangup: false,
            api_fault: None,
        };
        match number.trim().chars().last() {
            Some('2') => pressing(&["2"]),
            Some('3') => pressing(&["3", "1"]),
            Some('9') => pressing(&[]),
            Some('0') => Self {
                answer: false,
                ..pressing(&[])
            },
            _ => pressing(&["1"]),
        }
    }

    /// Checks that every digits entry is made of DTMF keys and the ring delay is sane.
    pub fn validate(&self) -> Result<(), ScriptError> {
        for entry in &self.digits {
            let only_keys = entry
                .chars()
                .all(|key| key.is_ascii_digit() || key == '*' || key == '#');
            if !only_keys {
                return Err(ScriptError::InvalidDigits {
                    entry: entry.clone(),
                });
            }
        }
        if self.ring_ms > MAX_RING_MS {
            return Err(ScriptError::RingTooLong);
        }
        if let Some(fault) = &self.api_fault {
            if fault.delay_ms > MAX_RING_MS {
                return Err(ScriptError::RingTooLong);
            }
            if fault
                .status
                .is_some_and(|status| !(400..=599).contains(&status))
            {
                return Err(ScriptError::InvalidApiStatus);
            }
        }
        Ok(())
    }
}

/// Returns the key scripts are stored under: the number without whitespace or a leading '+'.
///
/// A '+' in a query string arrives as a space, and some clients drop it, so `+15551234561`,
/// ` 15551234561` and `15551234561` all name the same callee.
pub fn number_key(number: &str) -> String {
    number.trim().trim_start_matches('+').trim().to_owned()
}

/// The script overrides set through `PUT /sim/voice/scripts/{e164}`.
#[derive(Debug, Default)]
pub struct ScriptBook {
    overrides: RwLock<HashMap<String, CalleeScript>>,
    /// Make-call requests that got each number's injected API fault so far.
    faults_served: RwLock<HashMap<String, u32>>,
}

impl ScriptBook {
    /// Returns the script for `number`: its override if one is set, else the default.
    pub fn script_for(&self, number: &str) -> (CalleeScript, ScriptSource) {
        let overrides = self
            .overrides
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match overrides.get(&number_key(number)) {
            Some(script) => (script.clone(), ScriptSource::Override),
            None => (CalleeScript::default_for(number), ScriptSource::Default),
        }
    }

    /// Returns whether the next make-call request to `number` gets `fault`, counting it.
    pub fn take_fault(&self, number: &str, fault: &ApiFault) -> bool {
        let mut served = self
            .faults_served
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let count = served.entry(number_key(number)).or_insert(0);
        if fault.times != 0 && *count >= fault.times {
            return false;
        }
        *count += 1;
        true
    }

    /// Sets the override for `number`, replacing any earlier one.
    pub fn set(&self, number: &str, script: CalleeScript) {
        self.faults_served
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&number_key(number));
        let mut overrides = self
            .overrides
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        overrides.insert(number_key(number), script);
    }

    /// Removes the override for `number`; returns whether there was one.
    pub fn remove(&self, number: &str) -> bool {
        let mut overrides = self
            .overrides
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        overrides.remove(&number_key(number)).is_some()
    }

    /// Returns every override, sorted by number key.
    pub fn overrides(&self) -> Vec<(String, CalleeScript)> {
        let overrides = self
            .overrides
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<_> = overrides
            .iter()
            .map(|(number, script)| (number.clone(), script.clone()))
            .collect();
        all.sort_by(|left, right| left.0.cmp(&right.0));
        all
    }
}

/// Where a script came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptSource {
    /// Set through the script API.
    Override,
    /// Chosen by the number's last digit.
    Default,
}

/// Registers the callee-script routes.
pub(crate) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/sim/voice/scripts", web::get().to(list_scripts))
        .route("/sim/voice/scripts/{e164}", web::get().to(get_script))
        .route("/sim/voice/scripts/{e164}", web::put().to(put_script))
        .route("/sim/voice/scripts/{e164}", web::delete().to(delete_script));
}

#[derive(Debug, Serialize)]
struct ScriptView {
    number: String,
    source: ScriptSource,
    #[serde(flatten)]
    script: CalleeScript,
}

async fn list_scripts(state: web::Data<SimState>) -> HttpResponse {
    let overrides: Vec<ScriptView> = state
        .scripts
        .overrides()
        .into_iter()
        .map(|(number, script)| ScriptView {
            number,
            source: ScriptSource::Override,
            script,
        })
        .collect();
    HttpResponse::Ok().json(overrides)
}

// `web::Path` percent-decodes the segment, so `%2B15551234561` arrives as `+15551234561`.
async fn get_script(state: web::Data<SimState>, number: web::Path<String>) -> HttpResponse {
    let number = number.into_inner();
    let (script, source) = state.scripts.script_for(&number);
    HttpResponse::Ok().json(ScriptView {
        number,
        source,
        script,
    })
}

async fn put_script(
    state: web::Data<SimState>,
    number: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, SimApiError> {
    let number = number.into_inner();
    let script: CalleeScript = serde_json::from_slice(&body)?;
    script.validate()?;
    state.scripts.set(&number, script.clone());
    tracing::info!(number = %number, answer = script.answer, digits = ?script.digits, "callee script set");
    Ok(HttpResponse::Ok().json(ScriptView {
        number,
        source: ScriptSource::Override,
        script,
    }))
}

async fn delete_script(state: web::Data<SimState>, number: web::Path<String>) -> HttpResponse {
    let number = number.into_inner();
    let removed = state.scripts.remove(&number);
    tracing::info!(number = %number, removed, "callee script override removed");
    // Idempotent: removing an absent override is not an error, so test teardown can always call it.
    HttpResponse::NoContent().finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits_of(number: &str) -> Vec<String> {
        CalleeScript::default_for(number).digits
    }

    #[test]
    fn default_script_follows_the_last_digit() {
        assert_eq!(digits_of("+15550000001"), ["1"]);
        assert_eq!(digits_of("+15550000002"), ["2"]);
        assert_eq!(digits_of("+15550000003"), ["3", "1"]);
        assert!(digits_of("+15550000009").is_empty());
        assert!(CalleeScript::default_for("+15550000009").answer);
        assert_eq!(digits_of("+15550000005"), ["1"]);
        assert_eq!(digits_of("+15550000007"), ["1"]);
    }

    #[test]
    fn numbers_ending_in_zero_never_answer() {
        let script = CalleeScript::default_for("+15550000000");
        assert!(!script.answer);
        assert!(script.digits.is_empty());
    }

    #[test]
    fn defaults_ring_immediately_and_fall_through() {
        let script = CalleeScript::default_for("+15550000001");
        assert_eq!(script.ring_ms, 0);
        assert_eq!(script.no_input, NoInputMode::Fallthrough);
    }

    #[test]
    fn an_empty_override_body_gets_sane_defaults() {
        let script: CalleeScript = serde_json::from_str("{}").unwrap();
        assert!(script.answer);
        assert!(script.digits.is_empty());
        assert_eq!(script.ring_ms, 0);
        assert_eq!(script.no_input, NoInputMode::Fallthrough);
    }

    #[test]
    fn no_input_mode_parses_post_empty() {
        let script: CalleeScript = serde_json::from_str(r#"{"no_input":"post_empty"}"#).unwrap();
        assert_eq!(script.no_input, NoInputMode::PostEmpty);
    }

    #[test]
    fn validation_rejects_non_dtmf_keys() {
        let script = CalleeScript {
            digits: vec!["1a".to_owned()],
            ..CalleeScript::default_for("1")
        };
        assert_eq!(
            script.validate(),
            Err(ScriptError::InvalidDigits {
                entry: "1a".to_owned()
            })
        );
    }

    #[test]
    fn overrides_replace_and_restore_the_default() {
        let book = ScriptBook::default();
        let custom = CalleeScript {
            answer: true,
            digits: vec!["3".to_owned(), "1".to_owned()],
            ring_ms: 5,
            no_input: NoInputMode::PostEmpty,
            ..CalleeScript::default_for("1")
        };
        book.set("+15550000001", custom.clone());
        assert_eq!(
            book.script_for(" 15550000001"),
            (custom, ScriptSource::Override)
        );
        assert!(book.remove("+15550000001"));
        assert_eq!(book.script_for("+15550000001").1, ScriptSource::Default);
        assert!(!book.remove("+15550000001"));
    }
}
