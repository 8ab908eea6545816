//! The texts sms-service sends, rendered from the tenant's template (or the built-in one) in
//! the recipient's language, with the date and time in the recipient's zone (attend-text).

use attend_text::sms::{self, Appointment};
use chrono_tz::Tz;

use crate::conversations::Reminder;
use crate::outbound::MessageKind;
use crate::settings::SmsSettings;

/// Returns the reminder's own text: `reminder`, `follow_up` or `no_show` by its kind, from
/// the text the event carried when it carried one (booking-service picked it for the
/// recipient's language), else the tenant's saved template, else the built-in text.
///
/// A text that does not render (booking-service lints templates on save, so it should not
/// happen) falls back to the built-in text rather than leaving the recipient without one.
pub fn for_reminder(reminder: &Reminder, settings: &SmsSettings) -> String {
    let kind = reminder.reminder_kind().message_kind();
    about(kind, reminder, settings, non_empty(&reminder.template))
}

/// Returns text `kind` about `reminder` (an answer to a reply), in its recipient's language.
///
/// A tenant template that no longer renders (it was saved before a placeholder was retired)
/// falls back to the built-in text rather than leaving the recipient without an answer.
pub fn about_reminder(kind: MessageKind, reminder: &Reminder, settings: &SmsSettings) -> String {
    about(kind, reminder, settings, None)
}

fn about(
    kind: MessageKind,
    reminder: &Reminder,
    settings: &SmsSettings,
    event_template: Option<&str>,
) -> String {
    let metadata = reminder.metadata_values();
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
        first_name: non_empty(&reminder.first_name),
        last_name: non_empty(&reminder.last_name),
        metadata: Some(&metadata),
    };
    let values = sms::variables(
        language,
        &reminder.business_name,
        contact(settings, &reminder.from_number),
        Some(&appointment),
    );
    render(kind, language, settings, &values, event_template)
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
    render(kind, language, settings, &values, None)
}

fn render(
    kind: MessageKind,
    language: &str,
    settings: &SmsSettings,
    values: &attend_text::template::Variables,
    event_template: Option<&str>,
) -> String {
    let name = kind.as_str();
    let own = event_template.or_else(|| settings.template(name, language));
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
