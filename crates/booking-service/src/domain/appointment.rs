//! The create-appointment request, and its validation into a [`NewAppointment`].

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use attend_runtime::Problem;

use super::offset::Offset;
use super::phone::normalize_e164;
use super::reminder_policy::validate_metadata;
use super::validation::{Issues, is_language_tag};

/// The longest a free-text field may be.
const MAX_TEXT_LEN: usize = 500;
/// The most reminders one appointment may have.
const MAX_REMINDERS: usize = 10;
/// Appointment length when the request does not say.
pub const DEFAULT_DURATION_MINUTES: i64 = 30;

/// The channel a reminder goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// A phone call with a DTMF menu.
    Voice,
    /// A text message answered Yes or No.
    Sms,
}

impl Channel {
    /// Returns the stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Voice => "voice",
            Self::Sms => "sms",
        }
    }
}

/// `POST /v1/appointments` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAppointmentRequest {
    /// Who the appointment is for.
    pub customer: CustomerRequest,
    /// RFC 3339 start, with its offset.
    pub start: String,
    /// Length in minutes; 30 when absent.
    pub duration_minutes: Option<i64>,
    /// IANA zone of the customer, for speaking and writing the time.
    pub time_zone: String,
    /// Free text, e.g. the clinic's address.
    pub location: Option<String>,
    /// Reminders to send before the start. Absent: the plan of `appointment_type_id`'s
    /// reminder policy (none without a type); given, even empty, it overrides the plan.
    #[serde(default)]
    pub reminders: Option<Vec<ReminderRequest>>,
    /// The appointment type whose reminder policy (plan and texts) applies.
    pub appointment_type_id: Option<uuid::Uuid>,
    /// A text after the end, overriding the policy's follow-up.
    pub follow_up: Option<FollowUpRequest>,
    /// Values for `{metadata.key}` placeholders: an object of strings (numbers and booleans
    /// are written as text).
    pub metadata: Option<serde_json::Value>,
    /// Refuse the booking when the customer opted out of a channel it plans to use.
    #[serde(default)]
    pub eligible_only: bool,
}

/// The follow-up part of the request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUpRequest {
    /// ISO 8601 duration after the end, e.g. `PT2H`.
    pub offset: String,
}

/// The customer part of the request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerRequest {
    /// Name to address them by.
    pub name: String,
    /// Phone number, E.164 or national in the tenant's default region.
    pub phone: String,
    /// BCP 47 language tag; `en` when absent.
    pub locale: Option<String>,
}

/// One requested reminder: exactly one of `offset` (before the start) and `at`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReminderRequest {
    /// Channel to send it on.
    pub channel: Channel,
    /// ISO 8601 duration before the start, e.g. `PT2H`, `P1D`.
    pub offset: Option<String>,
    /// RFC 3339 instant.
    pub at: Option<String>,
}

/// A validated appointment, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAppointment {
    /// Customer name, trimmed.
    pub customer_name: String,
    /// Customer phone in E.164.
    pub customer_phone: String,
    /// Customer locale.
    pub customer_locale: String,
    /// Start instant.
    pub start: DateTime<Utc>,
    /// End instant.
    pub end: DateTime<Utc>,
    /// The customer's zone.
    pub time_zone: Tz,
    /// Trimmed location, if any.
    pub location: Option<String>,
    /// Reminders with their due instants; `None` when the request left them to the policy.
    pub reminders: Option<Vec<PlannedReminder>>,
    /// The appointment type named.
    pub appointment_type_id: Option<uuid::Uuid>,
    /// The follow-up offset, when the request gave one.
    pub follow_up: Option<Offset>,
    /// Validated metadata, a JSON object of strings.
    pub metadata: serde_json::Value,
    /// Refuse when the customer opted out of a planned channel.
    pub eligible_only: bool,
}

/// A reminder with its due instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedReminder {
    /// Channel to send it on.
    pub channel: Channel,
    /// When to send it; may be past (then it fires at once).
    pub due_at: DateTime<Utc>,
}

