//! The spoken texts of reminder calls: the built-in wording (en, de, fr, es) of every template
//! name agreed with booking-service (notes/templates.md, docs/voice.md), tenant overrides by
//! (name, language), placeholders, and dates and times spoken in the recipient's language and
//! time zone.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Every template name a workflow may refer to.
pub const NAMES: [&str; 12] = [
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

/// The placeholders a text may hold, besides `{metadata.key}` (see [`is_metadata_placeholder`]).
pub const PLACEHOLDERS: [&str; 8] = [
    "name",
    "first_name",
    "last_name",
    "business",
    "date",
    "time",
    "location",
    "callback_number",
];

/// Languages with built-in wording; any other falls back to English.
pub const BUILT_IN_LANGUAGES: [&str; 4] = ["en", "de", "fr", "es"];

/// Longest text, in characters, after trimming.
pub const MAX_TEXT_CHARS: usize = 1000;

/// Returns the built-in wording of `name` in `language` (`en`, `de`, `fr`, `es`).
pub fn built_in(name: &str, language: &str) -> Option<&'static str> {
    let text = match (language, name) {
        ("en", "greeting") => "Hello {name}, this is {business}.",
        ("en", "appointment") => "This is a reminder of your appointment on {date} at {time}.",
        ("en", "menu") => {
            "Press 1 to confirm, 2 to reschedule, 3 to cancel, 9 to hear this again, or 8 to stop reminder calls."
        }
        ("en", "invalid") => "That is not a valid choice.",
        ("en", "cancel_confirm") => {
            "Are you sure you want to cancel? Press 1 to cancel, or 2 to keep your appointment."
        }
        ("en", "confirmed") => "Thank you, your appointment is confirmed. Goodbye.",
        ("en", "reschedule") => "Please call us at {callback_number} to reschedule. Goodbye.",
        ("en", "cancelled") => "Your appointment has been cancelled. Goodbye.",
        ("en", "kept") => "Your appointment is kept.",
        ("en", "no_input") => {
            "We did not hear a choice. Please call us at {callback_number}. Goodbye."
        }
        ("en", "opted_out") => "You will get no more reminder calls from {business}. Goodbye.",
        ("en", "voicemail") => {
            "Hello, this is {business} with a reminder of your appointment on {date} at {time}. Please call us at {callback_number}."
        }
        ("de", "greeting") => "Hallo {name}, hier ist {business}.",
        ("de", "appointment") => "Wir erinnern Sie an Ihren Termin am {date} um {time}.",
        ("de", "menu") => {
            "Drücken Sie 1 zum Bestätigen, 2 zum Verschieben, 3 zum Absagen, 9 zum Wiederholen oder 8, um keine Erinnerungsanrufe mehr zu erhalten."
        }
        ("de", "invalid") => "Das ist keine gültige Auswahl.",
        ("de", "cancel_confirm") => {
            "Möchten Sie wirklich absagen? Drücken Sie 1 zum Absagen oder 2, um Ihren Termin zu behalten."
        }
        ("de", "confirmed") => "Vielen Dank, Ihr Termin ist bestätigt. Auf Wiederhören.",
        ("de", "reschedule") => {
            "Bitte rufen Sie uns unter {callback_number} an, um einen neuen Termin zu vereinbaren. Auf Wiederhören."
        }
        ("de", "cancelled") => "Ihr Termin wurde abgesagt. Auf Wiederhören.",
        ("de", "kept") => "Ihr Termin bleibt bestehen.",
        ("de", "no_input") => {
            "Wir haben keine Auswahl gehört. Bitte rufen Sie uns unter {callback_number} an. Auf Wiederhören."
        }
        ("de", "opted_out") => {
            "Sie erhalten keine Erinnerungsanrufe mehr von {business}. Auf Wiederhören."
        }
        ("de", "voicemail") => {
            "Hallo, hier ist {business} mit einer Erinnerung an Ihren Termin am {date} um {time}. Bitte rufen Sie uns unter {callback_number} an."
        }
        ("fr", "greeting") => "Bonjour {name}, ici {business}.",
        ("fr", "appointment") => "Nous vous rappelons votre rendez-vous le {date} à {time}.",
        ("fr", "menu") => {
            "Appuyez sur 1 pour confirmer, 2 pour changer la date, 3 pour annuler, 9 pour réécouter, ou 8 pour ne plus recevoir d'appels de rappel."
        }
        ("fr", "invalid") => "Ce choix n'est pas valide.",
        ("fr", "cancel_confirm") => {
            "Voulez-vous vraiment annuler ? Appuyez sur 1 pour annuler, ou 2 pour garder votre rendez-vous."
        }
        ("fr", "confirmed") => "Merci, votre rendez-vous est confirmé. Au revoir.",
        ("fr", "reschedule") => {
            "Veuillez nous appeler au {callback_number} pour changer la date. Au revoir."
        }
        ("fr", "cancelled") => "Votre rendez-vous a été annulé. Au revoir.",
        ("fr", "kept") => "Votre rendez-vous est maintenu.",
        ("fr", "no_input") => {
            "Nous n'avons pas entendu de choix. Veuillez nous appeler au {callback_number}. Au revoir."
        }
        ("fr", "opted_out") => "Vous ne recevrez plus d'appels de rappel de {business}. Au revoir.",
        ("fr", "voicemail") => {
            "Bonjour, ici {business} pour vous rappeler votre rendez-vous le {date} à {time}. Veuillez nous appeler au {callback_number}."
        }
        ("es", "greeting") => "Hola {name}, le llamamos de {business}.",
        ("es", "appointment") => "Le recordamos su cita el {date} a las {time}.",
        ("es", "menu") => {
            "Pulse 1 para confirmar, 2 para cambiar la cita, 3 para cancelar, 9 para escuchar de nuevo, o 8 para no recibir más llamadas de recordatorio."
        }
        ("es", "invalid") => "Esa opción no es válida.",
        ("es", "cancel_confirm") => {
            "¿Seguro que desea cancelar? Pulse 1 para cancelar, o 2 para mantener su cita."
        }
        ("es", "confirmed") => "Gracias, su cita está confirmada. Adiós.",
        ("es", "reschedule") => "Llámenos al {callback_number} para cambiar su cita. Adiós.",
        ("es", "cancelled") => "Su cita ha sido cancelada. Adiós.",
        ("es", "kept") => "Su cita se mantiene.",
        ("es", "no_input") => "No hemos oído ninguna opción. Llámenos al {callback_number}. Adiós.",
        ("es", "opted_out") => "No recibirá más llamadas de recordatorio de {business}. Adiós.",
        ("es", "voicemail") => {
            "Hola, le llamamos de {business} para recordarle su cita el {date} a las {time}. Llámenos al {callback_number}."
        }
        _ => return None,
    };
    Some(text)
}

