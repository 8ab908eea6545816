//! Requests of the catalog API (entities, appointment types, products, agents with their
//! hours and dated exceptions, customers) and their validation into values ready to store.
//!
//! Each `validate` records every failing field in the caller's [`Issues`] and returns the
//! value only while those stay empty: the routes add the checks that need the database (does
//! the referenced entity exist?) to the same issues, so one answer names them all, and
//! [`conclude`] turns both into the value or the 422.

use chrono::{Duration, NaiveDate};
use chrono_tz::Tz;
use serde::Deserialize;
use uuid::Uuid;

use attend_runtime::Problem;

use super::appointment::parse_offset;
use super::names;
use super::phone::normalize_e164;
use super::validation::{Issues, is_language_tag};

/// The longest a name (of an entity, appointment type or product) may be.
const MAX_NAME_LEN: usize = 200;
/// The longest a person's first or last name may be.
const MAX_PERSON_NAME_LEN: usize = 100;
/// The longest a description may be.
const MAX_DESCRIPTION_LEN: usize = 2000;
/// The longest a SIP id may be.
const MAX_SIP_ID_LEN: usize = 200;
/// The most default reminders an entity may have.
const MAX_REMINDERS: usize = 10;
/// The furthest before the start a default reminder may be (the table's limit: 365 days).
const MAX_REMINDER_OFFSET_MINUTES: i64 = 525_600;
/// The longest a note of a schedule exception may be.
const MAX_NOTE_LEN: usize = 500;
/// The longest an address part (street, zip, city, country) may be.
const MAX_ADDRESS_LEN: usize = 200;
/// The longest an email address may be (RFC 5321 path limit).
const MAX_EMAIL_LEN: usize = 254;
/// The highest price, in cents: far above any appointment, far below `i64` and `f64` limits.
const MAX_PRICE_CENTS: i64 = 10_000_000_000;
/// Minutes in a day; a span may end at 1440, the next midnight.
const MINUTES_PER_DAY: i16 = 1440;

/// What a product may ask of the booker or the participant.
pub const INFO_FIELDS: [&str; 9] = [
    "firstname",
    "lastname",
    "dob",
    "phone",
    "email",
    "street",
    "zip",
    "city",
    "country",
];

/// Agents' genders, as stored.
pub const GENDERS: [&str; 4] = ["male", "female", "diverse", "unspecified"];

/// Returns the validated value, or the problem naming every failing field.
///
/// `value` is `None` only when `issues` holds something, so the fallback problem is never
/// expected to be answered; it exists so that a slip answers 422 instead of panicking.
pub fn conclude<T>(value: Option<T>, issues: Issues) -> Result<T, Problem> {
    issues.finish()?;
    value.ok_or_else(|| Problem::invalid_field("body", "is invalid"))
}

/// Returns `value` trimmed, recording an issue unless it is 1 to `max` characters.
fn required_text(issues: &mut Issues, field: &str, value: &str, max: usize) -> String {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > max {
        issues.add(field, format!("must be 1 to {max} characters"));
    }
    trimmed.to_owned()
}

/// Returns `value` trimmed, `None` when absent or blank, recording an issue when it is
/// longer than `max` characters.
fn optional_text(
    issues: &mut Issues,
    field: &str,
    value: Option<String>,
    max: usize,
) -> Option<String> {
    let trimmed = value
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())?;
    if trimmed.chars().count() > max {
        issues.add(field, format!("must be at most {max} characters"));
    }
    Some(trimmed)
}

/// Returns the locale, `en` when absent, recording an issue unless it is a language tag.
fn locale_or_default(issues: &mut Issues, value: Option<String>) -> String {
    let locale = value
        .map(|text| text.trim().to_owned())
        .unwrap_or_else(|| "en".to_owned());
    if !is_language_tag(&locale) {
        issues.add(
            "locale",
            "must be a BCP 47 language tag such as en or de-DE",
        );
    }
    locale
}

/// Parses a wall-clock time `HH:MM` into minutes since midnight; `24:00` (1440) is the end
/// of the day.
pub fn parse_clock(text: &str) -> Result<i16, String> {
    const MESSAGE: &str = "must be a time HH:MM from 00:00 to 24:00";
    let (hours, minutes) = text.split_once(':').ok_or(MESSAGE)?;
    let two_digits = |part: &str| part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(hours) || !two_digits(minutes) {
        return Err(MESSAGE.to_owned());
    }
    let hours: i16 = hours.parse().map_err(|_| MESSAGE)?;
    let minutes: i16 = minutes.parse().map_err(|_| MESSAGE)?;
    if minutes > 59 || hours > 24 {
        return Err(MESSAGE.to_owned());
    }
    let total = hours * 60 + minutes;
    if total > MINUTES_PER_DAY {
        return Err(MESSAGE.to_owned());
    }
    Ok(total)
}

