//! The `/events/reminders` dialect's model: event reminders of the event-reminders API
//! (seeds/event-reminders.txt), each backed by a native free-form appointment of an
//! appointment type, whose reminder policy gives the texts.
//!
//! - The plan: one SMS reminder `remindTimeOffset` before `eventDateTime` (`PT3H` when the
//!   request leaves it out and the type's policy plans no reminders; the policy's reminders
//!   when it does), and a follow-up `followUpTimeOffset` after `eventDateTime` (or the
//!   policy's). The original has no event end, so follow-ups count from the event time; the
//!   appointment is stored with the native default length.
//! - `externalEventId` deduplicates per subscriber (tenant, phone): creating the same event
//!   again answers the first reminder. Concurrent duplicates serialize on an advisory lock.
//! - An update replans in one transaction (`appointment.rescheduled`); cancel and no-show
//!   are the native commands.
//!
//! docs/event-reminders-dialect.md lists each choice and each difference from the original.

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use attend_runtime::outbox::RelayWake;

use crate::auth::Tenant;
use crate::booking::BookingError;
use crate::booking::commands::{self, CancelBooking, ReplanAppointment, ScheduleAppointment};
use crate::booking::plans::{self, Plan, PlanRequest};
use crate::db::schema::event_reminders;
use crate::domain::appointment::{
    Channel, DEFAULT_DURATION_MINUTES, NewAppointment, PlannedReminder,
};
use crate::domain::offset::Offset;
use crate::domain::phone::normalize_e164;
use crate::domain::reminder_policy::validate_metadata;
use crate::domain::validation::Issues;

/// The offset the original applies when `remindTimeOffset` is left out.
pub const DEFAULT_REMIND_OFFSET: &str = crate::domain::reminder_policy::DEFAULT_REMINDER_OFFSET;
/// The language of the texts: the original sends none.
const LOCALE: &str = "en";
/// The longest free-text field.
const MAX_TEXT: usize = 200;

/// Why a request failed, in the dialect's terms.
#[derive(Debug, thiserror::Error)]
pub enum EventReminderError {
    /// 400, with `(field, message)` pairs.
    #[error("bad request")]
    BadRequest(Vec<(String, String)>),
    /// 404.
    #[error("not found")]
    NotFound,
    /// 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<diesel::result::Error> for EventReminderError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Internal(error.into())
    }
}

fn bad(field: &str, message: impl Into<String>) -> EventReminderError {
    EventReminderError::BadRequest(vec![(field.to_owned(), message.into())])
}

/// A reminder as the dialect shows it (the seed's sample responses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventReminder {
    /// Its id.
    pub uuid: Uuid,
    /// The caller's id of the event, when sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_event_id: Option<String>,
    /// As sent.
    pub phone: String,
    /// As sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// As sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// `{"uuid": …}`.
    pub event_type: EventTypeRef,
    /// As sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
    /// As sent, or the default.
    pub remind_time_offset: String,
    /// As sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_up_time_offset: Option<String>,
    /// Local to `subscriberTimeZone`, as sent.
    pub event_date_time: String,
    /// IANA zone.
    pub subscriber_time_zone: String,
    /// As sent (false when not).
    pub send_eligible_subscribers_only: bool,
    /// As sent, values as text.
    pub metadata: Value,
    /// active | cancelled | no_show (an addition: the original does not say).
    pub status: String,
}

/// The `eventType` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventTypeRef {
    /// The appointment type's id.
    pub uuid: Uuid,
}

type Row = (
    Uuid,
    Uuid,
    Option<String>,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Uuid,
    String,
    Option<String>,
    String,
    String,
    bool,
    Value,
    String,
);

fn to_reminder(row: Row) -> (EventReminder, Uuid, String) {
    let (
        id,
        appointment_id,
        external_event_id,
        phone_e164,
        phone,
        first_name,
        last_name,
        email_address,
        event_type_id,
        remind_time_offset,
        follow_up_time_offset,
        event_date_time,
        subscriber_time_zone,
        send_eligible_only,
        metadata,
        status,
    ) = row;
    (
        EventReminder {
            uuid: id,
            external_event_id,
            phone,
            first_name,
            last_name,
            event_type: EventTypeRef {
                uuid: event_type_id,
            },
            email_address,
            remind_time_offset,
            follow_up_time_offset,
            event_date_time,
            subscriber_time_zone,
            send_eligible_subscribers_only: send_eligible_only,
            metadata,
            status,
        },
        appointment_id,
        phone_e164,
    )
}

