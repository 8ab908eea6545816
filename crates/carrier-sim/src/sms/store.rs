//! Every SMS the sim saw, both ways, and the routes tests read them through.

use std::sync::Mutex;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::encoding::{self, Encoding};
use super::{Api, lock};
use crate::SimState;
use crate::error::SimApiError;
use crate::script::number_key;

/// Which way a message went, seen from the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Sent by the application through a send API.
    Outbound,
    /// Sent by a subscriber (the scripted callee or an injected message) to the application.
    Inbound,
}

/// One HTTP request from the sim to the application about a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookAttempt {
    /// The URL requested.
    pub url: String,
    /// For status callbacks, the status reported (`sent`, `delivered`); `None` for inbound.
    pub event: Option<String>,
    /// Which delivery this was: 1, or 2 for the duplicate of an injected `duplicate: true`.
    pub delivery: u32,
    /// Which try within the delivery (a 5xx or a connection failure is retried).
    pub attempt: u32,
    /// The status the application answered, if it answered.
    pub status: Option<u16>,
    /// Why no answer arrived, if so.
    pub error: Option<String>,
    /// When the request was sent.
    pub sent_at: DateTime<Utc>,
}

/// One message, as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct MessageRecord {
    /// The carrier's id: `mdr2-<32 hex>` (Flowroute) or `SM<32 hex>` (Twilio).
    pub id: String,
    /// Which way it went.
    pub direction: Direction,
    /// Which carrier API carried it.
    pub api: Api,
    /// Sender, E.164 with '+'.
    pub from: String,
    /// Recipient, E.164 with '+'.
    pub to: String,
    /// The text.
    pub body: String,
    /// GSM-7 or UCS-2.
    pub encoding: Encoding,
    /// How many SMS the body takes.
    pub segments: u32,
    /// When the carrier accepted (outbound) or received (inbound) it.
    pub created_at: DateTime<Utc>,
    /// Outbound: the status callback URL given when sending (`StatusCallback`, `dlr_callback`).
    pub status_callback: Option<String>,
    /// Outbound: the status callbacks sent so far.
    pub status_callbacks: Vec<WebhookAttempt>,
    /// Inbound: the outbound message the callee answered, when it is a scripted reply.
    pub in_reply_to: Option<String>,
    /// Inbound: where the message was posted.
    pub webhook_url: Option<String>,
    /// Inbound: the status the application answered to the latest request, if any.
    pub webhook_status: Option<u16>,
    /// Inbound: every request made to deliver it, retries and duplicates included.
    pub webhook_attempts: Vec<WebhookAttempt>,
}

impl MessageRecord {
    /// Returns a new record with the encoding and segment count of `body`.
    pub fn new(
        id: String,
        direction: Direction,
        api: Api,
        from: String,
        to: String,
        body: String,
    ) -> Self {
        let info = encoding::analyse(&body);
        Self {
            id,
            direction,
            api,
            from,
            to,
            body,
            encoding: info.encoding,
            segments: info.segments,
            created_at: Utc::now(),
            status_callback: None,
            status_callbacks: Vec::new(),
            in_reply_to: None,
            webhook_url: None,
            webhook_status: None,
            webhook_attempts: Vec::new(),
        }
    }
}

/// Which messages to list.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageFilter {
    /// Only messages to this number (compared without '+').
    pub to: Option<String>,
    /// Only messages from this number (compared without '+').
    pub from: Option<String>,
    /// Only messages in this direction.
    pub direction: Option<Direction>,
}

impl MessageFilter {
    fn matches(&self, record: &MessageRecord) -> bool {
        let number_matches = |wanted: &Option<String>, number: &str| {
            wanted
                .as_deref()
                .is_none_or(|wanted| number_key(wanted) == number_key(number))
        };
        number_matches(&self.to, &record.to)
            && number_matches(&self.from, &record.from)
            && self
                .direction
                .is_none_or(|direction| direction == record.direction)
    }
}

/// How many messages the store holds, by direction.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MessageCounts {
    /// Messages the application sent.
    pub outbound: usize,
    /// Messages subscribers sent (scripted replies and injected ones).
    pub inbound: usize,
    /// Inbound messages whose latest webhook request the application answered with a 2xx.
    pub inbound_answered: usize,
}

/// Every message since start-up (or the last clear), oldest first.
#[derive(Debug, Default)]
pub struct MessageStore {
    messages: Mutex<Vec<MessageRecord>>,
}

impl MessageStore {
    /// Adds a message.
    pub fn insert(&self, record: MessageRecord) {
        lock(&self.messages).push(record);
    }