/// Returns `minutes` since midnight as `HH:MM` (1440 is `24:00`).
pub fn format_clock(minutes: i16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Parses a calendar date `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    const MESSAGE: &str = "must be a date YYYY-MM-DD";
    // chrono accepts one-digit months and days; the API promises the fixed-width form only.
    if text.len() != 10 {
        return Err(MESSAGE.to_owned());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| MESSAGE.to_owned())
}

/// Returns an ISO 8601 duration of whole minutes, `PT1440M` style.
pub fn format_offset(minutes: i32) -> String {
    format!("PT{minutes}M")
}

/// Parses `start`/`end` into a span of minutes, recording issues at `{prefix}start` and
/// `{prefix}end`. `start` must be before the end of the day and before `end`.
fn clock_span(issues: &mut Issues, prefix: &str, start: &str, end: &str) -> Option<(i16, i16)> {
    let start = match parse_clock(start) {
        Ok(minute) if minute >= MINUTES_PER_DAY => {
            issues.add(format!("{prefix}start"), "must be before 24:00");
            None
        }
        Ok(minute) => Some(minute),
        Err(message) => {
            issues.add(format!("{prefix}start"), message);
            None
        }
    };
    let end = match parse_clock(end) {
        Ok(0) => {
            issues.add(
                format!("{prefix}end"),
                "must be after 00:00; write 24:00 for midnight",
            );
            None
        }
        Ok(minute) => Some(minute),
        Err(message) => {
            issues.add(format!("{prefix}end"), message);
            None
        }
    };
    let (start, end) = (start?, end?);
    if end <= start {
        issues.add(format!("{prefix}end"), "must be after start");
        return None;
    }
    Some((start, end))
}

/// Records an issue at `{list}[i]` for every item equal to an earlier one.
fn flag_duplicates<T: PartialEq>(issues: &mut Issues, list: &str, items: &[T]) {
    for (index, item) in items.iter().enumerate() {
        if let Some(first) = items[..index].iter().position(|earlier| earlier == item) {
            issues.add(
                format!("{list}[{index}]"),
                format!("repeats {list}[{first}]"),
            );
        }
    }
}

/// `POST /v1/entities` and `PUT /v1/entities/{id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityRequest {
    /// Business name, 1 to 200 characters.
    pub name: String,
    /// IANA zone of the premises.
    pub time_zone: String,
    /// Language of customers booking by phone; `en` when absent.
    pub locale: Option<String>,
    /// ISO 4217 currency of product prices; `EUR` when absent.
    pub currency: Option<String>,
    /// Step between slot starts, 5 to 1440; each product's duration when absent or null.
    pub slot_interval_minutes: Option<i64>,
    /// SIP ids and called numbers that route calls here; none when absent.
    pub sip_ids: Option<Vec<String>>,
    /// Reminders every appointment gets; one voice call a day before when absent.
    pub reminders: Option<Vec<ReminderDefaultRequest>>,
}

/// One default reminder of an entity.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReminderDefaultRequest {
    /// `voice` or `sms`.
    pub channel: String,
    /// ISO 8601 duration before the start, in whole minutes, e.g. `P1D`, `PT2H`.
    pub offset: String,
}

/// A validated entity.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntity {
    /// Trimmed name.
    pub name: String,
    /// Its zone.
    pub time_zone: Tz,
    /// Language tag.
    pub locale: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Step between slot starts.
    pub slot_interval_minutes: Option<i32>,
    /// Trimmed, distinct SIP ids in request order.
    pub sip_ids: Vec<String>,
    /// Default reminders in request order.
    pub reminders: Vec<ReminderDefault>,
}

/// A validated default reminder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderDefault {
    /// Channel name, as stored.
    pub channel: String,
    /// Minutes before the start.
    pub offset_minutes: i32,
}

