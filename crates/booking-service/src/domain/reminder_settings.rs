//! A tenant's reminder settings: the calling window, the voice retry policy, the voice
//! call's callback number and template overrides (docs: ../shared notes `templates.md`), and
//! the SMS sender number, help contact, segment limit and template overrides (attend-text's
//! `sms` module: names, placeholders, default texts and the save-time lint).
//!
//! The JSON is camelCase; problems name fields by their JSON path (`voice.templates[1].text`).

use std::collections::HashSet;

use attend_text::sms;
use serde::{Deserialize, Serialize};

use super::phone::normalize_e164;
use super::validation::Issues;

/// The most retries a tenant may ask for (each one is another call to the recipient).
pub const MAX_RETRIES: u32 = 5;
/// The longest pause between two attempts, in minutes (a day).
pub const MAX_INTERVAL_MINUTES: u32 = 1440;
/// The longest a template's text may be, in characters after trimming.
pub const MAX_TEMPLATE_LEN: usize = 1000;
/// The most template overrides a tenant may keep (12 names in a dozen languages and more).
pub const MAX_TEMPLATES: usize = 200;

/// The spoken texts of the reminder call a tenant may override (templates.md).
pub const TEMPLATE_NAMES: [&str; 12] = [
    "greeting",
    "appointment",
    "menu",
    "invalid",
    "cancel_confirm",
    "confirmed",
    "reschedule",
    "cancelled",
    "kept",
    "no_input",
    "opted_out",
    "voicemail",
];

/// The placeholders every template may use.
pub const PLACEHOLDERS: [&str; 6] = [
    "name",
    "business",
    "date",
    "time",
    "location",
    "callback_number",
];

/// The segment limit of a tenant that never set one.
pub const DEFAULT_MAX_SEGMENTS: u32 = 3;
/// The highest segment limit a tenant may set (carriers advise 6–8 at most; 10 leaves room).
pub const MAX_SEGMENTS: u32 = 10;
/// The languages an SMS template may be written in.
pub const SMS_LANGUAGES: [&str; 7] = ["en", "fr", "de", "es", "pt", "it", "nl"];

/// Delivery outcomes a voice attempt may be retried on, by their snake_case names.
pub const RETRYABLE_OUTCOMES: [&str; 4] = ["busy", "no_answer", "machine", "failed"];

/// `callingHours`: local times `HH:MM`, `[start, end)`, in each recipient's zone.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CallingHours {
    /// First allowed local time, `00:00`–`23:59`.
    pub start: String,
    /// First local time no longer allowed, `00:01`–`24:00`.
    pub end: String,
}

/// `voiceRetry`: how an undelivered voice reminder is tried again.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VoiceRetry {
    /// Attempts after the first, 0–5.
    pub max_retries: u32,
    /// Minutes between an attempt's outcome and the next attempt, 1–1440.
    pub interval_minutes: u32,
    /// Outcomes that earn another attempt: `busy`, `no_answer`, `machine`, `failed`.
    pub retry_on: Vec<String>,
}

/// One overridden spoken text.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VoiceTemplate {
    /// One of [`TEMPLATE_NAMES`].
    pub name: String,
    /// BCP 47 primary language subtag, lower case, 2–3 letters.
    pub language: String,
    /// The text, 1–1000 characters, with only [`PLACEHOLDERS`] in braces.
    pub text: String,
}

/// `voice`: the call's callback number and template overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VoiceSettings {
    /// E.164 number the call asks people to call back; `null` means the gateway's default.
    #[serde(default)]
    pub callback_number: Option<String>,
    /// Overrides of the built-in wording; empty means the built-in wording.
    #[serde(default)]
    pub templates: Vec<VoiceTemplate>,
}

/// One overridden SMS text.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SmsTemplate {
    /// One of attend-text's `sms::TEMPLATE_NAMES` (`reminder`, `confirmed`, …).
    pub name: String,
    /// One of [`SMS_LANGUAGES`].
    pub language: String,
    /// The text, 1–1000 characters, with only that template's placeholders, within the
    /// segment limit when rendered with the longest values.
    pub text: String,
}

