//! The `/reminder` dialect's model: SMS reminders of the SMS reminder example
//! (reference/carriers.md §3.2), each backed by a native free-form appointment.
//!
//! Creating one books an appointment through [`commands::schedule`], the path
//! `POST /v1/appointments` takes, with one SMS reminder due `notify_window` hours before the
//! start; `appointment.scheduled` carries it to the reminder scheduler, which fires
//! `reminder.due.sms` then. The dialect keeps only a mapping (`sms_reminders`): its 32-hex
//! id, the appointment, the offset the caller wrote the time in, and the caller's location
//! and participant texts. Everything else it answers is read from the appointment, its
//! customer and its reminder, so SMS outcomes show up here without dialect code.

use chrono::{
    DateTime, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc,
};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use attend_runtime::outbox::RelayWake;

use crate::auth::Tenant;
use crate::booking::BookingError;
use crate::booking::commands::{self, CancelBooking, ScheduleAppointment};
use crate::db::appointments::CatalogLinks;
use crate::db::reminder_calls::tenant_time_zone;
use crate::db::schema::sms_reminders;
use crate::domain::appointment::{
    Channel, DEFAULT_DURATION_MINUTES, NewAppointment, PlannedReminder,
};

/// The longest `location`, as the original documents.
pub const MAX_LOCATION_CHARS: usize = 128;
/// The longest `participant`, as the original documents.
pub const MAX_PARTICIPANT_CHARS: usize = 256;
/// The longest `notify_window`: a year (366 days), the longest native reminder offset.
pub const MAX_NOTIFY_WINDOW_HOURS: i64 = 366 * 24;
/// The most reminders one `GET /reminder?limit=` answers.
pub const MAX_LIST_LIMIT: i64 = 1000;
/// The most westerly offset in use (Baker Island), in seconds.
const MIN_OFFSET_SECONDS: i32 = -12 * 3600;
/// The most easterly offset in use (Line Islands), in seconds.
const MAX_OFFSET_SECONDS: i32 = 14 * 3600;
/// Language of the reminders: the original wrote English and its clients send none.
const LOCALE: &str = "en";
/// Outcomes that prove the SMS reached the carrier: `sent`, and every reply-derived one.
const SENT_OUTCOMES: [&str; 6] = [
    "sent",
    "unparsable",
    "confirmed",
    "cancelled",
    "reschedule_requested",
    "opted_out",
];

/// A validated `POST /reminder` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSmsReminder {
    /// The contact, E.164 (`+1` and ten digits).
    pub contact_e164: String,
    /// The appointment's start.
    pub start: DateTime<Utc>,
    /// The offset `appointment_time` was written in, in seconds east of UTC.
    pub utc_offset_seconds: i32,
    /// Hours before the start the SMS goes out; 0 sends it at the start.
    pub notify_window_hours: i64,
    /// As sent, when sent.
    pub location: Option<String>,
    /// As sent, when sent.
    pub participant: Option<String>,
}

impl NewSmsReminder {
    /// Returns when the SMS is due.
    pub fn due_at(&self) -> DateTime<Utc> {
        self.start - Duration::hours(self.notify_window_hours)
    }
}