/// What a metadata placeholder starts with: `{metadata.room}`.
pub const METADATA_PREFIX: &str = "metadata.";

/// Whether `name` is `metadata.` followed by a key of 1 to 64 ASCII letters, digits and
/// underscores (the keys booking-service accepts).
pub fn is_metadata_placeholder(name: &str) -> bool {
    name.strip_prefix(METADATA_PREFIX).is_some_and(|key| {
        (1..=64).contains(&key.len())
            && key
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
    })
}

/// Returns the placeholders of `text` that are not allowed (anything in braces that is not in
/// [`PLACEHOLDERS`] or a metadata placeholder), or the unbalanced brace as `{`.
pub fn unknown_placeholders(text: &str) -> Vec<String> {
    let mut unknown = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                if !PLACEHOLDERS.contains(&name) && !is_metadata_placeholder(name) {
                    unknown.push(name.to_owned());
                }
                rest = &after[close + 1..];
            }
            None => {
                unknown.push("{".to_owned());
                break;
            }
        }
    }
    unknown
}

/// Returns every `{placeholder}` name in `text`, in order (an unbalanced brace as `{`).
pub fn placeholders(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                found.push(after[..close].to_owned());
                rest = &after[close + 1..];
            }
            None => {
                found.push("{".to_owned());
                break;
            }
        }
    }
    found
}