/// `sms` in a `PUT`: the sender number, help contact, segment limit and template overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SmsSettingsRequest {
    /// E.164 number the messages come from; `null` means sms-service's default.
    #[serde(default)]
    pub from_number: Option<String>,
    /// What a HELP reply names as the contact (a number, an address, a URL); `null` for none.
    #[serde(default)]
    pub help_contact: Option<String>,
    /// The most segments one rendered message may take, 1–10; absent means 3.
    #[serde(default)]
    pub max_segments: Option<u32>,
    /// Overrides of the built-in texts; empty means the built-in texts.
    #[serde(default)]
    pub templates: Vec<SmsTemplate>,
}

/// Valid SMS settings, ready to store and publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsSettings {
    /// E.164 sender; `None` means sms-service's default.
    pub from_number: Option<String>,
    /// The HELP contact, trimmed; `None` for none.
    pub help_contact: Option<String>,
    /// The most segments one rendered message may take.
    pub max_segments: u32,
    /// Template overrides, texts trimmed.
    pub templates: Vec<SmsTemplate>,
}

impl Default for SmsSettings {
    /// Returns the SMS settings of a tenant that never saved any: sms-service's sender, no
    /// help contact, 3 segments and the built-in texts.
    fn default() -> Self {
        Self {
            from_number: None,
            help_contact: None,
            max_segments: DEFAULT_MAX_SEGMENTS,
            templates: Vec::new(),
        }
    }
}

/// Something worth knowing about saved settings that did not stop the save.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// The JSON path it is about, e.g. `sms.templates[0].text`.
    pub field: String,
    /// What to know, lower case.
    pub message: String,
}

/// `sms` as the API shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsSettingsResponse {
    /// E.164 sender; `null` means sms-service's default.
    pub from_number: Option<String>,
    /// The HELP contact; `null` for none.
    pub help_contact: Option<String>,
    /// The most segments one rendered message may take.
    pub max_segments: u32,
    /// Template overrides; the built-in text applies to every other name and language.
    pub templates: Vec<SmsTemplate>,
    /// What the lint noticed about the overrides without refusing them (a text or a
    /// localized date outside GSM-7).
    pub warnings: Vec<Warning>,
}

/// `PUT /v1/settings/reminders` body. An absent section takes its default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReminderSettingsRequest {
    /// When reminders may reach people.
    #[serde(default)]
    pub calling_hours: Option<CallingHours>,
    /// How voice reminders are retried.
    #[serde(default)]
    pub voice_retry: Option<VoiceRetry>,
    /// Callback number and templates.
    #[serde(default)]
    pub voice: Option<VoiceSettings>,
    /// SMS sender, help contact, segment limit and templates.
    #[serde(default)]
    pub sms: Option<SmsSettingsRequest>,
}

/// Valid reminder settings, ready to store and publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderSettings {
    /// Minutes after local midnight of the window's start.
    pub window_start_minute: u32,
    /// Minutes after local midnight of the window's end (exclusive), at most 1440.
    pub window_end_minute: u32,
    /// Attempts after the first.
    pub max_retries: u32,
    /// Minutes between attempts.
    pub interval_minutes: u32,
    /// snake_case outcomes that earn another attempt.
    pub retry_on: Vec<String>,
    /// E.164 callback number; `None` means the gateway's default.
    pub callback_number: Option<String>,
    /// Template overrides, texts trimmed.
    pub templates: Vec<VoiceTemplate>,
    /// The SMS settings.
    pub sms: SmsSettings,
}

impl Default for ReminderSettings {
    /// Returns the settings of a tenant that never saved any (templates.md): 08:00–21:00,
    /// two retries 15 minutes apart on busy and no answer, the gateway's callback number and
    /// the built-in wording.
    fn default() -> Self {
        Self {
            window_start_minute: 8 * 60,
            window_end_minute: 21 * 60,
            max_retries: 2,
            interval_minutes: 15,
            retry_on: vec!["busy".to_owned(), "no_answer".to_owned()],
            callback_number: None,
            templates: Vec::new(),
            sms: SmsSettings::default(),
        }
    }
}

