//! The texts sms-service sends, rendered from the tenant's template (or the built-in one) in
//! the recipient's language, with the date and time in the recipient's zone (attend-text).

use attend_text::sms::{self, Appointment};
use chrono_tz::Tz;

use crate::conversations::Reminder;
use crate::outbound::MessageKind;
use crate::settings::SmsSettings;

/// Returns text `kind` about `reminder`, in its recipient's language.
///
/// A tenant template that no longer renders (it was saved before a placeholder was retired)
/// falls back to the built-in text rather than leaving the recipient without an answer.
pub fn about_reminder(kind: MessageKind, reminder: &Reminder, settings: &SmsSettings) -> String {
    let language = attend_text::Language::from_tag(&reminder.locale).code();
    let recipient_zone: Tz = reminder.time_zone.trim().parse().unwrap_or(Tz::UTC);
    let business_zone: Option<Tz> = reminder.business_time_zone.trim().parse().ok();
    let appointment = Appointment {
        start: reminder.appointment_start,
        recipient_zone,
        business_zone,
        name: non_empty(&reminder.recipient_name),
        location: non_empty(&reminder.location),
        participant: non_empty(&reminder.participant),
        first_name: None,
        last_name: None,
        metadata: None,
    };
    let values = sms::variables(
        language,
        &reminder.business_name,
        contact(settings, &reminder.from_number),
        Some(&appointment),
    );
    render(kind, language, settings, &values)
}

/// Returns text `kind` that is about no appointment (help, opt-out, no pending appointment).
pub fn general(
    kind: MessageKind,
    locale: &str,
    business_name: &str,
    from_number: &str,
    settings: &SmsSettings,
) -> String {
    let language = attend_text::Language::from_tag(locale).code();
    let values = sms::variables(
        language,
        business_name,
        contact(settings, from_number),
        None,
    );
    render(kind, language, settings, &values)
}

fn render(
    kind: MessageKind,
    language: &str,
    settings: &SmsSettings,
    values: &attend_text::template::Variables,
) -> String {
    let name = kind.as_str();
    let own = settings.template(name, language);
    match sms::render(name, language, own, values) {
        Ok(text) => text,
        Err(error) if own.is_some() => {
            tracing::warn!(template = name, language, error.message = %error, "tenant template does not render, using the built-in text");
            sms::render(name, language, None, values).unwrap_or_default()
        }
        Err(error) => {
            // The built-in catalogue is tested to render every name in every language.
            tracing::error!(template = name, language, error.message = %error, "built-in template does not render");
            String::new()
        }
    }
}

/// The HELP contact: the tenant's, else the number the texts come from.
fn contact<'a>(settings: &'a SmsSettings, from_number: &'a str) -> &'a str {
    if settings.help_contact.trim().is_empty() {
        from_number
    } else {
        settings.help_contact.trim()
    }
}

fn non_empty(value: &str) -> Option<&str> {
    let value = value.trim();
    (!value.is_empty()).then_some(value)
}