impl EntityRequest {
    /// Validates the request, recording every failing field in `issues`; returns the entity
    /// when `issues` is still empty.
    pub fn validate(self, issues: &mut Issues) -> Option<NewEntity> {
        let was_clean = issues.is_empty();
        let name = required_text(issues, "name", &self.name, MAX_NAME_LEN);
        let time_zone = self
            .time_zone
            .trim()
            .parse::<Tz>()
            .map_err(|_| {
                issues.add(
                    "time_zone",
                    "must be an IANA time zone such as Europe/Berlin",
                )
            })
            .ok();
        let locale = locale_or_default(issues, self.locale);
        let currency = self.currency.unwrap_or_else(|| "EUR".to_owned());
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            issues.add(
                "currency",
                "must be an ISO 4217 code of 3 uppercase letters such as EUR",
            );
        }
        let slot_interval_minutes = match self.slot_interval_minutes {
            None => None,
            Some(minutes) => match i32::try_from(minutes) {
                Ok(minutes) if (5..=1440).contains(&minutes) => Some(minutes),
                _ => {
                    issues.add("slot_interval_minutes", "must be null or from 5 to 1440");
                    None
                }
            },
        };

        let sip_ids: Vec<String> = self
            .sip_ids
            .unwrap_or_default()
            .iter()
            .map(|sip_id| sip_id.trim().to_owned())
            .collect();
        for (index, sip_id) in sip_ids.iter().enumerate() {
            if sip_id.is_empty() || sip_id.chars().count() > MAX_SIP_ID_LEN {
                issues.add(
                    format!("sip_ids[{index}]"),
                    format!("must be 1 to {MAX_SIP_ID_LEN} characters"),
                );
            }
        }
        flag_duplicates(issues, "sip_ids", &sip_ids);

        let requested = self.reminders.unwrap_or_else(|| {
            vec![ReminderDefaultRequest {
                channel: "voice".to_owned(),
                offset: "P1D".to_owned(),
            }]
        });
        if requested.len() > MAX_REMINDERS {
            issues.add(
                "reminders",
                format!("must hold at most {MAX_REMINDERS} reminders"),
            );
        }
        let mut reminders = Vec::with_capacity(requested.len());
        for (index, reminder) in requested.into_iter().enumerate() {
            let field = |name: &str| format!("reminders[{index}].{name}");
            if !matches!(reminder.channel.as_str(), "voice" | "sms") {
                issues.add(field("channel"), "must be voice or sms");
            }
            match offset_minutes(&reminder.offset) {
                Ok(minutes) => {
                    let candidate = ReminderDefault {
                        channel: reminder.channel,
                        offset_minutes: minutes,
                    };
                    if let Some(first) = reminders.iter().position(|r| *r == candidate) {
                        issues.add(field("offset"), format!("repeats reminders[{first}]"));
                    }
                    reminders.push(candidate);
                }
                Err(message) => issues.add(field("offset"), message),
            }
        }

        let time_zone = time_zone?;
        (was_clean && issues.is_empty()).then_some(NewEntity {
            name,
            time_zone,
            locale,
            currency,
            slot_interval_minutes,
            sip_ids,
            reminders,
        })
    }
}

/// Parses a reminder offset into whole minutes within the table's limit.
fn offset_minutes(text: &str) -> Result<i32, String> {
    let offset = parse_offset(text)?;
    if offset > Duration::minutes(MAX_REMINDER_OFFSET_MINUTES) {
        return Err("must be at most 365 days".to_owned());
    }
    if offset.num_seconds() % 60 != 0 || offset.subsec_nanos() != 0 {
        return Err("must be whole minutes".to_owned());
    }
    i32::try_from(offset.num_minutes()).map_err(|_| "must be at most 365 days".to_owned())
}

/// `POST /v1/appointment-types` and `PUT /v1/appointment-types/{id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppointmentTypeRequest {
    /// The entity offering it.
    pub entity_id: Uuid,
    /// Name, 1 to 200 characters.
    pub name: String,
    /// Free text; empty when absent.
    pub description: Option<String>,
}

/// A validated appointment type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAppointmentType {
    /// The entity offering it.
    pub entity_id: Uuid,
    /// Trimmed name.
    pub name: String,
    /// Trimmed description, possibly empty.
    pub description: String,
}

impl AppointmentTypeRequest {
    /// Validates the request, recording every failing field in `issues`; returns the type
    /// when `issues` is still empty. Whether the entity exists is the caller's check.
    pub fn validate(self, issues: &mut Issues) -> Option<NewAppointmentType> {
        let was_clean = issues.is_empty();
        let name = required_text(issues, "name", &self.name, MAX_NAME_LEN);
        let description =
            optional_text(issues, "description", self.description, MAX_DESCRIPTION_LEN)
                .unwrap_or_default();
        (was_clean && issues.is_empty()).then_some(NewAppointmentType {
            entity_id: self.entity_id,
            name,
            description,
        })
    }
}