/// The settings as the API shows them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReminderSettingsResponse {
    /// 0 until the tenant saves settings, then one more per save.
    pub version: i64,
    /// When they were last saved; `null` for the defaults.
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When reminders may reach people.
    pub calling_hours: CallingHours,
    /// How voice reminders are retried.
    pub voice_retry: VoiceRetry,
    /// Callback number and templates.
    pub voice: VoiceSettings,
    /// SMS sender, help contact, segment limit and templates.
    pub sms: SmsSettingsResponse,
}

impl ReminderSettings {
    /// Returns the API view of these settings.
    pub fn to_response(
        &self,
        version: i64,
        updated_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> ReminderSettingsResponse {
        ReminderSettingsResponse {
            version,
            updated_at,
            calling_hours: CallingHours {
                start: format_minute(self.window_start_minute),
                end: format_minute(self.window_end_minute),
            },
            voice_retry: VoiceRetry {
                max_retries: self.max_retries,
                interval_minutes: self.interval_minutes,
                retry_on: self.retry_on.clone(),
            },
            voice: VoiceSettings {
                callback_number: self.callback_number.clone(),
                templates: self.templates.clone(),
            },
            sms: SmsSettingsResponse {
                from_number: self.sms.from_number.clone(),
                help_contact: self.sms.help_contact.clone(),
                max_segments: self.sms.max_segments,
                templates: self.sms.templates.clone(),
                warnings: sms_warnings(&self.sms),
            },
        }
    }
}

impl ReminderSettingsRequest {
    /// Returns the settings, recording every failing field in `issues` (then the value is
    /// meaningless). `default_region` reads a callback number without a country code.
    pub fn validate(self, default_region: &str, issues: &mut Issues) -> ReminderSettings {
        let mut settings = ReminderSettings::default();
        if let Some(hours) = self.calling_hours {
            let start = parse_minute(&hours.start, false);
            let end = parse_minute(&hours.end, true);
            match (start, end) {
                (Ok(start), Ok(end)) if start >= end => {
                    issues.add("callingHours.end", "must be later than callingHours.start");
                }
                (Ok(start), Ok(end)) => {
                    settings.window_start_minute = start;
                    settings.window_end_minute = end;
                }
                (start, end) => {
                    if let Err(message) = start {
                        issues.add("callingHours.start", message);
                    }
                    if let Err(message) = end {
                        issues.add("callingHours.end", message);
                    }
                }
            }
        }
        if let Some(retry) = self.voice_retry {
            if retry.max_retries > MAX_RETRIES {
                issues.add(
                    "voiceRetry.maxRetries",
                    format!("must be from 0 to {MAX_RETRIES}"),
                );
            }
            if !(1..=MAX_INTERVAL_MINUTES).contains(&retry.interval_minutes) {
                issues.add(
                    "voiceRetry.intervalMinutes",
                    format!("must be from 1 to {MAX_INTERVAL_MINUTES}"),
                );
            }
            let mut seen = HashSet::new();
            for (index, outcome) in retry.retry_on.iter().enumerate() {
                let field = format!("voiceRetry.retryOn[{index}]");
                if !RETRYABLE_OUTCOMES.contains(&outcome.as_str()) {
                    issues.add(field, "must be one of busy, no_answer, machine, failed");
                } else if !seen.insert(outcome.as_str()) {
                    issues.add(field, "is listed twice");
                }
            }
            settings.max_retries = retry.max_retries;
            settings.interval_minutes = retry.interval_minutes;
            settings.retry_on = retry.retry_on;
        }
        if let Some(voice) = self.voice {
            settings.callback_number =
                validate_callback_number(voice.callback_number, default_region, issues);
            settings.templates = validate_templates(voice.templates, issues);
        }
        if let Some(sms) = self.sms {
            settings.sms = validate_sms(sms, default_region, issues);
        }
        settings
    }
}

/// The longest help contact, in characters (what the lint assumes for `{contact}`).
pub const MAX_HELP_CONTACT: usize = sms::MAX_CONTACT;

fn validate_sms(
    request: SmsSettingsRequest,
    default_region: &str,
    issues: &mut Issues,
) -> SmsSettings {
    let from_number =
        request
            .from_number
            .and_then(|raw| match normalize_e164(&raw, default_region) {
                Ok(e164) => Some(e164),
                Err(message) => {
                    issues.add("sms.fromNumber", message);
                    None
                }
            });
    let help_contact = request.help_contact.and_then(|raw| {
        let contact = raw.trim().to_owned();
        let length = contact.chars().count();
        if !(1..=MAX_HELP_CONTACT).contains(&length) {
            issues.add(
                "sms.helpContact",
                format!("must be 1 to {MAX_HELP_CONTACT} characters after trimming"),
            );
            None
        } else if contact.chars().any(char::is_control) {
            issues.add(
                "sms.helpContact",
                "must be one line without control characters",
            );
            None
        } else {
            Some(contact)
        }
    });
    let max_segments = request.max_segments.unwrap_or(DEFAULT_MAX_SEGMENTS);
    let limit_ok = (1..=MAX_SEGMENTS).contains(&max_segments);
    if !limit_ok {
        issues.add(
            "sms.maxSegments",
            format!("must be from 1 to {MAX_SEGMENTS}"),
        );
    }
    // With a bad limit, the texts are still checked (against the highest limit) so one
    // answer names every problem.
    let lint_limit = if limit_ok { max_segments } else { MAX_SEGMENTS };
    let templates = validate_sms_templates(request.templates, lint_limit, issues);
    SmsSettings {
        from_number,
        help_contact,
        max_segments,
        templates,
    }
}

fn validate_sms_templates(
    templates: Vec<SmsTemplate>,
    max_segments: u32,
    issues: &mut Issues,
) -> Vec<SmsTemplate> {
    let mut seen = HashSet::new();
    let mut valid = Vec::with_capacity(templates.len());
    for (index, template) in templates.into_iter().enumerate() {
        let field = |part: &str| format!("sms.templates[{index}].{part}");
        let name_ok = sms::TEMPLATE_NAMES.contains(&template.name.as_str());
        if !name_ok {
            issues.add(
                field("name"),
                format!("must be one of {}", sms::TEMPLATE_NAMES.join(", ")),
            );
        }
        let language_ok = SMS_LANGUAGES.contains(&template.language.as_str());
        if !language_ok {
            issues.add(
                field("language"),
                format!("must be one of {}", SMS_LANGUAGES.join(", ")),
            );
        }
        let text = template.text.trim().to_owned();
        let length = text.chars().count();
        if !(1..=MAX_TEMPLATE_LEN).contains(&length) {
            issues.add(
                field("text"),
                format!("must be 1 to {MAX_TEMPLATE_LEN} characters after trimming"),
            );
        } else if name_ok && language_ok {
            let limit = usize::try_from(max_segments).unwrap_or(usize::MAX);
            if let Err(reason) = sms::lint(&template.name, &text, limit, &template.language) {
                issues.add(field("text"), reason.to_string());
            }
        }
        if !seen.insert((template.name.clone(), template.language.clone())) {
            issues.add(
                format!("sms.templates[{index}]"),
                format!(
                    "repeats name {:?} in language {:?}",
                    template.name, template.language
                ),
            );
        }
        valid.push(SmsTemplate {
            name: template.name,
            language: template.language,
            text,
        });
    }
    valid
}

/// Returns what the lint notices about stored SMS overrides without refusing them.
fn sms_warnings(settings: &SmsSettings) -> Vec<Warning> {
    let limit = usize::try_from(settings.max_segments).unwrap_or(usize::MAX);
    let mut warnings = Vec::new();
    for (index, template) in settings.templates.iter().enumerate() {
        // Stored texts passed the lint when saved; a text that no longer does (a later,
        // stricter lint) is reported as a warning rather than hidden.
        let messages = match sms::check(&template.name, &template.text, limit, &template.language) {
            Ok(report) => report.warnings,
            Err(error) => vec![error.to_string()],
        };
        for message in messages {
            warnings.push(Warning {
                field: format!("sms.templates[{index}].text"),
                message,
            });
        }
    }
    warnings
}

fn validate_callback_number(
    raw: Option<String>,
    default_region: &str,
    issues: &mut Issues,
) -> Option<String> {
    let raw = raw?;
    match normalize_e164(&raw, default_region) {
        Ok(e164) => Some(e164),
        Err(message) => {
            issues.add("voice.callbackNumber", message);
            None
        }
    }
}

fn validate_templates(templates: Vec<VoiceTemplate>, issues: &mut Issues) -> Vec<VoiceTemplate> {
    if templates.len() > MAX_TEMPLATES {
        issues.add(
            "voice.templates",
            format!("must hold at most {MAX_TEMPLATES} templates"),
        );
    }
    let mut seen = HashSet::new();
    let mut valid = Vec::with_capacity(templates.len());
    for (index, template) in templates.into_iter().enumerate() {
        let field = |part: &str| format!("voice.templates[{index}].{part}");
        if !TEMPLATE_NAMES.contains(&template.name.as_str()) {
            issues.add(
                field("name"),
                format!("must be one of {}", TEMPLATE_NAMES.join(", ")),
            );
        }
        let language_ok = (2..=3).contains(&template.language.len())
            && template.language.chars().all(|c| c.is_ascii_lowercase());
        if !language_ok {
            issues.add(
                field("language"),
                "must be a lower-case primary language subtag of 2 or 3 letters, e.g. en or de",
            );
        }
        let text = template.text.trim().to_owned();
        let length = text.chars().count();
        if !(1..=MAX_TEMPLATE_LEN).contains(&length) {
            issues.add(
                field("text"),
                format!("must be 1 to {MAX_TEMPLATE_LEN} characters after trimming"),
            );
        } else if let Err(message) = check_placeholders(&text) {
            issues.add(field("text"), message);
        }
        if !seen.insert((template.name.clone(), template.language.clone())) {
            issues.add(
                format!("voice.templates[{index}]"),
                format!(
                    "repeats name {:?} in language {:?}",
                    template.name, template.language
                ),
            );
        }
        valid.push(VoiceTemplate {
            name: template.name,
            language: template.language,
            text,
        });
    }
    valid
}

/// Checks that every `{…}` in `text` is one of [`PLACEHOLDERS`] and braces pair up.
fn check_placeholders(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err("has a `}` without its `{`".to_owned());
        }
        let after_open = &rest[open + 1..];
        let close = after_open
            .find(['{', '}'])
            .filter(|index| after_open[*index..].starts_with('}'))
            .ok_or_else(|| "has a `{` without its `}`".to_owned())?;
        let placeholder = &after_open[..close];
        if !PLACEHOLDERS.contains(&placeholder) {
            return Err(format!(
                "uses {{{placeholder}}}; the placeholders are {}",
                PLACEHOLDERS
                    .iter()
                    .map(|name| format!("{{{name}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        rest = &after_open[close + 1..];
    }
    Ok(())
}

/// Returns the minutes after midnight of `HH:MM`; `24:00` only when `allow_end_of_day`.
fn parse_minute(text: &str, allow_end_of_day: bool) -> Result<u32, String> {
    let malformed = || {
        if allow_end_of_day {
            "must be a local time HH:MM from 00:01 to 24:00".to_owned()
        } else {
            "must be a local time HH:MM from 00:00 to 23:59".to_owned()
        }
    };
    let bytes = text.as_bytes();
    if bytes.len() != 5 || bytes[2] != b':' {
        return Err(malformed());
    }
    let hours: u32 = text[..2].parse().map_err(|_| malformed())?;
    let minutes: u32 = text[3..].parse().map_err(|_| malformed())?;
    if !text[..2].bytes().all(|b| b.is_ascii_digit())
        || !text[3..].bytes().all(|b| b.is_ascii_digit())
    {
        return Err(malformed());
    }
    let end_of_day = hours == 24 && minutes == 0;
    if minutes > 59 || (hours > 23 && !(allow_end_of_day && end_of_day)) {
        return Err(malformed());
    }
    let minute = hours * 60 + minutes;
    if allow_end_of_day && minute == 0 {
        return Err(malformed());
    }
    Ok(minute)
}

/// Returns `HH:MM` of minutes after midnight (1440 is `24:00`).
pub fn format_minute(minute: u32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(issues: Issues) -> Vec<String> {
        issues
            .finish()
            .err()
            .map(|problem| problem.errors.into_iter().map(|e| e.field).collect())
            .unwrap_or_default()
    }

    #[test]
    fn times_are_strict_hh_mm() {
        assert_eq!(parse_minute("08:00", false), Ok(480));
        assert_eq!(parse_minute("23:59", false), Ok(1439));
        assert_eq!(parse_minute("24:00", true), Ok(1440));
        for bad in ["24:00", "8:00", "08:60", "0800", "+8:00", "ab:cd", "08:00 "] {
            assert!(parse_minute(bad, false).is_err(), "{bad}");
        }
        assert!(parse_minute("00:00", true).is_err());
        assert!(parse_minute("24:01", true).is_err());
        assert_eq!(format_minute(1440), "24:00");
        assert_eq!(format_minute(485), "08:05");
    }

    #[test]
    fn placeholders_are_the_agreed_ones() {
        assert!(check_placeholders("Hallo {name}, hier ist {business}.").is_ok());
        assert!(
            check_placeholders("Call {callback_number} about {date} {time} at {location}").is_ok()
        );
        assert!(check_placeholders("no braces").is_ok());
        assert!(check_placeholders("Hi {firstname}").is_err());
        assert!(check_placeholders("Hi {name").is_err());
        assert!(check_placeholders("Hi name}").is_err());
        assert!(check_placeholders("Hi {{name}}").is_err());
        assert!(check_placeholders("{}").is_err());
    }

    #[test]
    fn the_example_body_is_valid() {
        let request: ReminderSettingsRequest = serde_json::from_value(serde_json::json!({
            "callingHours": {"start": "08:00", "end": "21:00"},
            "voiceRetry": {"maxRetries": 2, "intervalMinutes": 15, "retryOn": ["busy", "no_answer"]},
            "voice": {"callbackNumber": "+12015550100", "templates": [
                {"name": "greeting", "language": "de", "text": "Hallo {name}, hier ist {business}."}
            ]}
        }))
        .unwrap();
        let mut issues = Issues::default();
        let settings = request.validate("US", &mut issues);
        assert!(issues.is_empty());
        assert_eq!(settings.callback_number.as_deref(), Some("+12015550100"));
        assert_eq!(settings.templates.len(), 1);
    }

    #[test]
    fn every_bad_field_is_named() {
        let request: ReminderSettingsRequest = serde_json::from_value(serde_json::json!({
            "callingHours": {"start": "25:00", "end": "7pm"},
            "voiceRetry": {"maxRetries": 6, "intervalMinutes": 0, "retryOn": ["busy", "confirmed", "busy"]},
            "voice": {"callbackNumber": "not a number", "templates": [
                {"name": "greeting", "language": "de", "text": "ok"},
                {"name": "farewell", "language": "DE", "text": "  "},
                {"name": "greeting", "language": "de", "text": "Hi {nme}"}
            ]}
        }))
        .unwrap();
        let mut issues = Issues::default();
        request.validate("US", &mut issues);
        assert_eq!(
            fields(issues),
            [
                "callingHours.start",
                "callingHours.end",
                "voiceRetry.maxRetries",
                "voiceRetry.intervalMinutes",
                "voiceRetry.retryOn[1]",
                "voiceRetry.retryOn[2]",
                "voice.callbackNumber",
                "voice.templates[1].name",
                "voice.templates[1].language",
                "voice.templates[1].text",
                "voice.templates[2].text",
                "voice.templates[2]",
            ]
        );
    }

    fn sms_settings(sms: serde_json::Value) -> (SmsSettings, Vec<(String, String)>) {
        let request: ReminderSettingsRequest =
            serde_json::from_value(serde_json::json!({ "sms": sms })).unwrap();
        let mut issues = Issues::default();
        let settings = request.validate("US", &mut issues);
        let problems = issues
            .finish()
            .err()
            .map(|problem| {
                problem
                    .errors
                    .into_iter()
                    .map(|e| (e.field, e.message))
                    .collect()
            })
            .unwrap_or_default();
        (settings.sms, problems)
    }

    #[test]
    fn sms_settings_are_normalized_and_default_to_three_segments() {
        let (sms, problems) = sms_settings(serde_json::json!({
            "fromNumber": "(201) 555-0100",
            "helpContact": "  help@clinic.example ",
            "templates": [{"name": "reminder", "language": "fr", "text": " [{business}] RDV le {datetime}{at_location}. Répondez OUI ou NON. "}]
        }));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(sms.from_number.as_deref(), Some("+12015550100"));
        assert_eq!(sms.help_contact.as_deref(), Some("help@clinic.example"));
        assert_eq!(sms.max_segments, DEFAULT_MAX_SEGMENTS);
        assert_eq!(
            sms.templates[0].text,
            "[{business}] RDV le {datetime}{at_location}. Répondez OUI ou NON."
        );
        assert_eq!(ReminderSettings::default().sms, SmsSettings::default());
    }

    #[test]
    fn every_bad_sms_field_is_named() {
        let (_, problems) = sms_settings(serde_json::json!({
            "fromNumber": "12345",
            "helpContact": "  ",
            "maxSegments": 11,
            "templates": [
                {"name": "farewell", "language": "en", "text": "Bye"},
                {"name": "help", "language": "ko", "text": "Help"},
                {"name": "help", "language": "en", "text": "Help on {datetime}"},
                {"name": "help", "language": "en", "text": "Call {contact"},
                {"name": "reminder", "language": "de", "text": ""},
                {"name": "help", "language": "en", "text": "Again"}
            ]
        }));
        let fields: Vec<&str> = problems.iter().map(|(field, _)| field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "sms.fromNumber",
                "sms.helpContact",
                "sms.maxSegments",
                "sms.templates[0].name",
                "sms.templates[1].language",
                "sms.templates[2].text",
                "sms.templates[3].text",
                "sms.templates[3]",
                "sms.templates[4].text",
                "sms.templates[5]",
            ]
        );
        assert!(
            problems[5]
                .1
                .starts_with("unknown placeholder {datetime} at character 9")
        );
    }

    #[test]
    fn a_text_past_the_segment_limit_is_refused_with_the_reason() {
        let text = format!("[{{business}}] {}", "a".repeat(200));
        let (_, problems) = sms_settings(serde_json::json!({
            "maxSegments": 1,
            "templates": [{"name": "confirmed", "language": "en", "text": text}]
        }));
        assert_eq!(
            problems,
            [(
                "sms.templates[0].text".to_owned(),
                "renders to 2 GSM-7 segments (243 characters) with the longest values; the limit is 1"
                    .to_owned()
            )]
        );
        let (sms, problems) = sms_settings(serde_json::json!({
            "maxSegments": 2,
            "templates": [{"name": "confirmed", "language": "en", "text": text}]
        }));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(sms.max_segments, 2);
    }

    #[test]
    fn warnings_report_dates_outside_gsm7() {
        let settings = SmsSettings {
            templates: vec![SmsTemplate {
                name: "reminder".to_owned(),
                language: "es".to_owned(),
                text: "[{business}] Cita el {datetime}. Responda SI o NO.".to_owned(),
            }],
            ..SmsSettings::default()
        };
        let warnings = sms_warnings(&settings);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].field, "sms.templates[0].text");
        assert!(warnings[0].message.contains("sáb"), "{warnings:?}");
        assert!(sms_warnings(&SmsSettings::default()).is_empty());
    }

    #[test]
    fn the_window_must_not_be_empty() {
        let request: ReminderSettingsRequest = serde_json::from_value(serde_json::json!({
            "callingHours": {"start": "21:00", "end": "08:00"}
        }))
        .unwrap();
        let mut issues = Issues::default();
        request.validate("US", &mut issues);
        assert_eq!(fields(issues), ["callingHours.end"]);
    }
}
