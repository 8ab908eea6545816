//! The reminder policy of an appointment type: which reminders go out before the start, the
//! follow-up after the end, whether a no-show gets a message, and the texts of each, per
//! channel and language (docs/reminder-policies.md).
//!
//! A policy is validated whole on save, and every error names its field
//! (`templates[2].text`). It is stored as the normalized JSON it is shown as, so reading it
//! back is deserializing the same shape.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use attend_text::sms;
use attend_text::template;

use super::offset::Offset;
use super::validation::Issues;

/// The most reminders one plan may hold.
pub const MAX_PLAN_REMINDERS: usize = 10;
/// The most templates one policy may hold.
pub const MAX_POLICY_TEMPLATES: usize = 100;
/// The longest template, in characters.
pub const MAX_TEMPLATE_CHARS: usize = 1000;
/// The placeholders a spoken reminder text may use, besides `{metadata.key}`. The call's
/// menu follows the text; see docs/voice.md.
pub const VOICE_PLACEHOLDERS: [&str; 8] = [
    "name",
    "first_name",
    "last_name",
    "business",
    "date",
    "time",
    "location",
    "callback_number",
];

/// `PUT /v1/appointment-types/{id}/reminder-policy` body, and what `GET` answers: the stored
/// policy is this shape, normalized.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReminderPolicy {
    /// Reminders before the start, each answered (voice menu, SMS Yes/No).
    #[serde(default)]
    pub reminders: Vec<PlanReminder>,
    /// A message after the end; skipped when a no-show was recorded.
    #[serde(default)]
    pub follow_up: Option<FollowUp>,
    /// Whether recording a no-show sends the no-show message (by SMS). Default true.
    #[serde(default = "default_true")]
    pub no_show_message: bool,
    /// The texts, per channel, kind and language.
    #[serde(default)]
    pub templates: Vec<PolicyTemplate>,
}

fn default_true() -> bool {
    true
}

impl Default for ReminderPolicy {
    /// No reminders, no follow-up, the built-in texts, and a no-show message: what an
    /// appointment without a type's policy gets.
    fn default() -> Self {
        Self {
            reminders: Vec::new(),
            follow_up: None,
            no_show_message: true,
            templates: Vec::new(),
        }
    }
}

/// One reminder of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlanReminder {
    /// voice | sms.
    pub channel: String,
    /// ISO 8601 duration before the start, e.g. `PT3H`, `P1D`; `PT3H` when absent.
    #[serde(default = "default_offset")]
    pub offset: String,
    /// For a voice reminder: `sms` to send a text once the call ended unanswered (no answer,
    /// busy, machine, failed) after its retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

/// The follow-up of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUp {
    /// sms (follow-ups are texts); the default.
    #[serde(default = "sms_channel")]
    pub channel: String,
    /// ISO 8601 duration after the end, e.g. `PT2H`.
    pub offset: String,
}

/// The offset of a reminder that names none (the event-reminders API's default).
pub const DEFAULT_REMINDER_OFFSET: &str = "PT3H";

fn default_offset() -> String {
    DEFAULT_REMINDER_OFFSET.to_owned()
}

fn sms_channel() -> String {
    "sms".to_owned()
}

/// One text of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyTemplate {
    /// voice | sms.
    pub channel: String,
    /// reminder | follow_up | no_show (voice: reminder only).
    pub kind: String,
    /// BCP 47 primary language: en, fr, de, es, pt, it, nl for SMS; any for voice.
    pub language: String,
    /// The text with {placeholders}.
    pub text: String,
}

/// A lint finding that does not stop the save.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyWarning {
    /// The template's field, e.g. `templates[0].text`.
    pub field: String,
    /// What to know.
    pub message: String,
}

/// The channel of a planned message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanChannel {
    /// A call.
    Voice,
    /// A text.
    Sms,
}

impl PlanChannel {
    /// Reads a stored channel name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "voice" => Some(Self::Voice),
            "sms" => Some(Self::Sms),
            _ => None,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Voice => "voice",
            Self::Sms => "sms",
        }
    }
}

/// What a planned message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// Before the start, answered.
    Reminder,
    /// After the end.
    FollowUp,
    /// When a no-show is recorded.
    NoShow,
}