/// `POST /v1/products` and `PUT /v1/products/{id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductRequest {
    /// The appointment type it is booked under.
    pub appointment_type_id: Uuid,
    /// Name, 1 to 200 characters.
    pub name: String,
    /// Length, 5 to 1440 minutes.
    pub duration_minutes: i64,
    /// Free text; empty when absent.
    pub description: Option<String>,
    /// Price in the entity's currency, at most 2 decimals; 0 when absent.
    pub price: Option<serde_json::Number>,
    /// What to ask the booker; first name, last name and phone when absent.
    pub booker_info: Option<Vec<String>>,
    /// What to ask the participant; nothing when absent.
    pub participant_info: Option<Vec<String>>,
}

/// A validated product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    /// The appointment type it is booked under.
    pub appointment_type_id: Uuid,
    /// Trimmed name.
    pub name: String,
    /// Length in minutes.
    pub duration_minutes: i32,
    /// Trimmed description, possibly empty.
    pub description: String,
    /// Price in minor units.
    pub price_cents: i64,
    /// Info fields to ask the booker.
    pub booker_info: Vec<String>,
    /// Info fields to ask the participant.
    pub participant_info: Vec<String>,
}

impl ProductRequest {
    /// Validates the request, recording every failing field in `issues`; returns the product
    /// when `issues` is still empty. Whether the appointment type exists is the caller's check.
    pub fn validate(self, issues: &mut Issues) -> Option<NewProduct> {
        let was_clean = issues.is_empty();
        let name = required_text(issues, "name", &self.name, MAX_NAME_LEN);
        let duration_minutes = i32::try_from(self.duration_minutes)
            .ok()
            .filter(|minutes| (5..=1440).contains(minutes));
        if duration_minutes.is_none() {
            issues.add("duration_minutes", "must be from 5 to 1440");
        }
        let description =
            optional_text(issues, "description", self.description, MAX_DESCRIPTION_LEN)
                .unwrap_or_default();
        let price_cents = match self.price {
            None => Some(0),
            Some(price) => price_cents(&price)
                .map_err(|message| issues.add("price", message))
                .ok(),
        };
        let booker_info = info_list(
            issues,
            "booker_info",
            self.booker_info.unwrap_or_else(|| {
                ["firstname", "lastname", "phone"]
                    .map(str::to_owned)
                    .to_vec()
            }),
        );
        let participant_info = info_list(
            issues,
            "participant_info",
            self.participant_info.unwrap_or_default(),
        );
        let (duration_minutes, price_cents) = (duration_minutes?, price_cents?);
        (was_clean && issues.is_empty()).then_some(NewProduct {
            appointment_type_id: self.appointment_type_id,
            name,
            duration_minutes,
            description,
            price_cents,
            booker_info,
            participant_info,
        })
    }
}

/// Converts a JSON price into cents: at least 0, at most 2 decimals.
pub fn price_cents(price: &serde_json::Number) -> Result<i64, String> {
    let too_high = || format!("must be at most {}", MAX_PRICE_CENTS / 100);
    if let Some(whole) = price.as_u64() {
        return whole
            .checked_mul(100)
            .and_then(|cents| i64::try_from(cents).ok())
            .filter(|cents| *cents <= MAX_PRICE_CENTS)
            .ok_or_else(too_high);
    }
    let value = price
        .as_f64()
        .filter(|value| value.is_finite())
        .ok_or("must be a number")?;
    if value < 0.0 {
        return Err("must be 0 or more".to_owned());
    }
    let scaled = value * 100.0;
    let cents = scaled.round();
    // Decimal fractions are inexact in binary (0.29 * 100 is 28.999…), so "at most 2
    // decimals" means "within rounding noise of a whole number of cents".
    if (scaled - cents).abs() > 1e-6 {
        return Err("must have at most 2 decimals".to_owned());
    }
    if cents > MAX_PRICE_CENTS as f64 {
        return Err(too_high());
    }
    Ok(cents as i64)
}

/// Returns `cents` as a JSON number: an integer when whole (45), else with decimals (45.5).
pub fn price_json(cents: i64) -> serde_json::Number {
    if cents % 100 == 0 {
        return serde_json::Number::from(cents / 100);
    }
    serde_json::Number::from_f64(cents as f64 / 100.0).unwrap_or_else(|| cents.into())
}