/// Validates a `POST /reminder` body at `now`. Every failing field is named, in the order
/// contact_number, appointment_time, notify_window, location, participant; unknown fields
/// are ignored, as the original ignores them.
pub fn validate(body: &Value, now: DateTime<Utc>) -> Result<NewSmsReminder, Vec<String>> {
    let mut issues = Vec::new();
    let Some(object) = body.as_object() else {
        return Err(vec!["the body must be a JSON object".to_owned()]);
    };
    let field = |name: &str| object.get(name).filter(|value| !value.is_null());

    let contact_e164 = match field("contact_number") {
        None => {
            issues.push("contact_number is required".to_owned());
            None
        }
        Some(value) => parse_contact_number(value)
            .map_err(|message| issues.push(format!("contact_number {message}")))
            .ok(),
    };

    let appointment_time = match field("appointment_time") {
        None => {
            issues.push("appointment_time is required".to_owned());
            None
        }
        Some(Value::String(text)) => parse_appointment_time(text)
            .map_err(|message| issues.push(format!("appointment_time {message}")))
            .ok(),
        Some(_) => {
            issues.push(
                "appointment_time must be a string such as \"2016-07-06T15:23-0800\"".to_owned(),
            );
            None
        }
    };
    if let Some(time) = appointment_time
        && time <= now
    {
        issues.push("appointment_time must be in the future".to_owned());
    }

    let notify_window_hours = match field("notify_window") {
        None => {
            issues.push("notify_window is required".to_owned());
            None
        }
        Some(value) => parse_notify_window(value)
            .map_err(|message| issues.push(format!("notify_window {message}")))
            .ok(),
    };

    let location = optional_text(field("location"), "location", MAX_LOCATION_CHARS)
        .map_err(|message| issues.push(message))
        .ok()
        .flatten();
    let participant = optional_text(field("participant"), "participant", MAX_PARTICIPANT_CHARS)
        .map_err(|message| issues.push(message))
        .ok()
        .flatten();

    match (contact_e164, appointment_time, notify_window_hours) {
        (Some(contact_e164), Some(time), Some(notify_window_hours)) if issues.is_empty() => {
            Ok(NewSmsReminder {
                contact_e164,
                start: time.with_timezone(&Utc),
                utc_offset_seconds: time.offset().local_minus_utc(),
                notify_window_hours,
                location,
                participant,
            })
        }
        _ => Err(issues),
    }
}

/// Returns the E.164 form of an 11-digit North American number `1NXXNXXXXXX`, given as a
/// JSON number or string; or why it is not one.
pub fn parse_contact_number(value: &Value) -> Result<String, &'static str> {
    const FORMAT: &str = "must be an 11-digit number in the 1XXXXXXXXXX format";
    let digits = match value {
        Value::Number(number) => number.as_u64().map(|number| number.to_string()),
        Value::String(text) => Some(text.trim().to_owned()),
        _ => None,
    }
    .ok_or(FORMAT)?;
    let bytes = digits.as_bytes();
    if bytes.len() != 11 || !bytes.iter().all(u8::is_ascii_digit) || bytes[0] != b'1' {
        return Err(FORMAT);
    }
    // North American area codes and exchanges never start with 0 or 1; a carrier refuses
    // such a number, so it is refused here, where the caller still hears why.
    if bytes[1] < b'2' || bytes[4] < b'2' {
        return Err("is not a valid North American number (area code and exchange start with 2-9)");
    }
    Ok(format!("+{digits}"))
}

/// Parses `YYYY-MM-DDTHH:mm[:ss]` followed by an offset `±HHMM`, `±HH:MM` or `Z`.
///
/// The original (arrow's `YYYY-MM-DDTHH:mmZ`) took only the first form with a numeric
/// offset; seconds and `Z` are accepted here as the ISO 8601 they are. No offset is refused:
/// the time would be ambiguous.
pub fn parse_appointment_time(text: &str) -> Result<DateTime<FixedOffset>, String> {
    const SHAPE: &str = "must be an ISO 8601 date and time with a UTC offset, such as \
                         2016-07-06T15:23-0800 or 2016-07-06T15:23:00+03:00";
    let text = text.trim();
    // Everything below indexes bytes; a non-ASCII character is never part of the format.
    if !text.is_ascii() {
        return Err(SHAPE.to_owned());
    }
    let (local, offset_seconds) = split_offset(text)?;
    let local = parse_local(local).ok_or_else(|| SHAPE.to_owned())?;
    if !(MIN_OFFSET_SECONDS..=MAX_OFFSET_SECONDS).contains(&offset_seconds) {
        return Err("has an offset outside the -12:00 to +14:00 in use".to_owned());
    }
    let offset = FixedOffset::east_opt(offset_seconds).ok_or_else(|| SHAPE.to_owned())?;
    offset
        .from_local_datetime(&local)
        .single()
        .ok_or_else(|| SHAPE.to_owned())
}