impl MessageKind {
    /// The stored name, which is also the SMS template name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reminder => "reminder",
            Self::FollowUp => "follow_up",
            Self::NoShow => "no_show",
        }
    }

    /// Reads a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "reminder" => Some(Self::Reminder),
            "follow_up" => Some(Self::FollowUp),
            "no_show" => Some(Self::NoShow),
            _ => None,
        }
    }
}

/// A message to store as a reminder row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedMessage {
    /// Where it goes.
    pub channel: PlanChannel,
    /// What it is for.
    pub kind: MessageKind,
    /// When.
    pub due_at: DateTime<Utc>,
    /// The tenant's text, chosen for the recipient's language; `None` for the channel's own.
    pub template: Option<String>,
    /// The fallback channel of a voice reminder.
    pub fallback_channel: Option<PlanChannel>,
    /// The text for the fallback.
    pub fallback_template: Option<String>,
}

impl ReminderPolicy {
    /// Checks every field against `max_segments` (the tenant's SMS limit); problems go to
    /// `issues` under `prefix` (empty for a whole request body), and what passed with a
    /// remark comes back as warnings. Returns the policy with its texts trimmed.
    pub fn validate(
        mut self,
        max_segments: u32,
        issues: &mut Issues,
        prefix: &str,
    ) -> (Self, Vec<PolicyWarning>) {
        let field = |name: String| format!("{prefix}{name}");
        if self.reminders.len() > MAX_PLAN_REMINDERS {
            issues.add(
                field("reminders".to_owned()),
                format!("must hold at most {MAX_PLAN_REMINDERS} reminders"),
            );
        }
        for (index, reminder) in self.reminders.iter_mut().enumerate() {
            validate_plan_reminder(reminder, &field(format!("reminders[{index}]")), issues);
        }
        if let Some(follow_up) = &mut self.follow_up {
            follow_up.offset = follow_up.offset.trim().to_owned();
            if follow_up.channel != "sms" {
                issues.add(
                    field("follow_up.channel".to_owned()),
                    "must be sms: follow-ups are sent as texts",
                );
            }
            if let Err(message) = Offset::parse(&follow_up.offset) {
                issues.add(field("follow_up.offset".to_owned()), message);
            }
        }
        if self.templates.len() > MAX_POLICY_TEMPLATES {
            issues.add(
                field("templates".to_owned()),
                format!("must hold at most {MAX_POLICY_TEMPLATES} templates"),
            );
        }
        let mut warnings = Vec::new();
        let mut seen = HashSet::new();
        for (index, template) in self.templates.iter_mut().enumerate() {
            let at = field(format!("templates[{index}]"));
            template.language = template.language.trim().to_ascii_lowercase();
            template.text = template.text.trim().to_owned();
            if let Some(warning) = validate_template(template, max_segments, &at, issues) {
                warnings.push(warning);
            }
            let key = (
                template.channel.clone(),
                template.kind.clone(),
                template.language.clone(),
            );
            if !seen.insert(key) {
                issues.add(
                    format!("{at}.language"),
                    "repeats a channel, kind and language given before",
                );
            }
        }
        (self, warnings)
    }

    /// Returns the reminders and follow-up for an appointment from `start` to `end` in
    /// `zone`, for a recipient speaking `locale`, each with its text.
    pub fn plan(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        zone: Tz,
        locale: &str,
    ) -> Vec<PlannedMessage> {
        let mut messages = Vec::with_capacity(self.reminders.len() + 1);
        for reminder in &self.reminders {
            let (Some(channel), Ok(offset)) = (
                PlanChannel::parse(&reminder.channel),
                Offset::parse(&reminder.offset),
            ) else {
                continue;
            };
            let fallback_channel = reminder.fallback.as_deref().and_then(PlanChannel::parse);
            messages.push(PlannedMessage {
                channel,
                kind: MessageKind::Reminder,
                due_at: offset.before(start, zone),
                template: self.text_for(channel, MessageKind::Reminder, locale),
                fallback_channel,
                fallback_template: fallback_channel
                    .and_then(|fallback| self.text_for(fallback, MessageKind::Reminder, locale)),
            });
        }
        if let Some(follow_up) = &self.follow_up
            && let Ok(offset) = Offset::parse(&follow_up.offset)
        {
            messages.push(self.follow_up_at(offset.after(end, zone), locale));
        }
        messages
    }