/// Checks an info list: each item one of [`INFO_FIELDS`], none twice.
fn info_list(issues: &mut Issues, list: &str, items: Vec<String>) -> Vec<String> {
    for (index, item) in items.iter().enumerate() {
        if !INFO_FIELDS.contains(&item.as_str()) {
            issues.add(
                format!("{list}[{index}]"),
                format!("must be one of {}", INFO_FIELDS.join(", ")),
            );
        }
    }
    flag_duplicates(issues, list, &items);
    items
}

/// `POST /v1/agents` and `PUT /v1/agents/{id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentRequest {
    /// The entity they work at.
    pub entity_id: Uuid,
    /// male | female | diverse | unspecified.
    pub gender: String,
    /// First name, 1 to 100 characters.
    pub first_name: String,
    /// Last name, 1 to 100 characters.
    pub last_name: String,
    /// The appointment types they serve, all of the same entity.
    pub appointment_type_ids: Vec<Uuid>,
    /// Weekly hours.
    pub working_hours: Vec<WorkingHoursRequest>,
}

/// One weekly working span.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkingHoursRequest {
    /// ISO weekday, 1 = Monday to 7 = Sunday.
    pub weekday: i64,
    /// Local start, `HH:MM`.
    pub start: String,
    /// Local end, `HH:MM`, `24:00` for midnight.
    pub end: String,
}

/// A validated agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAgent {
    /// The entity they work at.
    pub entity_id: Uuid,
    /// Gender, as stored.
    pub gender: String,
    /// Trimmed first name.
    pub first_name: String,
    /// Trimmed last name.
    pub last_name: String,
    /// Distinct appointment type ids.
    pub appointment_type_ids: Vec<Uuid>,
    /// Weekly spans, none overlapping another of its weekday.
    pub working_hours: Vec<WorkingSpan>,
}

/// A validated weekly span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingSpan {
    /// ISO weekday.
    pub weekday: i16,
    /// First minute from local midnight.
    pub start_minute: i16,
    /// Minute after the last, at most 1440.
    pub end_minute: i16,
}

impl AgentRequest {
    /// Validates the request, recording every failing field in `issues`; returns the agent
    /// when `issues` is still empty. Whether the entity and the appointment types exist (and
    /// belong together) is the caller's check.
    pub fn validate(self, issues: &mut Issues) -> Option<NewAgent> {
        let was_clean = issues.is_empty();
        if !GENDERS.contains(&self.gender.as_str()) {
            issues.add("gender", format!("must be one of {}", GENDERS.join(", ")));
        }
        let first_name = required_text(issues, "first_name", &self.first_name, MAX_PERSON_NAME_LEN);
        let last_name = required_text(issues, "last_name", &self.last_name, MAX_PERSON_NAME_LEN);
        flag_duplicates(issues, "appointment_type_ids", &self.appointment_type_ids);

        let mut spans: Vec<(usize, WorkingSpan)> = Vec::with_capacity(self.working_hours.len());
        for (index, hours) in self.working_hours.iter().enumerate() {
            let prefix = format!("working_hours[{index}].");
            let weekday = i16::try_from(hours.weekday)
                .ok()
                .filter(|weekday| (1..=7).contains(weekday));
            if weekday.is_none() {
                issues.add(
                    format!("{prefix}weekday"),
                    "must be an ISO weekday from 1 (Monday) to 7 (Sunday)",
                );
            }
            let span = clock_span(issues, &prefix, &hours.start, &hours.end);
            if let (Some(weekday), Some((start_minute, end_minute))) = (weekday, span) {
                let span = WorkingSpan {
                    weekday,
                    start_minute,
                    end_minute,
                };
                if let Some((other, _)) = spans.iter().find(|(_, earlier)| {
                    earlier.weekday == span.weekday
                        && earlier.start_minute < span.end_minute
                        && span.start_minute < earlier.end_minute
                }) {
                    issues.add(
                        format!("working_hours[{index}]"),
                        format!("overlaps working_hours[{other}] on the same weekday"),
                    );
                }
                spans.push((index, span));
            }
        }

        (was_clean && issues.is_empty()).then(|| NewAgent {
            entity_id: self.entity_id,
            gender: self.gender,
            first_name,
            last_name,
            appointment_type_ids: self.appointment_type_ids,
            working_hours: spans.into_iter().map(|(_, span)| span).collect(),
        })
    }
}

/// `POST /v1/agents/{id}/exceptions` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleExceptionRequest {
    /// Local date, `YYYY-MM-DD`.
    pub date: String,
    /// `closed` (no work in the span, the whole day without one) or `open` (an extra shift).
    pub kind: String,
    /// Local start, `HH:MM`; with `end`, or neither.
    pub start: Option<String>,
    /// Local end, `HH:MM`; with `start`, or neither.
    pub end: Option<String>,
    /// Free text; empty when absent.
    pub note: Option<String>,
}