/// Returns `text` with each `{name}` replaced by `values[name]`, in one pass: a value that
/// itself contains braces is spoken as it is, never filled again. Placeholders without a value
/// are left as written (validation rules them out).
pub fn fill_variables(text: &str, values: &HashMap<String, String>) -> String {
    let mut filled = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        filled.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                match values.get(name) {
                    Some(value) => filled.push_str(value),
                    None => {
                        filled.push('{');
                        filled.push_str(name);
                        filled.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                filled.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    filled.push_str(rest);
    filled.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One tenant override, as `tenant.settings_changed` carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateOverride {
    /// The template name.
    pub name: String,
    /// The primary language subtag, lower case.
    pub language: String,
    /// The text.
    pub text: String,
}

/// What fills the placeholders of one call.
#[derive(Debug, Clone, Default)]
pub struct Values {
    /// `{name}`.
    pub name: String,
    /// `{first_name}`; when both it and `last_name` are empty, `name` up to its first space.
    pub first_name: String,
    /// `{last_name}`; when both names are empty, `name` after its first space.
    pub last_name: String,
    /// `{metadata.key}`; a key missing here is spoken as nothing.
    pub metadata: BTreeMap<String, String>,
    /// `{business}`.
    pub business: String,
    /// `{date}`.
    pub date: String,
    /// `{time}`.
    pub time: String,
    /// `{location}`.
    pub location: String,
    /// `{callback_number}`.
    pub callback_number: String,
}

/// The wording of one call: its language and the tenant's overrides.
#[derive(Debug, Clone)]
pub struct Wording {
    /// The language texts are picked in (`en` when the recipient's has no built-in wording).
    pub language: String,
    overrides: HashMap<(String, String), String>,
    values: Values,
    /// The reminder's own text for the `appointment` sentence (ReminderDue.template).
    appointment_text: Option<String>,
}

impl Wording {
    /// Returns the wording for a recipient speaking `language` (primary subtag).
    pub fn new(language: &str, overrides: &[TemplateOverride], values: Values) -> Self {
        let overrides = overrides
            .iter()
            .map(|template| {
                (
                    (
                        template.name.trim().to_owned(),
                        template.language.trim().to_ascii_lowercase(),
                    ),
                    template.text.trim().to_owned(),
                )
            })
            .collect();
        Self {
            language: language.to_owned(),
            overrides,
            values,
            appointment_text: None,
        }
    }

    /// Returns this wording with the reminder's own text for the `appointment` sentence, which
    /// wins over the tenant's override and the built-in wording (booking-service already chose
    /// it for the recipient's language); `None` or a blank text keeps them.
    #[must_use]
    pub fn with_appointment_text(mut self, text: Option<&str>) -> Self {
        self.appointment_text = text
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .map(str::to_owned);
        self
    }

    /// Returns this wording with the recipient's given and family names and the integrator's
    /// metadata values.
    #[must_use]
    pub fn with_recipient_details(
        mut self,
        first_name: &str,
        last_name: &str,
        metadata: BTreeMap<String, String>,
    ) -> Self {
        self.values.first_name = first_name.trim().to_owned();
        self.values.last_name = last_name.trim().to_owned();
        self.values.metadata = metadata;
        self
    }

    /// Returns the text of template `name`, placeholders filled: the tenant's override in the
    /// recipient's language, else the built-in wording in it, else English (override, then
    /// built-in).
    pub fn text(&self, name: &str) -> String {
        if name == "appointment"
            && let Some(text) = &self.appointment_text
        {
            return self.fill(text);
        }
        let lookup = |language: &str| {
            self.overrides
                .get(&(name.to_owned(), language.to_owned()))
                .map(String::as_str)
                .or_else(|| built_in(name, language))
        };
        let template = lookup(&self.language)
            .or_else(|| lookup("en"))
            .unwrap_or("");
        self.fill(template)
    }

    /// Fills the placeholders of an inline text.
    pub fn fill(&self, template: &str) -> String {
        let values = &self.values;
        let mut template = template.to_owned();
        if values.time.trim().is_empty() {
            // `spoken_when` fills {date} with the whole time ("Apr 5 at 3 PM"): drop the
            // connector before the empty {time} so it does not say "at" twice.
            for connector in [" at {time}", " um {time}", " à {time}", " a las {time}"] {
                template = template.replace(connector, "");
            }
        }
        let (first_name, last_name) = if values.first_name.is_empty() && values.last_name.is_empty()
        {
            match values.name.trim().split_once(char::is_whitespace) {
                Some((first, last)) => (first.to_owned(), last.trim().to_owned()),
                None => (values.name.trim().to_owned(), String::new()),
            }
        } else {
            (values.first_name.clone(), values.last_name.clone())
        };
        let template = fill_metadata(&template, &values.metadata);
        let filled = template
            .replace("{name}", &values.name)
            .replace("{first_name}", &first_name)
            .replace("{last_name}", &last_name)
            .replace("{business}", &values.business)
            .replace("{date}", &values.date)
            .replace("{time}", &values.time)
            .replace("{location}", &values.location)
            .replace("{callback_number}", &values.callback_number);
        // An empty name or time leaves doubled spaces or " ," behind; speech does not care,
        // but the tests and the carrier's logs read better without them.
        filled
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace(" ,", ",")
            .replace(" .", ".")
    }
}

/// Replaces every `{metadata.key}` of `template` by the key's value, or by nothing when the
/// appointment has no such key.
fn fill_metadata(template: &str, metadata: &BTreeMap<String, String>) -> String {
    let marker = format!("{{{METADATA_PREFIX}");
    let mut filled = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find(&marker) {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            break;
        };
        let name = &after[..close];
        filled.push_str(&rest[..open]);
        if is_metadata_placeholder(name) {
            let key = &name[METADATA_PREFIX.len()..];
            filled.push_str(metadata.get(key).map(String::as_str).unwrap_or_default());
        } else {
            filled.push_str(&rest[open..open + 1 + close + 1]);
        }
        rest = &after[close + 1..];
    }
    filled.push_str(rest);
    filled
}

/// Returns the primary language subtag of a locale (`de-AT` → `de`), lower case, or `en`.
pub fn primary_language(locale: &str) -> String {
    let primary = locale
        .trim()
        .split(['-', '_'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_lowercase()) {
        primary
    } else {
        "en".to_owned()
    }
}

/// Returns the language wording is picked in: the recipient's when built in, else English.
pub fn wording_language(primary: &str, overrides: &[TemplateOverride]) -> String {
    let has_override = overrides
        .iter()
        .any(|template| template.language.eq_ignore_ascii_case(primary));
    if BUILT_IN_LANGUAGES.contains(&primary) || has_override {
        primary.to_owned()
    } else {
        "en".to_owned()
    }
}

/// Returns the text-to-speech language attribute: the recipient's locale when its wording is
/// used, else `en-US`.
pub fn speech_language(locale: &str, wording_language: &str) -> String {
    let locale = locale.trim();
    if !locale.is_empty() && primary_language(locale) == wording_language {
        locale.to_owned()
    } else {
        match wording_language {
            "en" => "en-US".to_owned(),
            "de" => "de-DE".to_owned(),
            "fr" => "fr-FR".to_owned(),
            "es" => "es-ES".to_owned(),
            other => other.to_owned(),
        }
    }
}

/// Returns `start` as spoken in `language` and `time_zone`: (date, time). An unknown zone
/// falls back to UTC.
///
/// en "Tuesday, March 3" / "2:30 PM"; de "Dienstag, 3. März" / "14:30 Uhr";
/// fr "mardi 3 mars" / "14 h 30"; es "martes, 3 de marzo" / "14:30".
pub fn spoken_date_and_time(
    start: DateTime<Utc>,
    time_zone: &str,
    language: &str,
) -> (String, String) {
    let zone: Tz = time_zone.trim().parse().unwrap_or_else(|_| {
        tracing::warn!(time_zone, "unknown time zone, speaking the time in utc");
        Tz::UTC
    });
    let local = start.with_timezone(&zone);
    let day = local.day();
    let month0 = local.month0() as usize;
    let weekday = local.weekday();
    let (hour, minute) = (local.hour(), local.minute());
    match language {
        "de" => (
            format!("{}, {day}. {}", weekday_name(weekday, 1), MONTHS[1][month0]),
            format!("{hour}:{minute:02} Uhr"),
        ),
        "fr" => (
            format!("{} {day} {}", weekday_name(weekday, 2), MONTHS[2][month0]),
            format!("{hour} h {minute:02}"),
        ),
        "es" => (
            format!(
                "{}, {day} de {}",
                weekday_name(weekday, 3),
                MONTHS[3][month0]
            ),
            format!("{hour}:{minute:02}"),
        ),
        _ => (
            format!("{}, {} {day}", weekday_name(weekday, 0), MONTHS[0][month0]),
            local.format("%-I:%M %p").to_string(),
        ),
    }
}

const MONTHS: [[&str; 12]; 4] = [
    [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ],
    [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
    [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ],
];

fn weekday_name(weekday: Weekday, language: usize) -> &'static str {
    const DAYS: [[&str; 7]; 4] = [
        [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ],
        [
            "Montag",
            "Dienstag",
            "Mittwoch",
            "Donnerstag",
            "Freitag",
            "Samstag",
            "Sonntag",
        ],
        [
            "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
        ],
        [
            "lunes",
            "martes",
            "miércoles",
            "jueves",
            "viernes",
            "sábado",
            "domingo",
        ],
    ];
    DAYS[language][weekday.num_days_from_monday() as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_has_built_in_wording_in_every_built_in_language() {
        for language in BUILT_IN_LANGUAGES {
            for name in NAMES {
                let text = built_in(name, language).unwrap();
                assert!(unknown_placeholders(text).is_empty(), "{language} {name}");
            }
        }
    }

    #[test]
    fn dates_are_spoken_per_language() {
        // 2026-03-03 is a Tuesday; 13:30 UTC is 14:30 in Berlin.
        let start = "2026-03-03T13:30:00Z".parse().unwrap();
        assert_eq!(
            spoken_date_and_time(start, "Europe/Berlin", "de"),
            ("Dienstag, 3. März".to_owned(), "14:30 Uhr".to_owned())
        );
        assert_eq!(
            spoken_date_and_time(start, "Europe/Berlin", "en"),
            ("Tuesday, March 3".to_owned(), "2:30 PM".to_owned())
        );
        assert_eq!(
            spoken_date_and_time(start, "Europe/Paris", "fr"),
            ("mardi 3 mars".to_owned(), "14 h 30".to_owned())
        );
        assert_eq!(
            spoken_date_and_time(start, "Europe/Madrid", "es"),
            ("martes, 3 de marzo".to_owned(), "14:30".to_owned())
        );
        assert_eq!(spoken_date_and_time(start, "Not/AZone", "en").1, "1:30 PM");
    }

    #[test]
    fn overrides_win_per_language_and_others_fall_back_to_english() {
        let overrides = vec![TemplateOverride {
            name: "confirmed".to_owned(),
            language: "de".to_owned(),
            text: "Danke {name}, bis bald bei {business}.".to_owned(),
        }];
        let values = Values {
            name: "Ada".to_owned(),
            business: "Praxis".to_owned(),
            ..Values::default()
        };
        let german = Wording::new("de", &overrides, values.clone());
        assert_eq!(german.text("confirmed"), "Danke Ada, bis bald bei Praxis.");
        assert_eq!(german.text("kept"), "Ihr Termin bleibt bestehen.");
        let language = wording_language(&primary_language("pt-BR"), &overrides);
        assert_eq!(language, "en");
        let portuguese = Wording::new(&language, &overrides, values);
        assert_eq!(portuguese.text("kept"), "Your appointment is kept.");
        assert_eq!(speech_language("pt-BR", &language), "en-US");
        assert_eq!(speech_language("de-AT", "de"), "de-AT");
    }

    #[test]
    fn variables_are_filled_once_and_never_again() {
        let values = HashMap::from([
            ("name".to_owned(), "Ada {name}".to_owned()),
            ("lab".to_owned(), "City  Lab".to_owned()),
        ]);
        assert_eq!(
            fill_variables("Hello {name}, this is {lab}. {missing} {", &values),
            "Hello Ada {name}, this is City Lab. {missing} {"
        );
        assert_eq!(placeholders("a {x} b {y} {"), ["x", "y", "{"]);
    }

    #[test]
    fn unknown_placeholders_are_found() {
        assert!(unknown_placeholders("Hi {name} at {time}").is_empty());
        assert_eq!(unknown_placeholders("Hi {nom}"), ["nom"]);
        assert_eq!(unknown_placeholders("Hi {name"), ["{"]);
    }

    #[test]
    fn spoken_when_fills_the_date_and_drops_the_time() {
        let values = Values {
            date: "Apr 5 at 3 PM".to_owned(),
            ..Values::default()
        };
        assert_eq!(
            Wording::new("en", &[], values).text("appointment"),
            "This is a reminder of your appointment on Apr 5 at 3 PM."
        );
    }

    #[test]
    fn the_reminders_own_text_replaces_the_appointment_sentence_with_names_and_metadata() {
        let values = Values {
            name: "Ada Lovelace".to_owned(),
            date: "Tuesday, March 3".to_owned(),
            time: "2:30 PM".to_owned(),
            ..Values::default()
        };
        let metadata = [("room".to_owned(), "B {12}".to_owned())]
            .into_iter()
            .collect();
        let wording = Wording::new("en", &[], values.clone())
            .with_appointment_text(Some(
                "{first_name}, see you {date} at {time} in room {metadata.room}{metadata.floor}.",
            ))
            .with_recipient_details("", "", metadata);
        assert_eq!(
            wording.text("appointment"),
            "Ada, see you Tuesday, March 3 at 2:30 PM in room B {12}."
        );
        assert_eq!(wording.text("greeting"), "Hello Ada Lovelace, this is.");
        let named = Wording::new("en", &[], values)
            .with_appointment_text(Some("  "))
            .with_recipient_details("Augusta", "King", BTreeMap::new());
        assert_eq!(
            named.fill("{first_name} {last_name}"),
            "Augusta King",
            "names sent apart win over the split of the full name"
        );
        assert!(named.text("appointment").starts_with("This is a reminder"));
        assert!(unknown_placeholders("{first_name} {metadata.room_2}").is_empty());
        assert_eq!(unknown_placeholders("{metadata.}"), ["metadata."]);
    }

    #[test]
    fn an_empty_name_leaves_no_stray_space() {
        let wording = Wording::new("en", &[], Values::default());
        assert_eq!(wording.text("greeting"), "Hello, this is.");
    }
}
