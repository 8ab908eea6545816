//! Reply scripts: how the subscriber at each destination number answers our texts.
//!
//! Each number has a script, a list of replies consumed one per outbound message to it. The
//! default depends on the number's last digit and answers only the first message (a person
//! answers the reminder, then reads our confirmation without replying). An override set with
//! `PUT /sim/sms/scripts/{e164}` replaces it and starts again from its first reply.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::lock;
use crate::SimState;
use crate::error::SimApiError;
use crate::script::{ScriptSource, number_key};

/// How long the callee takes to reply by default.
pub const DEFAULT_REPLY_DELAY_MS: u64 = 200;
/// Longest reply delay a script may ask for.
pub const MAX_REPLY_DELAY_MS: u64 = 60_000;
/// Longest reply a script may hold, in characters (Twilio's body limit).
pub const MAX_REPLY_CHARS: usize = 1600;

/// How the subscriber at one number replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyScript {
    /// One reply per outbound message to the number, in order; once they are used up the
    /// subscriber stays silent (unless `repeat`).
    #[serde(default)]
    pub replies: Vec<String>,
    /// How long after our message the reply arrives, in milliseconds.
    #[serde(default = "default_delay_ms")]
    pub delay_ms: u64,
    /// Whether every message after the last reply is answered with the last reply again.
    #[serde(default)]
    pub repeat: bool,
}

fn default_delay_ms() -> u64 {
    DEFAULT_REPLY_DELAY_MS
}

impl ReplyScript {
    /// Returns the built-in script for `number`, chosen by its last digit: 1 "Yes", 2 "No",
    /// 3 "STOP", 0 no reply, anything else "Yes"; the first message only.
    pub fn default_for(number: &str) -> Self {
        let reply = match number.trim().chars().last() {
            Some('0') => None,
            Some('2') => Some("No"),
            Some('3') => Some("STOP"),
            _ => Some("Yes"),
        };
        Self {
            replies: reply.map(str::to_owned).into_iter().collect(),
            delay_ms: DEFAULT_REPLY_DELAY_MS,
            repeat: false,
        }
    }

    /// Checks the delay and reply lengths.
    pub fn validate(&self) -> Result<(), SimApiError> {
        if self.delay_ms > MAX_REPLY_DELAY_MS {
            return Err(SimApiError::InvalidRequest(format!(
                "delay_ms must be at most {MAX_REPLY_DELAY_MS}"
            )));
        }
        if self
            .replies
            .iter()
            .any(|reply| reply.chars().count() > MAX_REPLY_CHARS)
        {
            return Err(SimApiError::InvalidRequest(format!(
                "each reply must be at most {MAX_REPLY_CHARS} characters"
            )));
        }
        Ok(())
    }

    /// Returns the reply to the message that follows `answered` earlier ones, if any.
    fn reply_after(&self, answered: usize) -> Option<&str> {
        match self.replies.get(answered) {
            Some(reply) => Some(reply),
            None if self.repeat => self.replies.last().map(String::as_str),
            None => None,
        }
    }
}

#[derive(Debug, Clone)]
struct Callee {
    script: ReplyScript,
    source: ScriptSource,
    /// Outbound messages to the number so far, under this script.
    messages_seen: usize,
}

/// One scripted reply to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedReply {
    /// The reply's text.
    pub body: String,
    /// How long to wait before sending it.
    pub delay: Duration,
}

/// Every number's script and how far it has got.
#[derive(Debug, Default)]
pub struct ReplyBook {
    callees: Mutex<HashMap<String, Callee>>,
}

impl ReplyBook {
    /// Counts one more outbound message to `number` and returns the reply it gets, if any.
    pub fn next_reply(&self, number: &str) -> Option<PlannedReply> {
        let mut callees = lock(&self.callees);
        let callee = callees.entry(number_key(number)).or_insert_with(|| Callee {
            script: ReplyScript::default_for(number),
            source: ScriptSource::Default,
            messages_seen: 0,
        });
        let reply = callee
            .script
            .reply_after(callee.messages_seen)
            .map(|body| PlannedReply {
                body: body.to_owned(),
                delay: Duration::from_millis(callee.script.delay_ms),
            });
        callee.messages_seen += 1;
        reply
    }

    /// Replaces `number`'s script and starts it from its first reply.
    pub fn set(&self, number: &str, script: ReplyScript) {
        lock(&self.callees).insert(
            number_key(number),
            Callee {
                script,
                source: ScriptSource::Override,
                messages_seen: 0,
            },
        );
    }

    /// Puts `number` back on its default script, from the start.
    pub fn reset(&self, number: &str) {
        lock(&self.callees).remove(&number_key(number));
    }

    /// Returns `number`'s script, where it came from and how many messages it has seen.
    pub fn view(&self, number: &str) -> ScriptView {
        let callees = lock(&self.callees);
        match callees.get(&number_key(number)) {
            Some(callee) => ScriptView {
                number: number.to_owned(),
                source: callee.source,
                messages_seen: callee.messages_seen,
                script: callee.script.clone(),
            },
            None => ScriptView {
                number: number.to_owned(),
                source: ScriptSource::Default,
                messages_seen: 0,
                script: ReplyScript::default_for(number),
            },
        }
    }