/// A validated schedule exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewScheduleException {
    /// Local date.
    pub date: NaiveDate,
    /// closed | open.
    pub kind: String,
    /// Span start, minutes from local midnight.
    pub start_minute: Option<i16>,
    /// Span end.
    pub end_minute: Option<i16>,
    /// Trimmed note, possibly empty.
    pub note: String,
}

impl ScheduleExceptionRequest {
    /// Validates the request, recording every failing field in `issues`; returns the
    /// exception when `issues` is still empty.
    pub fn validate(self, issues: &mut Issues) -> Option<NewScheduleException> {
        let was_clean = issues.is_empty();
        let date = parse_date(&self.date)
            .map_err(|message| issues.add("date", message))
            .ok();
        let kind_ok = matches!(self.kind.as_str(), "closed" | "open");
        if !kind_ok {
            issues.add("kind", "must be closed or open");
        }
        let span = match (&self.start, &self.end) {
            (Some(start), Some(end)) => clock_span(issues, "", start, end).map(Some),
            (None, None) => {
                if self.kind == "open" {
                    issues.add("start", "an open exception needs start and end");
                    None
                } else {
                    Some(None)
                }
            }
            (Some(_), None) => {
                issues.add("end", "give both start and end, or neither");
                None
            }
            (None, Some(_)) => {
                issues.add("start", "give both start and end, or neither");
                None
            }
        };
        let note = optional_text(issues, "note", self.note, MAX_NOTE_LEN).unwrap_or_default();
        let (date, span) = (date?, span?);
        (was_clean && issues.is_empty()).then(|| NewScheduleException {
            date,
            kind: self.kind,
            start_minute: span.map(|(start, _)| start),
            end_minute: span.map(|(_, end)| end),
            note,
        })
    }
}

/// `POST /v1/customers` and `PUT /v1/customers/{id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerRequest {
    /// First name, 1 to 100 characters.
    pub first_name: String,
    /// Last name, 1 to 100 characters.
    pub last_name: String,
    /// `YYYY-MM-DD`, not in the future.
    pub date_of_birth: Option<String>,
    /// Phone number, E.164 or national in the tenant's default region.
    pub phone: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Street and number.
    pub street: Option<String>,
    /// Postal code.
    pub zip: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// BCP 47 language tag; `en` when absent.
    pub locale: Option<String>,
}

/// A validated customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    /// Trimmed first name.
    pub first_name: String,
    /// Trimmed last name.
    pub last_name: String,
    /// "first last", the name reminders address them by.
    pub name: String,
    /// First name folded for matching.
    pub first_name_folded: String,
    /// Last name folded for matching.
    pub last_name_folded: String,
    /// Date of birth.
    pub date_of_birth: Option<NaiveDate>,
    /// Phone in E.164.
    pub phone_e164: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Street.
    pub street: Option<String>,
    /// Postal code.
    pub zip: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// Language tag.
    pub locale: String,
}

impl CustomerRequest {
    /// Validates the request for a tenant reading national numbers in `default_region`, on
    /// `today`, recording every failing field in `issues`; returns the customer when nothing
    /// of it failed. Blank optional fields count as absent.
    pub fn validate(
        self,
        default_region: &str,
        today: NaiveDate,
        issues: &mut Issues,
    ) -> Option<NewCustomer> {
        let was_clean = issues.is_empty();
        let first_name = required_text(issues, "first_name", &self.first_name, MAX_PERSON_NAME_LEN);
        let last_name = required_text(issues, "last_name", &self.last_name, MAX_PERSON_NAME_LEN);
        let date_of_birth = self
            .date_of_birth
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty())
            .and_then(|text| match parse_date(&text) {
                Ok(date) if date > today => {
                    issues.add("date_of_birth", "must not be in the future");
                    None
                }
                Ok(date) => Some(date),
                Err(message) => {
                    issues.add("date_of_birth", message);
                    None
                }
            });
        let phone_e164 = self
            .phone
            .filter(|text| !text.trim().is_empty())
            .and_then(|raw| {
                normalize_e164(&raw, default_region)
                    .map_err(|message| issues.add("phone", message))
                    .ok()
            });
        let email = optional_text(issues, "email", self.email, MAX_EMAIL_LEN);
        if email.as_deref().is_some_and(|email| !is_email(email)) {
            issues.add("email", "must be an email address such as ada@example.com");
        }
        let street = optional_text(issues, "street", self.street, MAX_ADDRESS_LEN);
        let zip = optional_text(issues, "zip", self.zip, MAX_ADDRESS_LEN);
        let city = optional_text(issues, "city", self.city, MAX_ADDRESS_LEN);
        let country = optional_text(issues, "country", self.country, MAX_ADDRESS_LEN);
        let locale = locale_or_default(issues, self.locale);
        (was_clean && issues.is_empty()).then(|| NewCustomer {
            name: format!("{first_name} {last_name}"),
            first_name_folded: names::fold(&first_name),
            last_name_folded: names::fold(&last_name),
            first_name,
            last_name,
            date_of_birth,
            phone_e164,
            email,
            street,
            zip,
            city,
            country,
            locale,
        })
    }
}