impl CreateAppointmentRequest {
    /// Validates the request at `now` for a tenant reading national numbers in
    /// `default_region`; the problem names every failing field.
    pub fn validate(
        self,
        default_region: &str,
        now: DateTime<Utc>,
    ) -> Result<NewAppointment, Problem> {
        let mut issues = Issues::default();

        let customer_name = self.customer.name.trim().to_owned();
        if customer_name.is_empty() || customer_name.chars().count() > 200 {
            issues.add("customer.name", "must be 1 to 200 characters");
        }
        let customer_phone = normalize_e164(&self.customer.phone, default_region)
            .map_err(|message| issues.add("customer.phone", message))
            .unwrap_or_default();
        let customer_locale = self.customer.locale.unwrap_or_else(|| "en".to_owned());
        if !is_language_tag(&customer_locale) {
            issues.add(
                "customer.locale",
                "must be a BCP 47 language tag such as en or de-DE",
            );
        }

        let time_zone = self
            .time_zone
            .parse::<Tz>()
            .map_err(|_| {
                issues.add(
                    "time_zone",
                    "must be an IANA time zone such as Europe/Berlin",
                )
            })
            .ok();

        let start = DateTime::parse_from_rfc3339(&self.start)
            .map(|start| start.with_timezone(&Utc))
            .map_err(|_| {
                issues.add(
                    "start",
                    "must be an RFC 3339 date-time with offset, e.g. 2026-12-01T09:30:00+01:00",
                )
            })
            .ok();
        if let Some(start) = start
            && start <= now
        {
            issues.add("start", "must be in the future");
        }

        let duration_minutes = self.duration_minutes.unwrap_or(DEFAULT_DURATION_MINUTES);
        if !(1..=24 * 60).contains(&duration_minutes) {
            issues.add("duration_minutes", "must be from 1 to 1440");
        }

        let location = self
            .location
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty());
        if location
            .as_ref()
            .is_some_and(|text| text.chars().count() > MAX_TEXT_LEN)
        {
            issues.add(
                "location",
                format!("must be at most {MAX_TEXT_LEN} characters"),
            );
        }

        let requested_reminders = self.reminders.as_ref().map_or(0, Vec::len);
        if requested_reminders > MAX_REMINDERS {
            issues.add(
                "reminders",
                format!("must hold at most {MAX_REMINDERS} reminders"),
            );
        }
        let follow_up = self.follow_up.and_then(|follow_up| {
            Offset::parse(&follow_up.offset)
                .map_err(|message| issues.add("follow_up.offset", message))
                .ok()
        });
        let metadata = validate_metadata(self.metadata.as_ref(), "metadata", &mut issues);
        let explicit = self.reminders.is_some();
        let mut reminders = Vec::with_capacity(requested_reminders);
        for (index, reminder) in self.reminders.into_iter().flatten().enumerate() {
            let field = |name: &str| format!("reminders[{index}].{name}");
            let due_at = match (&reminder.offset, &reminder.at) {
                (Some(offset), None) => match Offset::parse(offset) {
                    Ok(offset) => start
                        .zip(time_zone)
                        .map(|(start, zone)| offset.before(start, zone)),
                    Err(message) => {
                        issues.add(field("offset"), message);
                        None
                    }
                },
                (None, Some(at)) => match DateTime::parse_from_rfc3339(at) {
                    Ok(at) => Some(at.with_timezone(&Utc)),
                    Err(_) => {
                        issues.add(field("at"), "must be an RFC 3339 date-time with offset");
                        None
                    }
                },
                _ => {
                    issues.add(field("offset"), "give exactly one of offset and at");
                    None
                }
            };
            if let (Some(due_at), Some(start)) = (due_at, start) {
                if due_at >= start {
                    issues.add(
                        field(if reminder.at.is_some() {
                            "at"
                        } else {
                            "offset"
                        }),
                        "must fall before the start",
                    );
                }
                reminders.push(PlannedReminder {
                    channel: reminder.channel,
                    due_at,
                });
            }
        }

        if let Some(problem) = issues.into_problem() {
            return Err(problem);
        }
        // Every `None` above recorded an issue, so these hold values here.
        let (Some(start), Some(time_zone)) = (start, time_zone) else {
            return Err(Problem::invalid_field("start", "is invalid"));
        };
        Ok(NewAppointment {
            customer_name,
            customer_phone,
            customer_locale,
            start,
            end: start + Duration::minutes(duration_minutes),
            time_zone,
            location,
            reminders: explicit.then_some(reminders),
            appointment_type_id: self.appointment_type_id,
            follow_up,
            metadata,
            eligible_only: self.eligible_only,
        })
    }
}