macro_rules! columns {
    () => {
        (
            event_reminders::id,
            event_reminders::appointment_id,
            event_reminders::external_event_id,
            event_reminders::phone_e164,
            event_reminders::phone,
            event_reminders::first_name,
            event_reminders::last_name,
            event_reminders::email_address,
            event_reminders::event_type_id,
            event_reminders::remind_time_offset,
            event_reminders::follow_up_time_offset,
            event_reminders::event_date_time,
            event_reminders::subscriber_time_zone,
            event_reminders::send_eligible_only,
            event_reminders::metadata,
            event_reminders::status,
        )
    };
}

/// Returns the tenant's reminder `id` with its appointment and E.164 phone, locked for a
/// change when `lock`.
async fn find(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
    lock: bool,
) -> QueryResult<Option<(EventReminder, Uuid, String)>> {
    let query = event_reminders::table
        .filter(event_reminders::id.eq(id))
        .filter(event_reminders::tenant_id.eq(tenant_id))
        .select(columns!());
    let row: Option<Row> = if lock {
        query.for_update().first(connection).await.optional()?
    } else {
        query.first(connection).await.optional()?
    };
    Ok(row.map(to_reminder))
}

/// The fields of a body, read leniently (the original's clients send numbers as text and
/// the reverse) and checked strictly.
struct Fields<'a> {
    body: &'a Map<String, Value>,
    issues: Issues,
}

impl<'a> Fields<'a> {
    fn new(body: &'a Map<String, Value>) -> Self {
        Self {
            body,
            issues: Issues::default(),
        }
    }

    /// Returns a text field: strings as they are, numbers as written; `None` when absent or
    /// null.
    fn text(&mut self, name: &str) -> Option<String> {
        match self.body.get(name)? {
            Value::Null => None,
            Value::String(text) => {
                let text = text.trim().to_owned();
                if text.chars().count() > MAX_TEXT {
                    self.issues
                        .add(name, format!("must be at most {MAX_TEXT} characters"));
                    return None;
                }
                Some(text).filter(|text| !text.is_empty())
            }
            Value::Number(number) => Some(number.to_string()),
            _ => {
                self.issues.add(name, "must be a string");
                None
            }
        }
    }

    fn required_text(&mut self, name: &str) -> Option<String> {
        let known_problems = self.issues.len();
        let value = self.text(name);
        // `text` names a malformed value itself; what is left is an absent or empty one.
        if value.is_none() && self.issues.len() == known_problems {
            self.issues.add(name, "is required");
        }
        value
    }

    fn flag(&mut self, name: &str) -> Option<bool> {
        match self.body.get(name)? {
            Value::Null => None,
            Value::Bool(flag) => Some(*flag),
            Value::String(text) if text.eq_ignore_ascii_case("true") => Some(true),
            Value::String(text) if text.eq_ignore_ascii_case("false") => Some(false),
            _ => {
                self.issues.add(name, "must be true or false");
                None
            }
        }
    }

    fn event_type(&mut self) -> Option<Uuid> {
        match self.body.get("eventType")? {
            Value::Null => None,
            Value::Object(object) => match object.get("uuid") {
                Some(Value::String(text)) => text
                    .trim()
                    .parse()
                    .map_err(|_| self.issues.add("eventType.uuid", "must be a UUID"))
                    .ok(),
                _ => {
                    self.issues.add("eventType.uuid", "is required");
                    None
                }
            },
            _ => {
                self.issues
                    .add("eventType", "must be an object such as {\"uuid\": \"…\"}");
                None
            }
        }
    }

    fn offset(&mut self, name: &str) -> Option<(String, Offset)> {
        let text = self.text(name)?;
        match Offset::parse(&text) {
            Ok(offset) => Some((text, offset)),
            Err(message) => {
                self.issues.add(name, message);
                None
            }
        }
    }