/// Returns whether `text` looks like an email address: one `@` with text on both sides, a
/// dot inside the domain, no whitespace. Deliverability is the mail server's business.
fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(problem: &Problem) -> Vec<&str> {
        problem
            .errors
            .iter()
            .map(|issue| issue.field.as_str())
            .collect()
    }

    fn run<T>(validate: impl FnOnce(&mut Issues) -> Option<T>) -> Result<T, Problem> {
        let mut issues = Issues::default();
        let value = validate(&mut issues);
        conclude(value, issues)
    }

    #[test]
    fn sms_default_reminders_are_accepted_beside_voice_ones() {
        let request: EntityRequest = serde_json::from_str(
            r#"{"name":"Clinic","time_zone":"Europe/Berlin",
                "reminders":[{"channel":"sms","offset":"PT2H"},{"channel":"voice","offset":"PT2H"}]}"#,
        )
        .unwrap();
        let entity = run(|issues| request.validate(issues)).unwrap();
        assert_eq!(
            entity.reminders,
            [
                ReminderDefault {
                    channel: "sms".to_owned(),
                    offset_minutes: 120
                },
                ReminderDefault {
                    channel: "voice".to_owned(),
                    offset_minutes: 120
                }
            ]
        );
    }

    #[test]
    fn an_entity_gets_its_defaults() {
        let request: EntityRequest =
            serde_json::from_str(r#"{"name":" Clinic ","time_zone":"Europe/Berlin"}"#).unwrap();
        let entity = run(|issues| request.validate(issues)).unwrap();
        assert_eq!(entity.name, "Clinic");
        assert_eq!(entity.locale, "en");
        assert_eq!(entity.currency, "EUR");
        assert_eq!(entity.slot_interval_minutes, None);
        assert!(entity.sip_ids.is_empty());
        assert_eq!(
            entity.reminders,
            [ReminderDefault {
                channel: "voice".to_owned(),
                offset_minutes: 1440
            }]
        );
    }

    #[test]
    fn every_failing_entity_field_is_named() {
        let request: EntityRequest = serde_json::from_str(
            r#"{"name":"","time_zone":"Mars/Base","locale":"english please","currency":"eur",
                "slot_interval_minutes":3,"sip_ids":["a"," a ",""],
                "reminders":[{"channel":"pigeon","offset":"PT1H"},{"channel":"voice","offset":"P1M"},
                             {"channel":"voice","offset":"PT90S"}]}"#,
        )
        .unwrap();
        let problem = run(|issues| request.validate(issues)).unwrap_err();
        assert_eq!(
            fields(&problem),
            [
                "name",
                "time_zone",
                "locale",
                "currency",
                "slot_interval_minutes",
                "sip_ids[2]",
                "sip_ids[1]",
                "reminders[0].channel",
                "reminders[1].offset",
                "reminders[2].offset"
            ]
        );
        assert_eq!(problem.errors[7].message, "must be voice or sms");
    }

    #[test]
    fn clock_times_parse_strictly() {
        assert_eq!(parse_clock("00:00"), Ok(0));
        assert_eq!(parse_clock("09:30"), Ok(570));
        assert_eq!(parse_clock("24:00"), Ok(1440));
        for bad in [
            "24:01", "9:30", "09:60", "0930", "25:00", "", "ab:cd", "+1:00",
        ] {
            assert!(parse_clock(bad).is_err(), "{bad}");
        }
        assert_eq!(format_clock(570), "09:30");
        assert_eq!(format_clock(1440), "24:00");
    }

    #[test]
    fn overlapping_and_backwards_hours_are_named() {
        let request: AgentRequest = serde_json::from_str(
            r#"{"entity_id":"0190f0f0-0000-7000-8000-000000000000","gender":"robot",
                "first_name":"Ada","last_name":"King","appointment_type_ids":[],
                "working_hours":[{"weekday":1,"start":"09:00","end":"12:00"},
                                 {"weekday":1,"start":"11:00","end":"13:00"},
                                 {"weekday":2,"start":"12:00","end":"09:00"},
                                 {"weekday":8,"start":"24:00","end":"24:00"},
                                 {"weekday":1,"start":"12:00","end":"24:00"}]}"#,
        )
        .unwrap();
        let problem = run(|issues| request.validate(issues)).unwrap_err();
        assert_eq!(
            fields(&problem),
            [
                "gender",
                "working_hours[1]",
                "working_hours[2].end",
                "working_hours[3].weekday",
                "working_hours[3].start",
                "working_hours[4]"
            ]
        );
    }

    #[test]
    fn prices_have_at_most_two_decimals() {
        let number = |text: &str| serde_json::from_str::<serde_json::Number>(text).unwrap();
        assert_eq!(price_cents(&number("45")), Ok(4500));
        assert_eq!(price_cents(&number("45.5")), Ok(4550));
        assert_eq!(price_cents(&number("0.29")), Ok(29));
        assert_eq!(price_cents(&number("19.99")), Ok(1999));
        assert!(price_cents(&number("1.005")).is_err());
        assert!(price_cents(&number("-1")).is_err());
        assert!(price_cents(&number("-0.5")).is_err());
        assert!(price_cents(&number("1e300")).is_err());
        assert_eq!(price_json(4500).to_string(), "45");
        assert_eq!(price_json(4550).to_string(), "45.5");
        assert_eq!(price_json(1999).to_string(), "19.99");
    }

    #[test]
    fn product_info_lists_are_checked() {
        let request: ProductRequest = serde_json::from_str(
            r#"{"appointment_type_id":"0190f0f0-0000-7000-8000-000000000000","name":"Cut",
                "duration_minutes":3,"price":1.234,
                "booker_info":["firstname","shoe_size","firstname"]}"#,
        )
        .unwrap();
        let problem = run(|issues| request.validate(issues)).unwrap_err();
        assert_eq!(
            fields(&problem),
            [
                "duration_minutes",
                "price",
                "booker_info[1]",
                "booker_info[2]"
            ]
        );
    }

    #[test]
    fn exceptions_need_a_span_when_open() {
        let open: ScheduleExceptionRequest =
            serde_json::from_str(r#"{"date":"2026-12-24","kind":"open"}"#).unwrap();
        assert_eq!(
            fields(&run(|issues| open.validate(issues)).unwrap_err()),
            ["start"]
        );
        let closed: ScheduleExceptionRequest =
            serde_json::from_str(r#"{"date":"2026-12-24","kind":"closed"}"#).unwrap();
        let closed = run(|issues| closed.validate(issues)).unwrap();
        assert_eq!(closed.start_minute, None);
        let half: ScheduleExceptionRequest =
            serde_json::from_str(r#"{"date":"2026-2-30","kind":"later","start":"10:00"}"#).unwrap();
        assert_eq!(
            fields(&run(|issues| half.validate(issues)).unwrap_err()),
            ["date", "kind", "end"]
        );
    }

    #[test]
    fn customers_are_normalised() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let request: CustomerRequest = serde_json::from_str(
            r#"{"first_name":" José ","last_name":"Müller","phone":"(201) 555-0123",
                "email":"jose@example.com","date_of_birth":"1990-01-31","city":" "}"#,
        )
        .unwrap();
        let customer = run(|issues| request.validate("US", today, issues)).unwrap();
        assert_eq!(customer.name, "José Müller");
        assert_eq!(customer.last_name_folded, "muller");
        assert_eq!(customer.phone_e164.as_deref(), Some("+12015550123"));
        assert_eq!(customer.city, None);

        let request: CustomerRequest = serde_json::from_str(
            r#"{"first_name":"","last_name":"X","phone":"12","email":"a@b",
                "date_of_birth":"2030-01-01"}"#,
        )
        .unwrap();
        assert_eq!(
            fields(&run(|issues| request.validate("US", today, issues)).unwrap_err()),
            ["first_name", "date_of_birth", "phone", "email"]
        );
    }

    #[test]
    fn emails_need_one_at_and_a_dotted_domain() {
        assert!(is_email("ada@example.com"));
        for bad in [
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "a@b@c.d",
            "a b@c.d",
            "a@.c",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }
}