/// Splits an ASCII date-time from its offset; returns the offset in seconds east of UTC.
fn split_offset(text: &str) -> Result<(&str, i32), String> {
    const MISSING: &str = "must end with a UTC offset such as -0800, +03:00 or Z";
    if let Some(local) = text.strip_suffix(['Z', 'z']) {
        return Ok((local, 0));
    }
    let bytes = text.as_bytes();
    let signed_at = |index: usize| matches!(bytes.get(index), Some(b'+' | b'-'));
    let (local, sign, hours, minutes) =
        if bytes.len() >= 6 && signed_at(bytes.len() - 6) && bytes[bytes.len() - 3] == b':' {
            let start = bytes.len() - 6;
            (
                &text[..start],
                bytes[start],
                &text[start + 1..start + 3],
                &text[start + 4..],
            )
        } else if bytes.len() >= 5 && signed_at(bytes.len() - 5) {
            let start = bytes.len() - 5;
            (
                &text[..start],
                bytes[start],
                &text[start + 1..start + 3],
                &text[start + 3..],
            )
        } else {
            return Err(MISSING.to_owned());
        };
    // A date alone ends in "-DD", which reads like an offset: the date and time must be
    // there before it.
    if local.len() < "YYYY-MM-DDTHH:mm".len() {
        return Err(MISSING.to_owned());
    }
    let two_digits = |part: &str| -> Option<i32> {
        (part.len() == 2 && part.bytes().all(|byte| byte.is_ascii_digit()))
            .then(|| part.parse().ok())
            .flatten()
    };
    let (Some(hours), Some(minutes)) = (two_digits(hours), two_digits(minutes)) else {
        return Err(MISSING.to_owned());
    };
    if minutes >= 60 {
        return Err(MISSING.to_owned());
    }
    let seconds = hours * 3600 + minutes * 60;
    Ok((local, if sign == b'-' { -seconds } else { seconds }))
}