    fn zone(&mut self) -> Option<(String, Tz)> {
        let text = self.text("subscriberTimeZone")?;
        match text.parse::<Tz>() {
            Ok(zone) => Some((text, zone)),
            Err(_) => {
                self.issues.add(
                    "subscriberTimeZone",
                    "must be an IANA time zone such as America/New_York",
                );
                None
            }
        }
    }

    fn metadata(&mut self) -> Option<Value> {
        let value = self.body.get("metadata")?;
        Some(validate_metadata(Some(value), "metadata", &mut self.issues))
    }

    fn email(&mut self) -> Option<String> {
        let email = self.text("emailAddress")?;
        let looks_valid = email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
        if !looks_valid {
            self.issues.add(
                "emailAddress",
                "must be an address such as name@example.com",
            );
        }
        Some(email)
    }

    fn finish(self) -> Result<(), EventReminderError> {
        let fields = self.issues.into_fields();
        if fields.is_empty() {
            Ok(())
        } else {
            Err(EventReminderError::BadRequest(fields))
        }
    }
}

/// Reads `eventDateTime` in `zone`: a local date-time (`2021-01-06T16:50:00`, seconds
/// optional), or one with an offset or `Z`, which names the instant itself.
pub fn event_instant(text: &str, zone: Tz) -> Result<DateTime<Utc>, String> {
    const SHAPE: &str = "must be an ISO 8601 date-time such as 2021-01-06T16:50:00";
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f"))
        .map_err(|_| SHAPE.to_owned())?;
    match zone.from_local_datetime(&local) {
        chrono::LocalResult::Single(at) => Ok(at.with_timezone(&Utc)),
        // The fall-back hour happens twice; the original names no rule, the first is the
        // one a person writing it most likely means.
        chrono::LocalResult::Ambiguous(first, _) => Ok(first.with_timezone(&Utc)),
        chrono::LocalResult::None => Err(format!(
            "does not exist in {zone}: the clocks skip it (daylight saving time)"
        )),
    }
}

/// The request after validation, before its plan.
struct Wanted {
    phone_e164: String,
    zone: Tz,
    start: DateTime<Utc>,
    event_type_id: Uuid,
    remind: Option<(String, Offset)>,
    follow_up: Option<(String, Offset)>,
    metadata: Value,
    eligible_only: bool,
}

/// Returns the plan of `wanted`, or the 400 naming what is wrong with it.
async fn plan_of(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    wanted: &Wanted,
) -> Result<(Plan, String), EventReminderError> {
    let explicit = wanted.remind.as_ref().map(|(_, offset)| {
        vec![PlannedReminder {
            channel: Channel::Sms,
            due_at: offset.before(wanted.start, wanted.zone),
        }]
    });
    let request = PlanRequest {
        appointment_type_id: Some(wanted.event_type_id),
        reminders: explicit.as_deref(),
        follow_up: wanted.follow_up.as_ref().map(|(_, offset)| *offset),
        start: wanted.start,
        // The original's events have no end: follow-ups count from the event time.
        end: wanted.start,
        zone: wanted.zone,
        locale: LOCALE,
    };
    let Some(mut plan) = plans::free_form_plan(connection, tenant_id, request, None).await? else {
        return Err(bad("eventType.uuid", "no such appointment type"));
    };
    let mut remind_text = wanted
        .remind
        .as_ref()
        .map(|(text, _)| text.clone())
        .unwrap_or_else(|| DEFAULT_REMIND_OFFSET.to_owned());
    let policy_plans_reminders = plan
        .policy
        .as_ref()
        .is_some_and(|policy| !policy.reminders.is_empty());
    if wanted.remind.is_none() {
        if policy_plans_reminders {
            if let Some(first) = plan
                .policy
                .as_ref()
                .and_then(|policy| <[_]>::first(&policy.reminders))
            {
                remind_text = first.offset.clone();
            }
        } else {
            // The original's default: an SMS three hours before.
            let offset = Offset::parse(DEFAULT_REMIND_OFFSET).map_err(anyhow::Error::msg)?;
            let default_plan = PlanRequest {
                reminders: Some(&[PlannedReminder {
                    channel: Channel::Sms,
                    due_at: offset.before(wanted.start, wanted.zone),
                }]),
                ..request
            };
            plan = plans::free_form_plan(connection, tenant_id, default_plan, None)
                .await?
                .ok_or_else(|| bad("eventType.uuid", "no such appointment type"))?;
        }
    }
    if wanted.eligible_only {
        let refused =
            plans::ineligible_channels(connection, tenant_id, &wanted.phone_e164, &plan.messages)
                .await?;
        if !refused.is_empty() {
            return Err(bad(
                "sendEligibleSubscribersOnly",
                format!(
                    "the subscriber is not eligible: they opted out of {} messages",
                    refused.join(" and ")
                ),
            ));
        }
    }
    Ok((plan, remind_text))
}