    /// Returns the follow-up message due at `due_at`.
    pub fn follow_up_at(&self, due_at: DateTime<Utc>, locale: &str) -> PlannedMessage {
        PlannedMessage {
            channel: PlanChannel::Sms,
            kind: MessageKind::FollowUp,
            due_at,
            template: self.text_for(PlanChannel::Sms, MessageKind::FollowUp, locale),
            fallback_channel: None,
            fallback_template: None,
        }
    }

    /// Returns the no-show message due at `now`, or `None` when the policy sends none.
    pub fn no_show_message(&self, now: DateTime<Utc>, locale: &str) -> Option<PlannedMessage> {
        self.no_show_message.then(|| PlannedMessage {
            channel: PlanChannel::Sms,
            kind: MessageKind::NoShow,
            due_at: now,
            template: self.text_for(PlanChannel::Sms, MessageKind::NoShow, locale),
            fallback_channel: None,
            fallback_template: None,
        })
    }

    /// Returns the text for `channel` and `kind` in the recipient's language: that
    /// language's, else English, else the first one given; `None` when the policy has none
    /// (the channel's built-in text is used).
    pub fn text_for(
        &self,
        channel: PlanChannel,
        kind: MessageKind,
        locale: &str,
    ) -> Option<String> {
        let language = primary_language(locale);
        let candidates: Vec<&PolicyTemplate> = self
            .templates
            .iter()
            .filter(|template| {
                template.channel == channel.as_str() && template.kind == kind.as_str()
            })
            .collect();
        candidates
            .iter()
            .find(|template| template.language == language)
            .or_else(|| candidates.iter().find(|template| template.language == "en"))
            .or_else(|| candidates.first())
            .map(|template| template.text.clone())
    }
}

/// The most metadata keys one appointment may carry.
pub const MAX_METADATA_KEYS: usize = 50;
/// The longest metadata value, in characters.
pub const MAX_METADATA_VALUE: usize = 500;

/// Checks request metadata: an object whose keys may name placeholders
/// ([`sms::is_metadata_key`]) and whose values are strings, numbers or booleans (written as
/// text); `None` is an empty object. Problems go to `issues` under `field`.
pub fn validate_metadata(
    metadata: Option<&serde_json::Value>,
    field: &str,
    issues: &mut Issues,
) -> serde_json::Value {
    let mut clean = serde_json::Map::new();
    let Some(metadata) = metadata.filter(|value| !value.is_null()) else {
        return serde_json::Value::Object(clean);
    };
    let Some(object) = metadata.as_object() else {
        issues.add(field, "must be an object of text values");
        return serde_json::Value::Object(clean);
    };
    if object.len() > MAX_METADATA_KEYS {
        issues.add(field, format!("must hold at most {MAX_METADATA_KEYS} keys"));
    }
    for (key, value) in object {
        let at = format!("{field}.{key}");
        if !sms::is_metadata_key(key) {
            issues.add(
                at,
                "keys must be 1 to 64 letters, digits or underscores, to be usable as {metadata.key}",
            );
            continue;
        }
        let text = match value {
            serde_json::Value::String(text) => text.trim().to_owned(),
            serde_json::Value::Number(number) => number.to_string(),
            serde_json::Value::Bool(flag) => flag.to_string(),
            serde_json::Value::Null => String::new(),
            _ => {
                issues.add(at, "must be text, a number or a boolean");
                continue;
            }
        };
        if text.chars().count() > MAX_METADATA_VALUE {
            issues.add(
                at,
                format!("must be at most {MAX_METADATA_VALUE} characters"),
            );
            continue;
        }
        clean.insert(key.clone(), serde_json::Value::String(text));
    }
    serde_json::Value::Object(clean)
}