/// Parses an ISO 8601 duration as elapsed time, days counted as 24 hours: what the catalog's
/// entity defaults store (as minutes). Reminders of appointments and policies are applied on
/// the calendar instead ([`Offset`]).
pub fn parse_offset(text: &str) -> Result<Duration, String> {
    let offset = Offset::parse(text)?;
    Ok(Duration::days(offset.days) + offset.clock)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn request(json: &str) -> CreateAppointmentRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_valid_request_gets_due_times_from_offsets() {
        let appointment = request(
            r#"{"customer":{"name":" Ada ","phone":"+12015550123","locale":"en-GB"},
                "start":"2026-11-22T09:30:00+01:00","time_zone":"Europe/Berlin",
                "reminders":[{"channel":"voice","offset":"P1D"},{"channel":"voice","at":"2026-11-22T07:00:00Z"}]}"#,
        )
        .validate("US", now())
        .unwrap();
        assert_eq!(appointment.customer_name, "Ada");
        assert_eq!(appointment.start.to_rfc3339(), "2026-11-22T08:30:00+00:00");
        assert_eq!(appointment.end - appointment.start, Duration::minutes(30));
        assert_eq!(
            appointment.reminders.as_ref().unwrap()[0]
                .due_at
                .to_rfc3339(),
            "2026-11-21T08:30:00+00:00"
        );
        assert_eq!(
            appointment.reminders.as_ref().unwrap()[1]
                .due_at
                .to_rfc3339(),
            "2026-11-22T07:00:00+00:00"
        );
    }

    #[test]
    fn every_failing_field_is_named() {
        let problem = request(
            r#"{"customer":{"name":"","phone":"12"},"start":"tomorrow","time_zone":"Mars/Base",
                "reminders":[{"channel":"voice"},{"channel":"voice","offset":"P1M"}]}"#,
        )
        .validate("US", now())
        .unwrap_err();
        let fields: Vec<&str> = problem
            .errors
            .iter()
            .map(|issue| issue.field.as_str())
            .collect();
        assert_eq!(
            fields,
            [
                "customer.name",
                "customer.phone",
                "time_zone",
                "start",
                "reminders[0].offset",
                "reminders[1].offset"
            ]
        );
        assert_eq!(problem.status, 422);
    }

    #[test]
    fn a_start_in_the_past_is_refused() {
        let problem = request(
            r#"{"customer":{"name":"Ada","phone":"+12015550123"},"start":"2026-11-21T09:00:00Z","time_zone":"UTC"}"#,
        )
        .validate("US", now())
        .unwrap_err();
        assert_eq!(problem.errors[0].field, "start");
    }

    #[test]
    fn a_reminder_at_or_after_the_start_is_refused() {
        let problem = request(
            r#"{"customer":{"name":"Ada","phone":"+12015550123"},"start":"2026-11-22T09:00:00Z","time_zone":"UTC",
                "reminders":[{"channel":"voice","at":"2026-11-22T09:00:00Z"}]}"#,
        )
        .validate("US", now())
        .unwrap_err();
        assert_eq!(problem.errors[0].field, "reminders[0].at");
    }

    #[test]
    fn sms_reminders_are_planned_like_voice_ones() {
        let appointment = request(
            r#"{"customer":{"name":"Ada","phone":"+12015550123"},"start":"2026-11-22T09:00:00Z","time_zone":"UTC",
                "reminders":[{"channel":"sms","offset":"PT2H"},{"channel":"voice","offset":"PT1H"}]}"#,
        )
        .validate("US", now())
        .unwrap();
        assert_eq!(
            appointment.reminders.as_ref().unwrap()[0].channel,
            Channel::Sms
        );
        assert_eq!(
            appointment.reminders.as_ref().unwrap()[0]
                .due_at
                .to_rfc3339(),
            "2026-11-22T07:00:00+00:00"
        );
        assert_eq!(
            appointment.reminders.as_ref().unwrap()[1].channel,
            Channel::Voice
        );
    }

    #[test]
    fn offsets_parse_exact_units_only() {
        assert_eq!(parse_offset("PT2H").unwrap(), Duration::hours(2));
        assert_eq!(
            parse_offset("P1DT30M").unwrap(),
            Duration::minutes(24 * 60 + 30)
        );
        assert_eq!(parse_offset("P2W").unwrap(), Duration::weeks(2));
        assert!(parse_offset("P1M").is_err());
        assert!(parse_offset("PT0S").is_err());
        assert!(parse_offset("2 hours").is_err());
    }
}