/// Serializes creates of one (tenant, phone, externalEventId) for the rest of the
/// transaction, so two concurrent duplicates make one reminder.
async fn lock_external_id(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    phone_e164: &str,
    external_event_id: &str,
) -> QueryResult<()> {
    let digest = Sha256::new()
        .chain_update(tenant_id.as_bytes())
        .chain_update(phone_e164.as_bytes())
        .chain_update([0])
        .chain_update(external_event_id.as_bytes())
        .finalize();
    let mut key = [0_u8; 8];
    key.copy_from_slice(&digest[..8]);
    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
        .bind::<BigInt, _>(i64::from_be_bytes(key))
        .execute(connection)
        .await?;
    Ok(())
}

/// Creates the reminder of `body` at `now`, in the caller's transaction; a duplicate
/// `externalEventId` of the subscriber answers the existing one.
pub async fn create(
    connection: &mut AsyncPgConnection,
    tenant: &Tenant,
    body: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<EventReminder, EventReminderError> {
    let mut fields = Fields::new(body);
    let external_event_id = fields.text("externalEventId");
    let phone = fields.required_text("phone");
    let first_name = fields.text("firstName");
    let last_name = fields.text("lastName");
    let email_address = fields.email();
    let event_type_id = fields.event_type();
    if !body.contains_key("eventType") {
        fields.issues.add("eventType", "is required");
    }
    let remind = fields.offset("remindTimeOffset");
    let follow_up = fields.offset("followUpTimeOffset");
    let event_date_time = fields.required_text("eventDateTime");
    let zone = fields.zone();
    if !body.contains_key("subscriberTimeZone") {
        fields.issues.add("subscriberTimeZone", "is required");
    }
    let eligible_only = fields.flag("sendEligibleSubscribersOnly").unwrap_or(false);
    let metadata = fields
        .metadata()
        .unwrap_or_else(|| Value::Object(Map::new()));
    let phone_e164 = phone.as_deref().and_then(|phone| {
        normalize_e164(phone, &tenant.default_region)
            .map_err(|message| fields.issues.add("phone", message))
            .ok()
    });
    let start = match (&event_date_time, &zone) {
        (Some(text), Some((_, zone))) => event_instant(text, *zone)
            .map_err(|message| fields.issues.add("eventDateTime", message))
            .ok(),
        _ => None,
    };
    if start.is_some_and(|start| start <= now) {
        fields.issues.add("eventDateTime", "must be in the future");
    }
    fields.finish()?;
    let (
        Some(phone),
        Some(phone_e164),
        Some(event_type_id),
        Some(event_date_time),
        Some((zone_name, zone)),
        Some(start),
    ) = (
        phone,
        phone_e164,
        event_type_id,
        event_date_time,
        zone,
        start,
    )
    else {
        return Err(bad("body", "is incomplete"));
    };

    if let Some(external_event_id) = &external_event_id {
        lock_external_id(connection, tenant.id, &phone_e164, external_event_id).await?;
        let existing: Option<Row> = event_reminders::table
            .filter(event_reminders::tenant_id.eq(tenant.id))
            .filter(event_reminders::phone_e164.eq(&phone_e164))
            .filter(event_reminders::external_event_id.eq(external_event_id))
            .select(columns!())
            .first(connection)
            .await
            .optional()?;
        if let Some(row) = existing {
            let (reminder, _, _) = to_reminder(row);
            tracing::info!(reminder_id = %reminder.uuid, "duplicate externalEventId: the existing reminder answers");
            return Ok(reminder);
        }
    }

    let wanted = Wanted {
        phone_e164: phone_e164.clone(),
        zone,
        start,
        event_type_id,
        remind,
        follow_up,
        metadata,
        eligible_only,
    };
    let (plan, remind_text) = plan_of(connection, tenant.id, &wanted).await?;
    let name = [first_name.as_deref(), last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let appointment = NewAppointment {
        customer_name: name,
        customer_phone: phone_e164.clone(),
        customer_locale: LOCALE.to_owned(),
        start,
        end: start + Duration::minutes(DEFAULT_DURATION_MINUTES),
        time_zone: zone,
        location: None,
        reminders: None,
        appointment_type_id: Some(event_type_id),
        follow_up: None,
        metadata: wanted.metadata.clone(),
        eligible_only,
    };
    let appointment_id = Uuid::now_v7();
    let names = (first_name.is_some() || last_name.is_some()).then(|| {
        (
            first_name.as_deref().unwrap_or_default(),
            last_name.as_deref().unwrap_or_default(),
        )
    });
    let command = ScheduleAppointment {
        appointment_id,
        appointment: &appointment,
        participant: None,
        source: "dialect",
        messages: &plan.messages,
        metadata: Some(&wanted.metadata),
        catalog: plan.catalog,
        entity: plan.entity.as_ref(),
        names,
        // The caller's transaction does not wake the relay: the trigger notifies it.
        relay_wake: RelayWake::Notify,
    };
    commands::schedule_within(connection, tenant.id, &tenant.name, command).await?;
    let id = Uuid::now_v7();
    let follow_up_text = wanted.follow_up.as_ref().map(|(text, _)| text.clone());
    diesel::insert_into(event_reminders::table)
        .values((
            event_reminders::id.eq(id),
            event_reminders::tenant_id.eq(tenant.id),
            event_reminders::appointment_id.eq(appointment_id),
            event_reminders::external_event_id.eq(&external_event_id),
            event_reminders::phone_e164.eq(&phone_e164),
            event_reminders::phone.eq(&phone),
            event_reminders::first_name.eq(&first_name),
            event_reminders::last_name.eq(&last_name),
            event_reminders::email_address.eq(&email_address),
            event_reminders::event_type_id.eq(event_type_id),
            event_reminders::remind_time_offset.eq(&remind_text),
            event_reminders::remind_offset_sent.eq(wanted.remind.is_some()),
            event_reminders::follow_up_time_offset.eq(&follow_up_text),
            event_reminders::event_date_time.eq(&event_date_time),
            event_reminders::subscriber_time_zone.eq(&zone_name),
            event_reminders::send_eligible_only.eq(eligible_only),
            event_reminders::metadata.eq(&wanted.metadata),
        ))
        .execute(connection)
        .await?;
    tracing::info!(reminder_id = %id, %appointment_id, messages = plan.messages.len(), "event reminder created");
    Ok(EventReminder {
        uuid: id,
        external_event_id,
        phone,
        first_name,
        last_name,
        event_type: EventTypeRef {
            uuid: event_type_id,
        },
        email_address,
        remind_time_offset: remind_text,
        follow_up_time_offset: follow_up_text,
        event_date_time,
        subscriber_time_zone: zone_name,
        send_eligible_subscribers_only: eligible_only,
        metadata: wanted.metadata,
        status: "active".to_owned(),
    })
}

/// Applies the fields `body` gives to reminder `id` at `now` and replans it, in the caller's
/// transaction.
pub async fn update(
    connection: &mut AsyncPgConnection,
    tenant: &Tenant,
    id: Uuid,
    body: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<EventReminder, EventReminderError> {
    let (mut reminder, appointment_id, phone_e164) = find(connection, tenant.id, id, true)
        .await?
        .ok_or(EventReminderError::NotFound)?;
    let remind_offset_sent: bool = event_reminders::table
        .find(id)
        .select(event_reminders::remind_offset_sent)
        .first(connection)
        .await?;
    if reminder.status != "active" {
        return Err(bad(
            "uuid",
            format!(
                "the reminder is {}; create a new one",
                reminder.status.replace('_', "-")
            ),
        ));
    }
    let mut fields = Fields::new(body);
    if let Some(phone) = fields.text("phone") {
        let same =
            normalize_e164(&phone, &tenant.default_region).is_ok_and(|e164| e164 == phone_e164);
        if !same {
            fields.issues.add(
                "phone",
                "cannot change; cancel this reminder and create one for the new number",
            );
        }
    }
    if let Some(external_event_id) = fields.text("externalEventId")
        && reminder.external_event_id.as_deref() != Some(external_event_id.as_str())
    {
        fields
            .issues
            .add("externalEventId", "cannot change; it identifies the event");
    }
    let first_name = fields.text("firstName");
    let last_name = fields.text("lastName");
    let email_address = fields.email();
    let event_type_id = fields.event_type();
    let remind = fields.offset("remindTimeOffset");
    let follow_up = fields.offset("followUpTimeOffset");
    let event_date_time = fields.text("eventDateTime");
    let zone = fields.zone();
    let eligible_only = fields.flag("sendEligibleSubscribersOnly");
    let metadata = fields.metadata();
    fields.finish()?;

    let (zone_name, zone) = match zone {
        Some(zone) => zone,
        None => {
            let name = reminder.subscriber_time_zone.clone();
            let zone = name
                .parse::<Tz>()
                .map_err(|_| anyhow::anyhow!("stored zone {name} unreadable"))?;
            (name, zone)
        }
    };
    let event_date_time = event_date_time.unwrap_or_else(|| reminder.event_date_time.clone());
    let start =
        event_instant(&event_date_time, zone).map_err(|message| bad("eventDateTime", message))?;
    if start <= now {
        return Err(bad("eventDateTime", "must be in the future"));
    }
    let stored_offset = |text: &str| {
        Offset::parse(text)
            .ok()
            .map(|offset| (text.to_owned(), offset))
    };
    // An offset sent now replaces the stored one; one sent by an earlier request keeps
    // applying, while one that only echoed the policy lets the policy plan again.
    let remind = remind.or_else(|| {
        remind_offset_sent
            .then(|| stored_offset(&reminder.remind_time_offset))
            .flatten()
    });
    let follow_up = follow_up.or_else(|| {
        reminder
            .follow_up_time_offset
            .as_deref()
            .and_then(stored_offset)
    });
    let wanted = Wanted {
        phone_e164,
        zone,
        start,
        event_type_id: event_type_id.unwrap_or(reminder.event_type.uuid),
        remind,
        follow_up,
        metadata: metadata.unwrap_or_else(|| reminder.metadata.clone()),
        eligible_only: eligible_only.unwrap_or(reminder.send_eligible_subscribers_only),
    };
    let (plan, remind_text) = plan_of(connection, tenant.id, &wanted).await?;
    let command = ReplanAppointment {
        appointment_id,
        start,
        end: start + Duration::minutes(DEFAULT_DURATION_MINUTES),
        time_zone: zone,
        messages: &plan.messages,
        metadata: &wanted.metadata,
        catalog: plan.catalog,
    };
    commands::replan(connection, tenant.id, &tenant.name, command, now)
        .await
        .map_err(|error| command_error(error, "update"))?;

    if first_name.is_some() {
        reminder.first_name = first_name;
    }
    if last_name.is_some() {
        reminder.last_name = last_name;
    }
    if email_address.is_some() {
        reminder.email_address = email_address;
    }
    reminder.event_type.uuid = wanted.event_type_id;
    reminder.remind_time_offset = remind_text;
    reminder.follow_up_time_offset = wanted.follow_up.as_ref().map(|(text, _)| text.clone());
    reminder.event_date_time = event_date_time;
    reminder.subscriber_time_zone = zone_name;
    reminder.send_eligible_subscribers_only = wanted.eligible_only;
    reminder.metadata = wanted.metadata;
    diesel::update(event_reminders::table.find(id))
        .set((
            event_reminders::first_name.eq(&reminder.first_name),
            event_reminders::last_name.eq(&reminder.last_name),
            event_reminders::email_address.eq(&reminder.email_address),
            event_reminders::event_type_id.eq(reminder.event_type.uuid),
            event_reminders::remind_time_offset.eq(&reminder.remind_time_offset),
            event_reminders::remind_offset_sent.eq(wanted.remind.is_some()),
            event_reminders::follow_up_time_offset.eq(&reminder.follow_up_time_offset),
            event_reminders::event_date_time.eq(&reminder.event_date_time),
            event_reminders::subscriber_time_zone.eq(&reminder.subscriber_time_zone),
            event_reminders::send_eligible_only.eq(reminder.send_eligible_subscribers_only),
            event_reminders::metadata.eq(&reminder.metadata),
            event_reminders::updated_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    tracing::info!(reminder_id = %id, %appointment_id, "event reminder updated");
    Ok(reminder)
}

/// Cancels reminder `id` at `now`: every message not sent yet is dropped. Cancelling it
/// again answers it unchanged.
pub async fn cancel(
    connection: &mut AsyncPgConnection,
    tenant: &Tenant,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<EventReminder, EventReminderError> {
    end(connection, tenant, id, Ending::Cancelled, now).await
}

/// Records that the subscriber missed event `id`: the no-show message goes out now and the
/// follow-up never will. Recording it again answers it unchanged.
pub async fn no_show(
    connection: &mut AsyncPgConnection,
    tenant: &Tenant,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<EventReminder, EventReminderError> {
    end(connection, tenant, id, Ending::NoShow, now).await
}

/// The two ways a reminder ends for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Cancelled,
    NoShow,
}

impl Ending {
    fn status(self) -> &'static str {
        match self {
            Self::Cancelled => "cancelled",
            Self::NoShow => "no_show",
        }
    }
}

/// Ends reminder `id` as `ending` through the native command; ending it the same way again
/// answers it unchanged, the other way is refused.
async fn end(
    connection: &mut AsyncPgConnection,
    tenant: &Tenant,
    id: Uuid,
    ending: Ending,
    now: DateTime<Utc>,
) -> Result<EventReminder, EventReminderError> {
    let (mut reminder, appointment_id, _) = find(connection, tenant.id, id, true)
        .await?
        .ok_or(EventReminderError::NotFound)?;
    if reminder.status == ending.status() {
        return Ok(reminder);
    }
    if reminder.status != "active" {
        return Err(bad(
            "uuid",
            format!("the reminder is {}", reminder.status.replace('_', "-")),
        ));
    }
    let ended = match ending {
        Ending::Cancelled => {
            let command = CancelBooking {
                appointment_id,
                slot: None,
                start: None,
                reason: "api".to_owned(),
            };
            commands::cancel(connection, tenant.id, command, now)
                .await
                .map(|_| ())
                .map_err(|error| command_error(error, "cancel"))
        }
        Ending::NoShow => {
            commands::record_no_show(connection, tenant.id, &tenant.name, appointment_id, now)
                .await
                .map_err(|error| command_error(error, "no-show"))
        }
    };
    ended?;
    set_status(connection, id, ending.status()).await?;
    reminder.status = ending.status().to_owned();
    Ok(reminder)
}

async fn set_status(connection: &mut AsyncPgConnection, id: Uuid, status: &str) -> QueryResult<()> {
    diesel::update(event_reminders::table.find(id))
        .set((
            event_reminders::status.eq(status),
            event_reminders::updated_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    Ok(())
}

fn command_error(error: BookingError, action: &str) -> EventReminderError {
    match error {
        BookingError::BookingStarted => bad(
            "eventDateTime",
            format!("the event has already started; it can no longer {action}"),
        ),
        BookingError::NotStarted => bad(
            "eventDateTime",
            "the event has not started yet; record a no-show once it has",
        ),
        BookingError::BookingCancelled => bad("uuid", "the reminder is cancelled"),
        BookingError::NoShow => bad("uuid", "the reminder was marked a no-show"),
        BookingError::NotFound(_) => EventReminderError::NotFound,
        BookingError::Database(error) => error.into(),
        other => EventReminderError::Internal(anyhow::anyhow!(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use chrono_tz::America::New_York;

    use super::*;

    #[test]
    fn event_date_time_is_local_to_the_subscriber_unless_it_names_an_offset() {
        assert_eq!(
            event_instant("2021-01-06T16:50:00", New_York).unwrap(),
            "2021-01-06T21:50:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            event_instant("2021-07-06T16:50", New_York).unwrap(),
            "2021-07-06T20:50:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            event_instant("2021-01-06T16:50:00Z", New_York).unwrap(),
            "2021-01-06T16:50:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert!(
            event_instant("2027-03-14T02:30:00", New_York)
                .unwrap_err()
                .contains("skip")
        );
        assert!(event_instant("06/01/2021 16:50", New_York).is_err());
    }
}