    /// Changes the message `id` (the first with that id), if still recorded; returns a copy.
    pub fn update(
        &self,
        id: &str,
        change: impl FnOnce(&mut MessageRecord),
    ) -> Option<MessageRecord> {
        let mut messages = lock(&self.messages);
        let record = messages.iter_mut().find(|record| record.id == id)?;
        change(record);
        Some(record.clone())
    }

    /// Returns a copy of the message `id`.
    pub fn get(&self, id: &str) -> Option<MessageRecord> {
        lock(&self.messages)
            .iter()
            .find(|record| record.id == id)
            .cloned()
    }

    /// Returns the messages `filter` matches, oldest first.
    pub fn list(&self, filter: &MessageFilter) -> Vec<MessageRecord> {
        lock(&self.messages)
            .iter()
            .filter(|record| filter.matches(record))
            .cloned()
            .collect()
    }

    /// Returns how many messages went each way, and how many inbound ones the application
    /// answered with a 2xx.
    pub fn counts(&self) -> MessageCounts {
        let messages = lock(&self.messages);
        let mut counts = MessageCounts::default();
        for record in messages.iter() {
            match record.direction {
                Direction::Outbound => counts.outbound += 1,
                Direction::Inbound => {
                    counts.inbound += 1;
                    if record
                        .webhook_status
                        .is_some_and(|status| (200..300).contains(&status))
                    {
                        counts.inbound_answered += 1;
                    }
                }
            }
        }
        counts
    }

    /// Forgets every message.
    pub fn clear(&self) {
        lock(&self.messages).clear();
    }
}

/// Registers the message inspection routes.
pub(crate) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/sim/messages", web::get().to(list_messages))
        .route("/sim/messages", web::delete().to(clear_messages))
        .route("/sim/messages/{id}", web::get().to(get_message));
}

async fn list_messages(
    state: web::Data<SimState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, SimApiError> {
    let filter = parse_filter(&query.into_inner())?;
    Ok(HttpResponse::Ok().json(state.sms.messages.list(&filter)))
}

/// Parses the query by hand so a bad value gets the sim's error body, not actix's text.
fn parse_filter(pairs: &[(String, String)]) -> Result<MessageFilter, SimApiError> {
    let mut filter = MessageFilter::default();
    for (name, value) in pairs {
        match name.as_str() {
            "to" => filter.to = Some(value.clone()),
            "from" => filter.from = Some(value.clone()),
            "direction" => {
                filter.direction = Some(match value.as_str() {
                    "outbound" => Direction::Outbound,
                    "inbound" => Direction::Inbound,
                    _ => {
                        return Err(SimApiError::InvalidQuery(
                            "direction must be outbound or inbound".to_owned(),
                        ));
                    }
                });
            }
            other => {
                return Err(SimApiError::InvalidQuery(format!(
                    "unknown parameter {other:?}; expected to, from or direction"
                )));
            }
        }
    }
    Ok(filter)
}

async fn get_message(
    state: web::Data<SimState>,
    id: web::Path<String>,
) -> Result<HttpResponse, SimApiError> {
    let id = id.into_inner();
    let record = state
        .sms
        .messages
        .get(&id)
        .ok_or(SimApiError::MessageNotFound(id))?;
    Ok(HttpResponse::Ok().json(record))
}

async fn clear_messages(state: web::Data<SimState>) -> HttpResponse {
    state.sms.messages.clear();
    tracing::info!("sms records cleared");
    HttpResponse::NoContent().finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(direction: Direction, from: &str, to: &str) -> MessageRecord {
        MessageRecord::new(
            "id".to_owned(),
            direction,
            Api::Twilio,
            from.to_owned(),
            to.to_owned(),
            "Yes".to_owned(),
        )
    }

    #[test]
    fn filters_compare_numbers_without_plus_and_check_direction() {
        let outbound = record(Direction::Outbound, "+15550001000", "+15550000001");
        let filter = parse_filter(&[
            ("to".to_owned(), " 15550000001".to_owned()),
            ("direction".to_owned(), "outbound".to_owned()),
        ])
        .unwrap();
        assert!(filter.matches(&outbound));
        let inbound = record(Direction::Inbound, "+15550000001", "+15550001000");
        assert!(!filter.matches(&inbound));
    }

    #[test]
    fn unknown_filters_and_directions_are_refused() {
        assert!(parse_filter(&[("direction".to_owned(), "sideways".to_owned())]).is_err());
        assert!(parse_filter(&[("body".to_owned(), "x".to_owned())]).is_err());
    }
}