/// Parses exactly `YYYY-MM-DDTHH:mm` or `YYYY-MM-DDTHH:mm:ss`.
fn parse_local(local: &str) -> Option<NaiveDateTime> {
    let bytes = local.as_bytes();
    let with_seconds = match bytes.len() {
        16 => false,
        19 => true,
        _ => return None,
    };
    let separators_ok = bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && (!with_seconds || bytes[16] == b':');
    if !separators_ok {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = local.get(range)?;
        part.bytes()
            .all(|byte| byte.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let year = i32::try_from(number(0..4)?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, number(5..7)?, number(8..10)?)?;
    let second = if with_seconds { number(17..19)? } else { 0 };
    let time = NaiveTime::from_hms_opt(number(11..13)?, number(14..16)?, second)?;
    Some(date.and_time(time))
}

/// Reads `notify_window`: a whole number of hours, as a JSON number or a numeric string.
pub fn parse_notify_window(value: &Value) -> Result<i64, String> {
    const WHOLE: &str = "must be a whole number of hours, such as 1 or \"1\"";
    let hours = match value {
        Value::Number(number) => number.as_i64().or_else(|| {
            // 2.0 is two hours, as the original's int() reads it; 1.5 is refused rather
            // than silently cut to 1.
            number
                .as_f64()
                .filter(|hours| hours.fract() == 0.0 && hours.abs() < 1e15)
                .map(|hours| hours as i64)
        }),
        Value::String(text) => text.trim().parse::<i64>().ok(),
        _ => None,
    }
    .ok_or_else(|| WHOLE.to_owned())?;
    if hours < 0 {
        return Err("must not be negative".to_owned());
    }
    if hours > MAX_NOTIFY_WINDOW_HOURS {
        return Err(format!(
            "must be at most {MAX_NOTIFY_WINDOW_HOURS} hours (366 days)"
        ));
    }
    Ok(hours)
}

fn optional_text(value: Option<&Value>, name: &str, max: usize) -> Result<Option<String>, String> {
    match value {
        None => Ok(None),
        Some(Value::String(text)) if text.chars().count() <= max => Ok(Some(text.clone())),
        Some(Value::String(_)) => Err(format!("{name} must be at most {max} characters")),
        Some(_) => Err(format!("{name} must be a string")),
    }
}

/// Returns the zone the appointment's times are written in for the recipient: one that is
/// `offset_seconds` east of UTC at `at`.
///
/// A whole-hour offset is its `Etc/GMT±N` zone (fixed, as the offset the caller gave); UTC
/// is `UTC`. Other offsets (+05:30, +09:45) have no such zone: the tenant's own zone when it
/// has that offset then, else the first zone by name that has it; `None` when none does.
pub fn zone_for_offset(
    offset_seconds: i32,
    at: DateTime<Utc>,
    tenant_zone: Option<Tz>,
) -> Option<Tz> {
    if offset_seconds == 0 {
        return Some(Tz::UTC);
    }
    if offset_seconds % 3600 == 0 {
        // POSIX names are inverted: Etc/GMT+8 is eight hours behind UTC.
        return format!("Etc/GMT{:+}", -(offset_seconds / 3600))
            .parse()
            .ok();
    }
    let has_offset = |zone: &Tz| {
        zone.offset_from_utc_datetime(&at.naive_utc())
            .fix()
            .local_minus_utc()
            == offset_seconds
    };
    tenant_zone
        .filter(has_offset)
        .or_else(|| chrono_tz::TZ_VARIANTS.iter().copied().find(has_offset))
}

/// Returns a dialect id as the dialect writes it: 32 lowercase hex digits.
pub fn format_id(id: Uuid) -> String {
    id.simple().to_string()
}

/// Reads a dialect id: exactly 32 hex digits (any case), else `None`.
pub fn parse_id(text: &str) -> Option<Uuid> {
    (text.len() == 32 && text.bytes().all(|byte| byte.is_ascii_hexdigit()))
        .then(|| Uuid::try_parse(text).ok())
        .flatten()
}

/// Creates the reminder for `tenant`: one transaction books the native appointment (with
/// its `appointment.scheduled` through the outbox) and stores the mapping. Returns the new
/// reminder id.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, reminder_id, appointment_id))]
pub async fn create(
    connection: &mut AsyncPgConnection,
    tenant: &Tenant,
    reminder: &NewSmsReminder,
) -> anyhow::Result<Uuid> {
    let reminder_id = Uuid::new_v4();
    let appointment_id = Uuid::now_v7();
    let span = tracing::Span::current();
    span.record(
        "reminder_id",
        tracing::field::display(format_id(reminder_id)),
    );
    span.record("appointment_id", tracing::field::display(appointment_id));
    connection
        .transaction::<_, anyhow::Error, _>(async |connection| {
            let time_zone = recipient_zone(connection, tenant.id, reminder).await?;
            let appointment = NewAppointment {
                customer_name: String::new(),
                customer_phone: reminder.contact_e164.clone(),
                customer_locale: LOCALE.to_owned(),
                start: reminder.start,
                end: reminder.start + Duration::minutes(DEFAULT_DURATION_MINUTES),
                time_zone,
                location: trimmed(reminder.location.as_deref()),
                reminders: Some(vec![PlannedReminder {
                    channel: Channel::Sms,
                    due_at: reminder.due_at(),
                }]),
                appointment_type_id: None,
                follow_up: None,
                metadata: serde_json::Value::Object(serde_json::Map::new()),
                eligible_only: false,
            };
            let participant = trimmed(reminder.participant.as_deref());
            let messages =
                commands::plain_messages(appointment.reminders.as_deref().unwrap_or_default());
            let command = ScheduleAppointment {
                appointment_id,
                appointment: &appointment,
                participant: participant.as_deref(),
                source: "dialect",
                messages: &messages,
                metadata: None,
                catalog: CatalogLinks::default(),
                entity: None,
                names: None,
                // Its own transaction, not run_once: the trigger notifies the relay.
                relay_wake: RelayWake::Notify,
            };
            commands::schedule_within(connection, tenant.id, &tenant.name, command).await?;
            diesel::insert_into(sms_reminders::table)
                .values((
                    sms_reminders::reminder_id.eq(reminder_id),
                    sms_reminders::tenant_id.eq(tenant.id),
                    sms_reminders::appointment_id.eq(appointment_id),
                    sms_reminders::utc_offset_seconds.eq(reminder.utc_offset_seconds),
                    sms_reminders::location.eq(reminder.location.as_deref()),
                    sms_reminders::participant.eq(reminder.participant.as_deref()),
                ))
                .execute(connection)
                .await?;
            Ok(())
        })
        .await?;
    tracing::info!(
        notify_window_hours = reminder.notify_window_hours,
        "sms reminder created"
    );
    Ok(reminder_id)
}

/// The recipient's zone: the caller's offset as a zone, else the tenant's, else UTC.
async fn recipient_zone(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    reminder: &NewSmsReminder,
) -> QueryResult<Tz> {
    let offset = reminder.utc_offset_seconds;
    if offset % 3600 == 0 {
        return Ok(zone_for_offset(offset, reminder.start, None).unwrap_or(Tz::UTC));
    }
    let tenant_zone = tenant_time_zone(connection, tenant_id)
        .await?
        .and_then(|name| name.parse::<Tz>().ok());
    Ok(zone_for_offset(offset, reminder.start, tenant_zone)
        .or(tenant_zone)
        .unwrap_or(Tz::UTC))
}

fn trimmed(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

/// A dialect reminder as the dialect shows it, read from its mapping, appointment, customer
/// and SMS reminder.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct SmsReminderRecord {
    /// The dialect id.
    #[diesel(sql_type = SqlUuid)]
    pub reminder_id: Uuid,
    /// The offset the caller wrote the time in.
    #[diesel(sql_type = Integer)]
    pub utc_offset_seconds: i32,
    /// As sent.
    #[diesel(sql_type = Nullable<Text>)]
    pub location: Option<String>,
    /// As sent.
    #[diesel(sql_type = Nullable<Text>)]
    pub participant: Option<String>,
    /// The appointment's start.
    #[diesel(sql_type = Timestamptz)]
    pub starts_at: DateTime<Utc>,
    /// The customer's phone, E.164.
    #[diesel(sql_type = Nullable<Text>)]
    pub phone_e164: Option<String>,
    /// When the SMS is (or was) due.
    #[diesel(sql_type = Timestamptz)]
    pub notify_at: DateTime<Utc>,
    /// The SMS reminder's outcome, once it has one.
    #[diesel(sql_type = Nullable<Text>)]
    pub outcome: Option<String>,
}

impl SmsReminderRecord {
    /// Returns whether the SMS was handed to the carrier: it was sent, or answered.
    pub fn reminder_sent(&self) -> bool {
        self.outcome
            .as_deref()
            .is_some_and(|outcome| SENT_OUTCOMES.contains(&outcome))
    }

    /// Returns the answer: `None` until the recipient answered Yes or No.
    pub fn will_attend(&self) -> Option<bool> {
        match self.outcome.as_deref() {
            Some("confirmed") => Some(true),
            Some("cancelled") => Some(false),
            _ => None,
        }
    }

    /// Returns whether the reply to the answer went out: sms-service sends it in the
    /// transaction that records the answer's outcome, so it did once there is an answer.
    pub fn confirm_sent(&self) -> bool {
        self.will_attend().is_some()
    }

    /// Returns the contact number as the dialect writes it: the digits without `+`.
    pub fn contact_number(&self) -> String {
        self.phone_e164
            .as_deref()
            .map(|phone| phone.trim_start_matches('+').to_owned())
            .unwrap_or_default()
    }

    /// Returns the start in the caller's offset.
    pub fn start_in_callers_offset(&self) -> NaiveDateTime {
        let offset = FixedOffset::east_opt(self.utc_offset_seconds).unwrap_or(Utc.fix());
        self.starts_at.with_timezone(&offset).naive_local()
    }
}

/// The dialect's reads: one SMS reminder (the appointment's earliest) per mapping.
const SELECT_REMINDERS: &str = "
    SELECT s.reminder_id, s.utc_offset_seconds, s.location, s.participant,
           a.starts_at, c.phone_e164,
           COALESCE(r.due_at, a.starts_at) AS notify_at, r.outcome
    FROM sms_reminders s
    JOIN appointments a ON a.id = s.appointment_id
    JOIN customers c ON c.id = a.customer_id
    LEFT JOIN LATERAL (
        SELECT due_at, outcome FROM appointment_reminders
        WHERE appointment_id = a.id AND channel = 'sms'
        ORDER BY due_at, id
        LIMIT 1
    ) r ON true
    WHERE s.tenant_id = $1";

/// Returns the tenant's reminder `reminder_id`, or `None` (also for another tenant's).
pub async fn find(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    reminder_id: Uuid,
) -> QueryResult<Option<SmsReminderRecord>> {
    diesel::sql_query(format!("{SELECT_REMINDERS} AND s.reminder_id = $2"))
        .bind::<SqlUuid, _>(tenant_id)
        .bind::<SqlUuid, _>(reminder_id)
        .get_result(connection)
        .await
        .optional()
}

/// Returns the tenant's reminders, oldest first; all of them when `limit` is `None`.
pub async fn list(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    limit: Option<i64>,
    offset: i64,
) -> QueryResult<Vec<SmsReminderRecord>> {
    diesel::sql_query(format!(
        "{SELECT_REMINDERS} ORDER BY s.created_at, s.reminder_id LIMIT $2 OFFSET $3"
    ))
    .bind::<SqlUuid, _>(tenant_id)
    .bind::<Nullable<BigInt>, _>(limit)
    .bind::<BigInt, _>(offset)
    .load(connection)
    .await
}

/// Deletes the tenant's reminder at `now`: cancels its appointment (which drops the pending
/// SMS and tells the scheduler, `appointment.cancelled`) and removes the mapping, in one
/// transaction. Returns `false` for an unknown id. An appointment already started or
/// cancelled is left as it is: its SMS is past or dropped already.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant_id, reminder_id = %format_id(reminder_id)))]
pub async fn delete(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    reminder_id: Uuid,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    connection
        .transaction::<_, anyhow::Error, _>(async |connection| {
            let appointment_id: Option<Uuid> = sms_reminders::table
                .filter(sms_reminders::tenant_id.eq(tenant_id))
                .filter(sms_reminders::reminder_id.eq(reminder_id))
                .select(sms_reminders::appointment_id)
                .for_update()
                .first(connection)
                .await
                .optional()?;
            let Some(appointment_id) = appointment_id else {
                return Ok(false);
            };
            let command = CancelBooking {
                appointment_id,
                slot: None,
                start: None,
                reason: "api".to_owned(),
            };
            match commands::cancel(connection, tenant_id, command, now).await {
                Ok(_) | Err(BookingError::BookingStarted) => {}
                Err(error) => return Err(anyhow::Error::new(error).context("cancel failed")),
            }
            diesel::delete(sms_reminders::table.find(reminder_id))
                .execute(connection)
                .await?;
            tracing::info!(%appointment_id, "sms reminder deleted");
            Ok(true)
        })
        .await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-21T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn the_seeds_example_is_valid() {
        let reminder = validate(
            &json!({"contact_number":12223334444_u64, "appointment_time": "2027-07-06T15:23-0800",
                    "notify_window":"1", "location":"West Side Mechanics"}),
            now(),
        )
        .unwrap();
        assert_eq!(reminder.contact_e164, "+12223334444");
        assert_eq!(reminder.start.to_rfc3339(), "2027-07-06T23:23:00+00:00");
        assert_eq!(reminder.utc_offset_seconds, -8 * 3600);
        assert_eq!(reminder.notify_window_hours, 1);
        assert_eq!(reminder.due_at().to_rfc3339(), "2027-07-06T22:23:00+00:00");
        assert_eq!(reminder.location.as_deref(), Some("West Side Mechanics"));
        assert_eq!(reminder.participant, None);
    }

    #[test]
    fn appointment_times_need_an_offset_and_may_have_seconds() {
        let parsed = |text: &str| parse_appointment_time(text).map(|time| time.to_rfc3339());
        assert_eq!(
            parsed("2016-07-06T15:23-0800").unwrap(),
            "2016-07-06T15:23:00-08:00"
        );
        assert_eq!(
            parsed("2016-07-06T15:23+03:00").unwrap(),
            "2016-07-06T15:23:00+03:00"
        );
        assert_eq!(
            parsed("2016-07-06T15:23:45+0530").unwrap(),
            "2016-07-06T15:23:45+05:30"
        );
        assert_eq!(
            parsed("2016-07-06T15:23Z").unwrap(),
            "2016-07-06T15:23:00+00:00"
        );
        for bad in [
            "2016-07-06T15:23",
            "2016-07-06",
            "2016-07-06 15:23-0800",
            "2016-7-06T15:23-0800",
            "2016-07-06T15:23:4-0800",
            "2016-07-06T15:23.5-0800",
            "2016-02-30T15:23-0800",
            "2016-07-06T24:00-0800",
            "2016-07-06T15:23-08",
            "2016-07-06T15:23-0860",
            "2016-07-06T15:23+1500",
            "2016-07-06T15:23-1300",
            "2016-07-06T15:23−08:00",
            "tomorrow",
            "",
        ] {
            assert!(parsed(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn contact_numbers_are_eleven_north_american_digits() {
        assert_eq!(
            parse_contact_number(&json!(12223334444_u64)).unwrap(),
            "+12223334444"
        );
        assert_eq!(
            parse_contact_number(&json!(" 12069928996 ")).unwrap(),
            "+12069928996"
        );
        for bad in [
            json!(2223334444_u64),
            json!("2223334444"),
            json!("+12223334444"),
            json!("22223334444"),
            json!("11223334444"),
            json!("12221334444"),
            json!("1222333444a"),
            json!(12223334444.0),
            json!(-12223334444_i64),
            json!(true),
            json!("hello world this is not a phone number"),
        ] {
            assert!(parse_contact_number(&bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn notify_windows_are_whole_non_negative_hours() {
        assert_eq!(parse_notify_window(&json!(1)), Ok(1));
        assert_eq!(parse_notify_window(&json!("24")), Ok(24));
        assert_eq!(parse_notify_window(&json!(" 2 ")), Ok(2));
        assert_eq!(parse_notify_window(&json!(2.0)), Ok(2));
        assert_eq!(parse_notify_window(&json!(0)), Ok(0));
        for bad in [
            json!(-1),
            json!("-1"),
            json!(1.5),
            json!("1.5"),
            json!("abc"),
            json!(true),
            json!([1]),
            json!(MAX_NOTIFY_WINDOW_HOURS + 1),
        ] {
            assert!(parse_notify_window(&bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn every_failing_field_is_named_in_order() {
        let issues = validate(
            &json!({"contact_number": "2223334444", "appointment_time": "2016-07-06T15:23",
                    "notify_window": "soon", "location": "x".repeat(129),
                    "participant": 7}),
            now(),
        )
        .unwrap_err();
        let fields: Vec<&str> = issues
            .iter()
            .map(|issue| issue.split(' ').next().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "contact_number",
                "appointment_time",
                "notify_window",
                "location",
                "participant"
            ]
        );
        let missing = validate(&json!({}), now()).unwrap_err();
        assert_eq!(
            missing,
            [
                "contact_number is required",
                "appointment_time is required",
                "notify_window is required"
            ]
        );
        assert_eq!(
            validate(&json!([1]), now()).unwrap_err(),
            ["the body must be a JSON object"]
        );
    }

    #[test]
    fn a_past_appointment_is_refused() {
        let issues = validate(
            &json!({"contact_number": "12223334444", "appointment_time": "2016-07-06T15:23-0800",
                    "notify_window": 1}),
            now(),
        )
        .unwrap_err();
        assert_eq!(issues, ["appointment_time must be in the future"]);
    }

    #[test]
    fn lengths_are_counted_in_characters() {
        let ok = validate(
            &json!({"contact_number": "12223334444", "appointment_time": "2027-07-06T15:23-0800",
                    "notify_window": 1, "location": "é".repeat(128), "participant": "ü".repeat(256)}),
            now(),
        );
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn offsets_become_zones_that_render_the_same_time() {
        let at: DateTime<Utc> = "2027-07-06T23:23:00Z".parse().unwrap();
        assert_eq!(
            zone_for_offset(-8 * 3600, at, None),
            Some(chrono_tz::Etc::GMTPlus8)
        );
        assert_eq!(
            zone_for_offset(3 * 3600, at, None),
            Some(chrono_tz::Etc::GMTMinus3)
        );
        assert_eq!(zone_for_offset(0, at, None), Some(Tz::UTC));
        // +05:30 has no Etc zone: the tenant's when it matches, else one that does.
        assert_eq!(
            zone_for_offset(19_800, at, Some(chrono_tz::Asia::Kolkata)),
            Some(chrono_tz::Asia::Kolkata)
        );
        let found = zone_for_offset(19_800, at, Some(chrono_tz::Europe::Berlin)).unwrap();
        assert_eq!(
            found
                .offset_from_utc_datetime(&at.naive_utc())
                .fix()
                .local_minus_utc(),
            19_800
        );
        assert_eq!(zone_for_offset(60, at, None), None);
    }

    #[test]
    fn ids_are_32_hex_digits() {
        let id = Uuid::new_v4();
        let text = format_id(id);
        assert_eq!(text.len(), 32);
        assert_eq!(parse_id(&text), Some(id));
        assert_eq!(parse_id(&text.to_uppercase()), Some(id));
        assert_eq!(parse_id(&id.to_string()), None);
        assert_eq!(parse_id("unknown"), None);
    }
}