    /// Returns every override, sorted by number.
    pub fn overrides(&self) -> Vec<ScriptView> {
        let callees = lock(&self.callees);
        let mut views: Vec<ScriptView> = callees
            .iter()
            .filter(|(_, callee)| callee.source == ScriptSource::Override)
            .map(|(number, callee)| ScriptView {
                number: number.clone(),
                source: callee.source,
                messages_seen: callee.messages_seen,
                script: callee.script.clone(),
            })
            .collect();
        views.sort_by(|left, right| left.number.cmp(&right.number));
        views
    }
}

/// A number's script as the routes show it.
#[derive(Debug, Clone, Serialize)]
pub struct ScriptView {
    /// The number as asked for.
    pub number: String,
    /// `override` or `default`.
    pub source: ScriptSource,
    /// Outbound messages to the number under this script so far.
    pub messages_seen: usize,
    /// The script.
    #[serde(flatten)]
    pub script: ReplyScript,
}

/// Registers the reply-script routes.
pub(crate) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/sim/sms/scripts", web::get().to(list_scripts))
        .route("/sim/sms/scripts/{e164}", web::get().to(get_script))
        .route("/sim/sms/scripts/{e164}", web::put().to(put_script))
        .route("/sim/sms/scripts/{e164}", web::delete().to(delete_script));
}

async fn list_scripts(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(state.sms.scripts.overrides())
}

// `web::Path` percent-decodes, so `%2B15551234561` arrives as `+15551234561`.
async fn get_script(state: web::Data<SimState>, number: web::Path<String>) -> HttpResponse {
    HttpResponse::Ok().json(state.sms.scripts.view(&number.into_inner()))
}

async fn put_script(
    state: web::Data<SimState>,
    number: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, SimApiError> {
    let number = number.into_inner();
    let script: ReplyScript = serde_json::from_slice(&body)?;
    script.validate()?;
    state.sms.scripts.set(&number, script);
    tracing::info!(number = %crate::mask_number(&number), "sms reply script set");
    Ok(HttpResponse::Ok().json(state.sms.scripts.view(&number)))
}

async fn delete_script(state: web::Data<SimState>, number: web::Path<String>) -> HttpResponse {
    let number = number.into_inner();
    state.sms.scripts.reset(&number);
    tracing::info!(number = %crate::mask_number(&number), "sms reply script back to default");
    HttpResponse::NoContent().finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replies(book: &ReplyBook, number: &str, messages: usize) -> Vec<Option<String>> {
        (0..messages)
            .map(|_| book.next_reply(number).map(|reply| reply.body))
            .collect()
    }

    #[test]
    fn the_default_answers_the_first_message_by_last_digit() {
        let book = ReplyBook::default();
        let yes = Some("Yes".to_owned());
        assert_eq!(replies(&book, "+15550000001", 2), [yes.clone(), None]);
        assert_eq!(replies(&book, "+15550000002", 1), [Some("No".to_owned())]);
        assert_eq!(replies(&book, "+15550000003", 1), [Some("STOP".to_owned())]);
        assert_eq!(replies(&book, "+15550000000", 2), [None, None]);
        assert_eq!(replies(&book, "+15550000007", 1), [yes]);
        let delay = ReplyBook::default()
            .next_reply("+15550000001")
            .unwrap()
            .delay;
        assert_eq!(delay, Duration::from_millis(DEFAULT_REPLY_DELAY_MS));
    }

    #[test]
    fn an_override_consumes_its_replies_then_stays_silent_or_repeats() {
        let book = ReplyBook::default();
        // A message under the default first: setting the script starts it afresh.
        book.next_reply("+15550000001");
        let script = |repeat| ReplyScript {
            replies: vec!["maybe".to_owned(), "Yes".to_owned()],
            delay_ms: 5,
            repeat,
        };
        book.set("15550000001", script(false));
        assert_eq!(
            replies(&book, "+15550000001", 3),
            [Some("maybe".to_owned()), Some("Yes".to_owned()), None]
        );
        book.set("+15550000001", script(true));
        assert_eq!(
            replies(&book, "+15550000001", 4),
            [
                Some("maybe".to_owned()),
                Some("Yes".to_owned()),
                Some("Yes".to_owned()),
                Some("Yes".to_owned())
            ]
        );
        book.reset("+15550000001");
        assert_eq!(book.view("+15550000001").source, ScriptSource::Default);
        assert_eq!(replies(&book, "+15550000001", 1), [Some("Yes".to_owned())]);
    }

    #[test]
    fn an_empty_body_is_a_silent_callee_with_the_default_delay() {
        let script: ReplyScript = serde_json::from_str("{}").unwrap();
        assert!(script.replies.is_empty());
        assert_eq!(script.delay_ms, DEFAULT_REPLY_DELAY_MS);
        assert!(!script.repeat);
    }

    #[test]
    fn long_delays_are_refused() {
        let script = ReplyScript {
            replies: Vec::new(),
            delay_ms: MAX_REPLY_DELAY_MS + 1,
            repeat: false,
        };
        assert!(script.validate().is_err());
    }
}