/// Returns the lower-case primary subtag of a BCP 47 tag: `pt` for `pt-BR`.
fn primary_language(locale: &str) -> String {
    locale
        .split(['-', '_'])
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn validate_plan_reminder(reminder: &mut PlanReminder, at: &str, issues: &mut Issues) {
    reminder.offset = reminder.offset.trim().to_owned();
    let channel = PlanChannel::parse(&reminder.channel);
    if channel.is_none() {
        issues.add(format!("{at}.channel"), "must be voice or sms");
    }
    if let Err(message) = Offset::parse(&reminder.offset) {
        issues.add(format!("{at}.offset"), message);
    }
    match (reminder.fallback.as_deref(), channel) {
        (None, _) => {}
        (Some("sms"), Some(PlanChannel::Voice)) => {}
        (Some("sms"), _) => issues.add(
            format!("{at}.fallback"),
            "only a voice reminder falls back (to sms)",
        ),
        (Some(_), _) => issues.add(format!("{at}.fallback"), "must be sms"),
    }
}

fn validate_template(
    template: &PolicyTemplate,
    max_segments: u32,
    at: &str,
    issues: &mut Issues,
) -> Option<PolicyWarning> {
    let Some(kind) = MessageKind::parse(&template.kind) else {
        issues.add(
            format!("{at}.kind"),
            "must be reminder, follow_up or no_show",
        );
        return None;
    };
    if template.text.chars().count() > MAX_TEMPLATE_CHARS {
        issues.add(
            format!("{at}.text"),
            format!("must be at most {MAX_TEMPLATE_CHARS} characters"),
        );
        return None;
    }
    match PlanChannel::parse(&template.channel) {
        None => {
            issues.add(format!("{at}.channel"), "must be voice or sms");
            None
        }
        Some(PlanChannel::Voice) => {
            if kind != MessageKind::Reminder {
                issues.add(
                    format!("{at}.kind"),
                    "must be reminder: follow-ups and no-show messages are sent as texts",
                );
            }
            if !is_language_code(&template.language) {
                issues.add(
                    format!("{at}.language"),
                    "must be a primary language subtag such as en or de",
                );
            }
            if template.text.is_empty() {
                issues.add(format!("{at}.text"), "is empty");
            } else if let Err(error) = template::validate_with(&template.text, |name| {
                VOICE_PLACEHOLDERS.contains(&name) || sms::is_metadata_placeholder(name)
            }) {
                issues.add(
                    format!("{at}.text"),
                    format!(
                        "{error}; the placeholders are {} and {{metadata.key}}",
                        VOICE_PLACEHOLDERS
                            .iter()
                            .map(|name| format!("{{{name}}}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
            None
        }
        Some(PlanChannel::Sms) => {
            let limit = usize::try_from(max_segments).unwrap_or(usize::MAX);
            match sms::check(kind.as_str(), &template.text, limit, &template.language) {
                Ok(report) => report
                    .warnings
                    .into_iter()
                    .next()
                    .map(|message| PolicyWarning {
                        field: format!("{at}.text"),
                        message,
                    }),
                Err(sms::LintError::UnsupportedLanguage(_)) => {
                    issues.add(
                        format!("{at}.language"),
                        "must be one of en, fr, de, es, pt, it, nl",
                    );
                    None
                }
                Err(error) => {
                    issues.add(format!("{at}.text"), error.to_string());
                    None
                }
            }
        }
    }
}

fn is_language_code(text: &str) -> bool {
    (2..=3).contains(&text.len()) && text.bytes().all(|byte| byte.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use chrono_tz::America::New_York;

    use super::*;

    fn policy(json: serde_json::Value) -> ReminderPolicy {
        serde_json::from_value(json).unwrap()
    }

    fn problems(json: serde_json::Value) -> Vec<(String, String)> {
        let mut issues = Issues::default();
        let _ = policy(json).validate(3, &mut issues, "");
        issues.into_fields()
    }

    #[test]
    fn a_full_policy_passes_and_plans_in_the_recipients_language() {
        let mut issues = Issues::default();
        let (policy, warnings) = policy(serde_json::json!({
            "reminders": [
                {"channel": "voice", "offset": "P1D", "fallback": "sms"},
                {"channel": "sms", "offset": "PT3H"}
            ],
            "follow_up": {"offset": "PT2H"},
            "templates": [
                {"channel": "sms", "kind": "reminder", "language": "en", "text": "Hi {first_name}, see you {datetime} at {metadata.eventLocation}. Reply Yes or No."},
                {"channel": "sms", "kind": "reminder", "language": "de", "text": "Hallo {first_name}, bis {datetime}. JA oder NEIN?"},
                {"channel": "voice", "kind": "reminder", "language": "en", "text": "Your visit to {business} is on {date} at {time}."},
                {"channel": "sms", "kind": "follow_up", "language": "en", "text": "Thanks for coming, {first_name}!"}
            ]
        }))
        .validate(3, &mut issues, "");
        assert!(issues.is_empty(), "{:?}", issues.into_fields());
        assert!(warnings.is_empty(), "{warnings:?}");

        let start: DateTime<Utc> = "2027-03-14T14:00:00Z".parse().unwrap(); // 10:00 EDT
        let end = start + chrono::Duration::minutes(30);
        let plan = policy.plan(start, end, New_York, "de-DE");
        assert_eq!(plan.len(), 3);
        assert_eq!(plan[0].channel, PlanChannel::Voice);
        assert_eq!(
            plan[0].due_at,
            "2027-03-13T15:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        // No German voice text: English is the next choice.
        assert_eq!(
            plan[0].template.as_deref(),
            Some("Your visit to {business} is on {date} at {time}.")
        );
        assert_eq!(plan[0].fallback_channel, Some(PlanChannel::Sms));
        assert_eq!(
            plan[0].fallback_template.as_deref(),
            Some("Hallo {first_name}, bis {datetime}. JA oder NEIN?")
        );
        assert_eq!(plan[1].due_at, start - chrono::Duration::hours(3));
        assert_eq!(plan[2].kind, MessageKind::FollowUp);
        assert_eq!(plan[2].due_at, end + chrono::Duration::hours(2));
        assert_eq!(
            plan[2].template.as_deref(),
            Some("Thanks for coming, {first_name}!")
        );
        let no_show = policy.no_show_message(start, "en").unwrap();
        assert_eq!(
            (no_show.kind, no_show.template),
            (MessageKind::NoShow, None)
        );
    }

    #[test]
    fn a_reminder_without_an_offset_is_three_hours_before() {
        let mut issues = Issues::default();
        let (policy, _) = policy(serde_json::json!({"reminders": [{"channel": "sms"}]})).validate(
            3,
            &mut issues,
            "",
        );
        assert!(issues.is_empty());
        assert_eq!(policy.reminders[0].offset, "PT3H");
    }

    #[test]
    fn every_bad_field_is_named() {
        let found = problems(serde_json::json!({
            "reminders": [
                {"channel": "fax", "offset": "P1M"},
                {"channel": "sms", "offset": "PT1H", "fallback": "sms"}
            ],
            "follow_up": {"channel": "voice", "offset": "soon"},
            "templates": [
                {"channel": "sms", "kind": "reminder", "language": "en", "text": "Hi {nickname}"},
                {"channel": "voice", "kind": "no_show", "language": "en", "text": "You missed it"},
                {"channel": "sms", "kind": "reminder", "language": "ko", "text": "Hi"},
                {"channel": "sms", "kind": "thanks", "language": "en", "text": "Hi"},
                {"channel": "sms", "kind": "follow_up", "language": "en", "text": "x".repeat(500)},
                {"channel": "voice", "kind": "reminder", "language": "en", "text": "At {datetime}"},
                {"channel": "voice", "kind": "reminder", "language": "en", "text": "Again"}
            ]
        }));
        let fields: Vec<&str> = found.iter().map(|(field, _)| field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "reminders[0].channel",
                "reminders[0].offset",
                "reminders[1].fallback",
                "follow_up.channel",
                "follow_up.offset",
                "templates[0].text",
                "templates[1].kind",
                "templates[2].language",
                "templates[3].kind",
                "templates[4].text",
                "templates[5].text",
                "templates[6].language",
            ],
            "{found:?}"
        );
        let message = |field: &str| {
            found
                .iter()
                .find(|(name, _)| name == field)
                .map(|(_, message)| message.clone())
                .unwrap()
        };
        assert!(message("templates[0].text").contains("unknown placeholder {nickname}"));
        assert!(message("templates[4].text").contains("segments"));
        assert!(message("templates[5].text").contains("{datetime}"));
    }
}
