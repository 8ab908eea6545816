//! The SMS templates: their names, placeholders, default texts in every supported language,
//! the values they are rendered with, and the save-time lint.
//!
//! # Templates and placeholders
//!
//! | template | sent when | placeholders |
//! |---|---|---|
//! | `reminder` | a reminder is due | appointment placeholders |
//! | `confirmed` | a reply confirmed | appointment placeholders |
//! | `cancelled` | a reply cancelled | appointment placeholders |
//! | `unparsable` | a reply meant nothing (at most twice per reminder) | appointment placeholders |
//! | `opted_out` | the number opted out (the one CTIA/FCC confirmation) | general placeholders |
//! | `opted_in` | the number opted back in | general placeholders |
//! | `help` | HELP / INFO | general placeholders |
//! | `no_pending` | a yes/no came with no reminder waiting for it | general placeholders |
//!
//! General placeholders: `{business}`, `{contact}` (the tenant's help contact),
//! `{stop_keyword}` (`STOP`). Appointment placeholders add `{name}` (the recipient),
//! `{datetime}`, `{date}`, `{time}` (see [`crate::datetime`]), `{location}`,
//! `{at_location}` (" at West Side Mechanics", localized, empty without a location),
//! `{participant}` and `{with_participant}` (" with Joe", localized, empty without one).
//!
//! # Default texts
//!
//! English keeps the seed's wording with a `[{business}]` line first. The other languages say
//! the same and name reply words the parser accepts in that language (`OUI`/`NON`,
//! `JA`/`NEIN`, `SI`/`NO`, `SIM`/`NAO`, `JA`/`NEE`). The reply words are written without
//! accents (`SI`, `NAO`) and the texts avoid letters outside GSM-7 where the language allows
//! it without misspelling, so that a reminder costs GSM-7 segments (160/153 characters)
//! rather than UCS-2 ones (70/67). `opted_out` is the single confirmation the rules allow:
//! brand, program, how to come back, no marketing. `help` gives the brand, the program,
//! "Msg & data rates may apply", how to stop and the contact.
//!
//! # Lint
//!
//! [`lint`] renders a template with the longest plausible values ([`MAX_BUSINESS`] etc., the
//! longest date of the language with the longest zone label) and rejects it past the
//! tenant's segment limit. Values are assumed to be GSM-7 text, since any value may or may
//! not be; a template whose own text leaves GSM-7 is counted as UCS-2 and the reason names
//! the character. The localized date is our own text: where some dates of the language leave
//! GSM-7 (`sáb`, `août`), [`check`] adds a warning with the UCS-2 count of those days.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::datetime::{self, LONGEST_ZONE_LABEL};
use crate::language::Language;
use crate::segments::{self, SegmentCount, count, first_non_gsm7};
use crate::template::{self, TemplateError, Variables};

/// Every SMS template name.
pub const TEMPLATE_NAMES: [&str; 10] = [
    "reminder",
    "confirmed",
    "cancelled",
    "unparsable",
    "opted_out",
    "opted_in",
    "help",
    "no_pending",
    "follow_up",
    "no_show",
];

/// The placeholders every SMS template may use.
pub const GENERAL_PLACEHOLDERS: [&str; 3] = ["business", "contact", "stop_keyword"];

/// The placeholders of the templates sent about one appointment. Besides these, an
/// appointment template may name any `{metadata.key}` (see [`is_metadata_placeholder`]).
pub const APPOINTMENT_PLACEHOLDERS: [&str; 13] = [
    "business",
    "contact",
    "stop_keyword",
    "name",
    "first_name",
    "last_name",
    "datetime",
    "date",
    "time",
    "location",
    "at_location",
    "participant",
    "with_participant",
];

/// The longest business name the lint assumes (the brand in brackets).
pub const MAX_BUSINESS: usize = 40;
/// The longest recipient name the lint assumes.
pub const MAX_NAME: usize = 40;
/// The longest location the lint assumes (a business name and a short address).
pub const MAX_LOCATION: usize = 64;
/// The longest participant the lint assumes (a person or a department).
pub const MAX_PARTICIPANT: usize = 40;
/// The longest help contact the lint assumes (a phone number, an address or a URL).
pub const MAX_CONTACT: usize = 64;
/// The longest metadata value the lint assumes (a place, a room, a short note).
pub const MAX_METADATA: usize = 40;
/// What a metadata placeholder starts with: `{metadata.eventLocation}`.
pub const METADATA_PREFIX: &str = "metadata.";
/// The longest metadata key.
pub const MAX_METADATA_KEY: usize = 64;

/// Whether `key` may name a metadata value: 1 to [`MAX_METADATA_KEY`] ASCII letters, digits
/// and underscores.
pub fn is_metadata_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_METADATA_KEY
        && key
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
}

/// Whether placeholder `name` is `metadata.` followed by a valid key.
pub fn is_metadata_placeholder(name: &str) -> bool {
    name.strip_prefix(METADATA_PREFIX)
        .is_some_and(is_metadata_key)
}
/// The stop keyword the messages name.
pub const STOP_KEYWORD: &str = "STOP";

/// Returns the placeholders template `name` may use; `None` for an unknown name.
pub fn placeholders(name: &str) -> Option<&'static [&'static str]> {
    match name {
        "reminder" | "confirmed" | "cancelled" | "unparsable" | "follow_up" | "no_show" => {
            Some(&APPOINTMENT_PLACEHOLDERS)
        }
        "opted_out" | "opted_in" | "help" | "no_pending" => Some(&GENERAL_PLACEHOLDERS),
        _ => None,
    }
}

/// Returns the built-in text of template `name` in `language` (a BCP 47 tag; an unsupported
/// one gives English); `None` for an unknown name.
pub fn default_text(name: &str, language: &str) -> Option<&'static str> {
    let texts = texts(Language::from_tag(language));
    let index = TEMPLATE_NAMES
        .iter()
        .position(|template| *template == name)?;
    texts.get(index).copied()
}

/// Whether template `name` takes the appointment placeholders (and metadata).
fn is_appointment_template(name: &str) -> bool {
    placeholders(name).is_some_and(|allowed| allowed.len() == APPOINTMENT_PLACEHOLDERS.len())
}

/// The texts of one language, in [`TEMPLATE_NAMES`] order.
fn texts(language: Language) -> [&'static str; 10] {
    match language {
        Language::En => [
            "[{business}]\nYou have an appointment on {datetime}{at_location}{with_participant}. Please reply 'Yes' to confirm, or 'No' to cancel.",
            "[{business}]\nThank you! Your appointment has been marked confirmed.",
            "[{business}]\nThank you! Your appointment has been marked canceled.",
            "[{business}]\nSorry, we did not understand your response. Please reply 'Yes' to confirm, or 'No' to cancel.",
            "[{business}]\nYou are unsubscribed from appointment reminders and will receive no more messages. Reply START to resubscribe.",
            "[{business}]\nYou are subscribed to appointment reminders again. Msg frequency varies. Msg & data rates may apply. Reply HELP for help, STOP to opt out.",
            "[{business}]\nAppointment reminders. Msg frequency varies. Msg & data rates may apply. Reply STOP to opt out. Help: {contact}",
            "[{business}]\nWe found no appointment waiting for your answer.",
            "[{business}]\nThank you for your visit on {date}{with_participant}. We hope to see you again soon.",
            "[{business}]\nWe missed you at your appointment on {datetime}{with_participant}. Please contact us to book a new time.",
        ],
        Language::Fr => [
            "[{business}]\nVous avez un rendez-vous le {datetime}{at_location}{with_participant}. Répondez OUI pour confirmer ou NON pour annuler.",
            "[{business}]\nMerci ! Votre rendez-vous est confirmé.",
            "[{business}]\nMerci ! Votre rendez-vous est annulé.",
            "[{business}]\nDésolé, nous n'avons pas compris votre réponse. Répondez OUI pour confirmer ou NON pour annuler.",
            "[{business}]\nDésinscription confirmée : vous ne recevrez plus de rappels de rendez-vous. Répondez START pour vous réinscrire.",
            "[{business}]\nInscription confirmée : vous recevrez de nouveau les rappels de rendez-vous. Fréquence variable. Des frais de messagerie peuvent s'appliquer. Répondez AIDE pour de l'aide, STOP pour vous désinscrire.",
            "[{business}]\nRappels de rendez-vous. Fréquence variable. Des frais de messagerie peuvent s'appliquer. Répondez STOP pour vous désinscrire. Aide : {contact}",
            "[{business}]\nNous n'avons trouvé aucun rendez-vous en attente de votre réponse.",
            "[{business}]\nMerci de votre visite du {date}{with_participant}. Au plaisir de vous revoir.",
            "[{business}]\nVous avez manqué votre rendez-vous du {datetime}{with_participant}. Contactez-nous pour en fixer un nouveau.",
        ],
        Language::De => [
            "[{business}]\nSie haben einen Termin am {datetime}{at_location}{with_participant}. Antworten Sie JA zum Bestätigen oder NEIN zum Absagen.",
            "[{business}]\nVielen Dank! Ihr Termin ist bestätigt.",
            "[{business}]\nVielen Dank! Ihr Termin ist abgesagt.",
            "[{business}]\nLeider haben wir Ihre Antwort nicht verstanden. Antworten Sie JA zum Bestätigen oder NEIN zum Absagen.",
            "[{business}]\nSie sind abgemeldet und erhalten keine Terminerinnerungen mehr. Antworten Sie START, um sich wieder anzumelden.",
            "[{business}]\nSie sind wieder für Terminerinnerungen angemeldet. Häufigkeit variiert. Es können Gebühren für SMS anfallen. Antworten Sie HILFE für Hilfe, STOP zum Abmelden.",
            "[{business}]\nTerminerinnerungen. Häufigkeit variiert. Es können Gebühren für SMS anfallen. Antworten Sie STOP zum Abmelden. Kontakt: {contact}",
            "[{business}]\nWir haben keinen Termin gefunden, der auf Ihre Antwort wartet.",
            "[{business}]\nDanke für Ihren Besuch am {date}{with_participant}. Wir freuen uns auf ein Wiedersehen.",
            "[{business}]\nSie haben Ihren Termin am {datetime}{with_participant} verpasst. Bitte melden Sie sich für einen neuen Termin.",
        ],
        Language::Es => [
            "[{business}]\nTiene una cita el {datetime}{at_location}{with_participant}. Responda SI para confirmar o NO para cancelar.",
            "[{business}]\n¡Gracias! Su cita ha quedado confirmada.",
            "[{business}]\n¡Gracias! Su cita ha quedado cancelada.",
            "[{business}]\nLo sentimos, no entendimos su respuesta. Responda SI para confirmar o NO para cancelar.",
            "[{business}]\nSe ha dado de baja de los recordatorios de citas y ya no le enviaremos mensajes. Responda START para volver a suscribirse.",
            "[{business}]\nSe ha vuelto a suscribir a los recordatorios de citas. Frecuencia variable. Pueden aplicarse tarifas de mensajes y datos. Responda AYUDA para ayuda, STOP para darse de baja.",
            "[{business}]\nRecordatorios de citas. Frecuencia variable. Pueden aplicarse tarifas de mensajes y datos. Responda STOP para darse de baja. Contacto: {contact}",
            "[{business}]\nNo encontramos ninguna cita pendiente de su respuesta.",
            "[{business}]\nGracias por su visita del {date}{with_participant}. Esperamos verle pronto.",
            "[{business}]\nLe echamos de menos en su cita del {datetime}{with_participant}. Reserve una nueva cita cuando quiera.",
        ],
        Language::Pt => [
            "[{business}]\nLembrete: tem um agendamento em {datetime}{at_location}{with_participant}. Responda SIM para confirmar ou NAO para cancelar.",
            "[{business}]\nObrigado! O seu agendamento foi confirmado.",
            "[{business}]\nObrigado! O seu agendamento foi cancelado.",
            "[{business}]\nDesculpe, a resposta deve ser SIM para confirmar ou NAO para cancelar.",
            "[{business}]\nDeixou de receber lembretes de agendamento. Responda START para voltar a receber.",
            "[{business}]\nVoltou a receber lembretes de agendamento. Podem ser cobradas tarifas de mensagens e dados. Responda AJUDA para ajuda ou STOP para deixar de receber.",
            "[{business}]\nLembretes de agendamento. Podem ser cobradas tarifas de mensagens e dados. Responda STOP para deixar de receber. Ajuda: {contact}",
            "[{business}]\nNenhum agendamento aguarda a sua resposta.",
            "[{business}]\nObrigado pela sua visita em {date}{with_participant}. Até breve!",
            "[{business}]\nSentimos a sua falta no agendamento de {datetime}{with_participant}. Contacte-nos para marcar um novo.",
        ],
        Language::It => [
            "[{business}]\nHa un appuntamento il {datetime}{at_location}{with_participant}. Risponda SI per confermare o NO per annullare.",
            "[{business}]\nGrazie! Il suo appuntamento è confermato.",
            "[{business}]\nGrazie! Il suo appuntamento è annullato.",
            "[{business}]\nSpiacenti, non abbiamo capito la sua risposta. Risponda SI per confermare o NO per annullare.",
            "[{business}]\nDisiscrizione confermata: non riceverà più promemoria degli appuntamenti. Risponda START per iscriversi di nuovo.",
            "[{business}]\nIscrizione confermata: riceverà di nuovo i promemoria degli appuntamenti. Possono essere applicati costi per messaggi e dati. Risponda AIUTO per assistenza, STOP per disiscriversi.",
            "[{business}]\nPromemoria appuntamenti. Possono essere applicati costi per messaggi e dati. Risponda STOP per disiscriversi. Contatto: {contact}",
            "[{business}]\nNon abbiamo trovato appuntamenti in attesa di una sua risposta.",
            "[{business}]\nGrazie per la visita del {date}{with_participant}. A presto!",
            "[{business}]\nNon l'abbiamo vista all'appuntamento del {datetime}{with_participant}. Ci contatti per fissarne uno nuovo.",
        ],
        Language::Nl => [
            "[{business}]\nU heeft een afspraak op {datetime}{at_location}{with_participant}. Antwoord JA om te bevestigen of NEE om te annuleren.",
            "[{business}]\nBedankt! Uw afspraak is bevestigd.",
            "[{business}]\nBedankt! Uw afspraak is geannuleerd.",
            "[{business}]\nSorry, we begrepen uw antwoord niet. Antwoord JA om te bevestigen of NEE om te annuleren.",
            "[{business}]\nU bent afgemeld en ontvangt geen afspraakherinneringen meer. Antwoord START om u weer aan te melden.",
            "[{business}]\nU bent weer aangemeld voor afspraakherinneringen. Er kunnen kosten voor berichten en data gelden. Antwoord HULP voor hulp, STOP om af te melden.",
            "[{business}]\nAfspraakherinneringen. Er kunnen kosten voor berichten en data gelden. Antwoord STOP om af te melden. Contact: {contact}",
            "[{business}]\nWe hebben geen afspraak gevonden die op uw antwoord wacht.",
            "[{business}]\nBedankt voor uw bezoek op {date}{with_participant}. Tot ziens!",
            "[{business}]\nWe hebben u gemist bij uw afspraak op {datetime}{with_participant}. Neem contact op voor een nieuwe afspraak.",
        ],
    }
}

/// Returns `" at {location}"` in `language` (" à ", " in ", " en ", " em ", " presso ",
/// " bij "), or an empty string without a location.
pub fn at_location(language: &str, location: Option<&str>) -> String {
    let preposition = match Language::from_tag(language) {
        Language::En => "at",
        Language::Fr => "à",
        Language::De => "in",
        Language::Es => "en",
        Language::Pt => "em",
        Language::It => "presso",
        Language::Nl => "bij",
    };
    joined(preposition, location)
}

/// Returns `" with {participant}"` in `language` (" avec ", " bei ", " con ", " com ",
/// " con ", " met "), or an empty string without a participant.
pub fn with_participant(language: &str, participant: Option<&str>) -> String {
    let preposition = match Language::from_tag(language) {
        Language::En => "with",
        Language::Fr => "avec",
        Language::De => "bei",
        Language::Es | Language::It => "con",
        Language::Pt => "com",
        Language::Nl => "met",
    };
    joined(preposition, participant)
}

fn joined(preposition: &str, value: Option<&str>) -> String {
    match value.map(str::trim) {
        Some(value) if !value.is_empty() => format!(" {preposition} {value}"),
        _ => String::new(),
    }
}

/// The appointment a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appointment<'a> {
    /// When it starts.
    pub start: DateTime<Utc>,
    /// The recipient's zone: the date and time are written in it.
    pub recipient_zone: Tz,
    /// The business's zone: the time carries a zone label when the offsets differ.
    pub business_zone: Option<Tz>,
    /// The recipient's name, if known.
    pub name: Option<&'a str>,
    /// The recipient's given and family names when known apart; otherwise `name` is split at
    /// its first space.
    pub first_name: Option<&'a str>,
    /// See `first_name`.
    pub last_name: Option<&'a str>,
    /// The integrator's values for `{metadata.key}`; a key the text names but this lacks
    /// renders empty.
    pub metadata: Option<&'a BTreeMap<String, String>>,
    /// Where, if known.
    pub location: Option<&'a str>,
    /// With whom (a person or a department), if known.
    pub participant: Option<&'a str>,
}

/// Returns the values of every placeholder for a message in `language` (a BCP 47 tag):
/// the general ones always, the appointment ones when `appointment` is given (a missing
/// name, location or participant is an empty value). `contact` is the tenant's help
/// contact.
pub fn variables(
    language: &str,
    business: &str,
    contact: &str,
    appointment: Option<&Appointment<'_>>,
) -> Variables {
    let mut values = Variables::new()
        .with("business", business)
        .with("contact", contact)
        .with("stop_keyword", STOP_KEYWORD);
    if let Some(appointment) = appointment {
        let (start, zone, business_zone) = (
            appointment.start,
            appointment.recipient_zone,
            appointment.business_zone,
        );
        values.set(
            "datetime",
            datetime::format_appointment(start, zone, language, business_zone),
        );
        values.set("date", datetime::format_date(start, zone, language));
        values.set(
            "time",
            datetime::format_time(start, zone, language, business_zone),
        );
        let name = appointment.name.unwrap_or_default().trim();
        values.set("name", name);
        let (first_name, last_name) = split_name(name);
        let given = |part: Option<&str>, fallback: &str| match part.map(str::trim) {
            Some(part) if !part.is_empty() => part.to_owned(),
            _ if appointment.first_name.is_some() || appointment.last_name.is_some() => {
                String::new()
            }
            _ => fallback.to_owned(),
        };
        values.set("first_name", given(appointment.first_name, first_name));
        values.set("last_name", given(appointment.last_name, last_name));
        for (key, value) in appointment.metadata.into_iter().flatten() {
            values.set(&format!("{METADATA_PREFIX}{key}"), value.trim());
        }
        values.set("location", appointment.location.unwrap_or_default().trim());
        values.set(
            "participant",
            appointment.participant.unwrap_or_default().trim(),
        );
        values.set("at_location", at_location(language, appointment.location));
        values.set(
            "with_participant",
            with_participant(language, appointment.participant),
        );
    }
    values
}

/// Returns message `name` in `language`: the tenant's `text` when given, else the default.
/// A template that uses a placeholder `variables` has no value for is an error.
pub fn render(
    name: &str,
    language: &str,
    text: Option<&str>,
    values: &Variables,
) -> Result<String, LintError> {
    let text = match text {
        Some(text) => text,
        None => default_text(name, language)
            .ok_or_else(|| LintError::UnknownTemplate(name.to_owned()))?,
    };
    let missing_metadata: Vec<&str> = template::placeholders(text)?
        .into_iter()
        .filter(|placeholder| {
            is_metadata_placeholder(placeholder) && values.get(placeholder).is_none()
        })
        .collect();
    if missing_metadata.is_empty() {
        return Ok(template::render(text, values)?);
    }
    // Metadata is per appointment and optional: a key one booking did not send reads as
    // nothing rather than failing the whole message.
    let mut values = values.clone();
    for placeholder in missing_metadata {
        values.set(placeholder, "");
    }
    Ok(template::render(text, &values)?)
}

/// Splits a full name at its first space: ("Ana", "de la Cruz").
fn split_name(name: &str) -> (&str, &str) {
    match name.split_once(char::is_whitespace) {
        Some((first, last)) => (first, last.trim()),
        None => (name, ""),
    }
}

/// Why a template cannot be saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LintError {
    /// Not one of [`TEMPLATE_NAMES`].
    #[error("unknown template {0:?}; the templates are {names}", names = TEMPLATE_NAMES.join(", "))]
    UnknownTemplate(String),
    /// Not one of the supported languages.
    #[error("unsupported language {0:?}; the languages are en, fr, de, es, pt, it, nl")]
    UnsupportedLanguage(String),
    /// Nothing but white space.
    #[error("is empty")]
    Empty,
    /// A brace or placeholder problem; for an unknown placeholder, the allowed ones.
    #[error("{error}{allowed}")]
    Template {
        /// The problem.
        error: TemplateError,
        /// `; the placeholders are {…}` for an unknown placeholder, else empty.
        allowed: String,
    },
    /// Rendered with the longest values, the message takes too many segments.
    #[error(
        "renders to {segments} {encoding} segments ({characters} characters) with the longest values; the limit is {max_segments}{why_ucs2}",
        segments = count.segments,
        encoding = count.encoding,
    )]
    TooLong {
        /// The count with the longest values.
        count: SegmentCount,
        /// The rendered length in characters.
        characters: usize,
        /// The tenant's limit.
        max_segments: usize,
        /// `; 'ç' at character 12 is outside GSM-7, so the message is sent as UCS-2` when
        /// the template's own text forces UCS-2, else empty.
        why_ucs2: String,
    },
}

impl From<TemplateError> for LintError {
    fn from(error: TemplateError) -> Self {
        LintError::Template {
            error,
            allowed: String::new(),
        }
    }
}

/// A template that passed the lint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintReport {
    /// The count with the longest values.
    pub count: SegmentCount,
    /// Things worth telling the tenant that do not stop the save.
    pub warnings: Vec<String>,
}

/// Checks template `name` in `language` (a BCP 47 tag) for saving: known name and language,
/// only its placeholders, balanced braces, and at most `max_segments` segments with the
/// longest values. Returns the count.
pub fn lint(
    name: &str,
    text: &str,
    max_segments: usize,
    language: &str,
) -> Result<SegmentCount, LintError> {
    check(name, text, max_segments, language).map(|report| report.count)
}

/// Does what [`lint`] does and also returns its warnings: the template's own text leaving
/// GSM-7, and dates of the language that leave GSM-7 with the segments they then take.
pub fn check(
    name: &str,
    text: &str,
    max_segments: usize,
    language: &str,
) -> Result<LintReport, LintError> {
    let allowed = placeholders(name).ok_or_else(|| LintError::UnknownTemplate(name.to_owned()))?;
    let language = Language::parse(language)
        .ok_or_else(|| LintError::UnsupportedLanguage(language.to_owned()))?;
    if text.trim().is_empty() {
        return Err(LintError::Empty);
    }
    let takes_metadata = is_appointment_template(name);
    template::validate_with(text, |placeholder| {
        allowed.contains(&placeholder) || (takes_metadata && is_metadata_placeholder(placeholder))
    })
    .map_err(|error| {
        let allowed = match error {
            TemplateError::UnknownPlaceholder { .. } => format!(
                "; the placeholders are {}{}",
                allowed
                    .iter()
                    .map(|name| format!("{{{name}}}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if takes_metadata {
                    " and {metadata.key}"
                } else {
                    ""
                }
            ),
            _ => String::new(),
        };
        LintError::Template { error, allowed }
    })?;
    let uses = template::placeholders(text)?;
    let uses_date = uses.iter().any(|name| matches!(*name, "datetime" | "date"));

    // The count that decides: GSM-7 stand-ins of the longest values.
    let mut longest = longest_values(language, &LongestDate::gsm7_length_of(language));
    for placeholder in uses.iter().filter(|name| is_metadata_placeholder(name)) {
        longest.set(placeholder, "x".repeat(MAX_METADATA));
    }
    let rendered = template::render(text, &longest)?;
    let counted = count(&rendered);
    let characters = rendered.chars().count();
    let non_gsm_in_text = first_non_gsm7(text);
    if counted.segments > max_segments {
        let why_ucs2 = match non_gsm_in_text {
            Some((character, position)) => format!(
                "; {character:?} at character {position} is outside GSM-7, so the message is sent as UCS-2"
            ),
            None => String::new(),
        };
        return Err(LintError::TooLong {
            count: counted,
            characters,
            max_segments,
            why_ucs2,
        });
    }
    let mut warnings = Vec::new();
    if let Some((character, position)) = non_gsm_in_text {
        warnings.push(format!(
            "{character:?} at character {position} is outside GSM-7: every message is sent as UCS-2 (70 characters, 67 per segment)"
        ));
    }
    if uses_date
        && non_gsm_in_text.is_none()
        && let Some(date) = LongestDate::non_gsm7(language)
    {
        let mut longest = longest_values(language, &date);
        for placeholder in uses.iter().filter(|name| is_metadata_placeholder(name)) {
            longest.set(placeholder, "x".repeat(MAX_METADATA));
        }
        let rendered = template::render(text, &longest)?;
        let ucs2 = count(&rendered);
        let (character, _) = first_non_gsm7(&date.datetime).unwrap_or(('?', 0));
        warnings.push(format!(
            "some dates in {language} contain {character:?} ({example}), outside GSM-7: those messages are sent as UCS-2 and take up to {segments} segments",
            example = date.example,
            segments = ucs2.segments,
        ));
    }
    Ok(LintReport {
        count: counted,
        warnings,
    })
}

/// The longest `{datetime}`, `{date}` and `{time}` values to lint with.
struct LongestDate {
    datetime: String,
    date: String,
    time: String,
    /// The day or month name that leaves GSM-7, for the warning.
    example: String,
}

impl LongestDate {
    /// Returns every (weekday, month) date of a year at the longest time of day, in the
    /// language, with the longest zone label.
    fn candidates(language: Language) -> Vec<(String, String, String)> {
        let mut candidates = Vec::new();
        // 2027 starts on a Friday; the 28th of each month walks through every weekday, and
        // the 22nd–28th of January covers each weekday with a two-digit day.
        let mut days: Vec<NaiveDate> = (1..=12)
            .filter_map(|month| NaiveDate::from_ymd_opt(2027, month, 28))
            .collect();
        days.extend((22..=28).filter_map(|day| NaiveDate::from_ymd_opt(2027, 1, day)));
        for day in days {
            // 12:59 is the longest English time (12:59 PM); 23:59 the longest 24-hour one.
            for (hour, minute) in [(12, 59), (23, 59)] {
                let Some(local) = day.and_hms_opt(hour, minute, 0) else {
                    continue;
                };
                let datetime = datetime::compose(language, local, Some(LONGEST_ZONE_LABEL));
                let date = datetime::compose_date(language, local);
                let time = datetime::compose_time(language, local, Some(LONGEST_ZONE_LABEL));
                candidates.push((datetime, date, time));
            }
        }
        candidates
    }

    /// Returns the longest values with every character outside GSM-7 replaced by `x`, which
    /// keeps the length and counts as GSM-7.
    fn gsm7_length_of(language: Language) -> LongestDate {
        let fold = |text: &str| -> String {
            text.chars()
                .map(|character| {
                    if segments::gsm7_septets(character).is_some() {
                        character
                    } else {
                        'x'
                    }
                })
                .collect()
        };
        let candidates = Self::candidates(language);
        let longest = |pick: fn(&(String, String, String)) -> &String| {
            candidates
                .iter()
                .map(|candidate| fold(pick(candidate)))
                .max_by_key(|value| count(value).units)
                .unwrap_or_default()
        };
        LongestDate {
            datetime: longest(|candidate| &candidate.0),
            date: longest(|candidate| &candidate.1),
            time: longest(|candidate| &candidate.2),
            example: String::new(),
        }
    }

    /// Returns the longest values among the dates that leave GSM-7, `None` when every date
    /// of the language is GSM-7.
    fn non_gsm7(language: Language) -> Option<LongestDate> {
        let candidates: Vec<_> = Self::candidates(language)
            .into_iter()
            .filter(|candidate| first_non_gsm7(&candidate.0).is_some())
            .collect();
        let (datetime, date, time) = candidates
            .iter()
            .max_by_key(|candidate| candidate.0.encode_utf16().count())?
            .clone();
        let example = date
            .split([' ', ','])
            .find(|word| first_non_gsm7(word).is_some())
            .unwrap_or_default()
            .to_owned();
        Some(LongestDate {
            datetime,
            date,
            time,
            example,
        })
    }
}

/// Returns the longest plausible values in `language`, GSM-7 letters of the maximal lengths.
fn longest_values(language: Language, date: &LongestDate) -> Variables {
    let filler = |length: usize| "x".repeat(length);
    let code = language.code();
    let location = filler(MAX_LOCATION);
    let participant = filler(MAX_PARTICIPANT);
    Variables::new()
        .with("business", filler(MAX_BUSINESS))
        .with("contact", filler(MAX_CONTACT))
        .with("stop_keyword", STOP_KEYWORD)
        .with("name", filler(MAX_NAME))
        .with("first_name", filler(MAX_NAME))
        .with("last_name", filler(MAX_NAME))
        .with("datetime", date.datetime.clone())
        .with("date", date.date.clone())
        .with("time", date.time.clone())
        .with("at_location", at_location(code, Some(&location)))
        .with(
            "with_participant",
            with_participant(code, Some(&participant)),
        )
        .with("location", location)
        .with("participant", participant)
}

#[cfg(test)]
mod tests {
    use chrono_tz::America::New_York;
    use chrono_tz::Europe::Paris;

    use super::*;
    use crate::replies::{Reply, parse};
    use crate::segments::Encoding;

    #[test]
    fn every_template_has_a_default_in_every_language() {
        for language in Language::ALL {
            for name in TEMPLATE_NAMES {
                let text = default_text(name, language.code()).unwrap();
                assert!(text.starts_with("[{business}]\n"), "{name} {language}");
                assert!(
                    template::validate(text, placeholders(name).unwrap()).is_ok(),
                    "{name} {language}"
                );
            }
        }
        assert_eq!(default_text("farewell", "en"), None);
        assert_eq!(default_text("help", "ko"), default_text("help", "en"));
        assert_eq!(default_text("help", "fr-CA"), default_text("help", "fr"));
    }

    #[test]
    fn the_english_defaults_are_the_seeds_wording() {
        let values = variables(
            "en",
            "Org",
            "",
            Some(&Appointment {
                start: "2026-11-21T11:20:00Z".parse().unwrap(),
                recipient_zone: New_York,
                business_zone: Some(New_York),
                name: None,
                location: Some("West Side Mechanics"),
                participant: Some("Joe"),
                first_name: None,
                last_name: None,
                metadata: None,
            }),
        );
        let render_en = |name| render(name, "en", None, &values).unwrap();
        assert_eq!(
            render_en("reminder"),
            "[Org]\nYou have an appointment on Sat Nov 21, 6:20 AM at West Side Mechanics with Joe. Please reply 'Yes' to confirm, or 'No' to cancel."
        );
        assert_eq!(
            render_en("confirmed"),
            "[Org]\nThank you! Your appointment has been marked confirmed."
        );
        assert_eq!(
            render_en("cancelled"),
            "[Org]\nThank you! Your appointment has been marked canceled."
        );
        assert_eq!(
            render_en("unparsable"),
            "[Org]\nSorry, we did not understand your response. Please reply 'Yes' to confirm, or 'No' to cancel."
        );
    }

    #[test]
    fn the_reply_words_each_text_names_are_words_the_parser_accepts() {
        let words = [
            (Language::En, "Yes", "No", "HELP"),
            (Language::Fr, "OUI", "NON", "AIDE"),
            (Language::De, "JA", "NEIN", "HILFE"),
            (Language::Es, "SI", "NO", "AYUDA"),
            (Language::Pt, "SIM", "NAO", "AJUDA"),
            (Language::It, "SI", "NO", "AIUTO"),
            (Language::Nl, "JA", "NEE", "HULP"),
        ];
        for (language, yes, no, help) in words {
            for name in ["reminder", "unparsable"] {
                let text = default_text(name, language.code()).unwrap();
                assert!(text.contains(yes) && text.contains(no), "{name} {language}");
            }
            assert_eq!(parse(yes), Reply::Confirm, "{language}");
            assert_eq!(parse(no), Reply::Cancel, "{language}");
            assert_eq!(parse(help), Reply::Help, "{language}");
            let opted_in = default_text("opted_in", language.code()).unwrap();
            assert!(
                opted_in.contains(help) && opted_in.contains("STOP"),
                "{language}"
            );
            let opted_out = default_text("opted_out", language.code()).unwrap();
            assert!(opted_out.contains("START"), "{language}");
            let help_text = default_text("help", language.code()).unwrap();
            assert!(
                help_text.contains("STOP") && help_text.contains("{contact}"),
                "{language}"
            );
        }
        assert_eq!(parse("START"), Reply::OptIn);
        assert_eq!(parse("STOP"), Reply::OptOut);
    }

    #[test]
    fn every_default_passes_the_lint_at_the_default_limit_and_reminders_are_gsm7() {
        for language in Language::ALL {
            for name in TEMPLATE_NAMES {
                let text = default_text(name, language.code()).unwrap();
                let report = check(name, text, 3, language.code())
                    .unwrap_or_else(|error| panic!("{name} {language}: {error}"));
                if name == "reminder" || name == "unparsable" {
                    assert_eq!(report.count.encoding, Encoding::Gsm7, "{name} {language}");
                }
            }
        }
    }

    #[test]
    fn the_reminder_counts_the_longest_values() {
        // 265 characters: 1 + 40 + 2 + 27 + "Thu Jan 28, 11:59 PM GMT+13:45" (30) + 4 + 64 + 6
        // + 40 + 51; the brackets around the business are GSM-7 extension characters, 2 each.
        let text = default_text("reminder", "en").unwrap();
        let counted = lint("reminder", text, 3, "en").unwrap();
        assert_eq!(counted.encoding, Encoding::Gsm7);
        assert_eq!(counted.units, 267);
        assert_eq!(counted.segments, 2);
        assert!(
            check("reminder", text, 3, "en")
                .unwrap()
                .warnings
                .is_empty()
        );
    }

    #[test]
    fn too_long_names_the_encoding_count_and_limit() {
        let text = format!("{{business}} {}", "a".repeat(560));
        let error = lint("reminder", &text, 3, "en").unwrap_err();
        assert_eq!(
            error.to_string(),
            "renders to 4 GSM-7 segments (601 characters) with the longest values; the limit is 3"
        );
        let text = format!("Olá {{business}} {}", "a".repeat(160));
        let error = lint("help", &text, 3, "pt").unwrap_err();
        assert_eq!(
            error.to_string(),
            "renders to 4 UCS-2 segments (205 characters) with the longest values; the limit is 3; 'á' at character 3 is outside GSM-7, so the message is sent as UCS-2"
        );
        assert!(lint("help", &text, 4, "pt").is_ok());
        let report = check("help", &text, 4, "pt").unwrap();
        assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
        assert!(report.warnings[0].starts_with("'á' at character 3 is outside GSM-7"));
    }

    #[test]
    fn dates_that_leave_gsm7_are_a_warning() {
        let text = default_text("reminder", "es").unwrap();
        let report = check("reminder", text, 3, "es").unwrap();
        assert_eq!(report.count.encoding, Encoding::Gsm7);
        assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
        assert!(
            report.warnings[0].starts_with("some dates in es contain 'á' (sáb), outside GSM-7"),
            "{}",
            report.warnings[0]
        );
        let report = check("reminder", default_text("reminder", "fr").unwrap(), 3, "fr").unwrap();
        assert!(
            report.warnings[0].contains("(août)"),
            "{:?}",
            report.warnings
        );
        for language in ["en", "de", "it", "nl"] {
            let report = check(
                "reminder",
                default_text("reminder", language).unwrap(),
                3,
                language,
            )
            .unwrap();
            assert!(
                report.warnings.is_empty(),
                "{language}: {:?}",
                report.warnings
            );
        }
        // A template without a date has nothing to warn about.
        assert!(
            check("confirmed", "[{business}] Merci", 1, "fr")
                .unwrap()
                .warnings
                .is_empty()
        );
    }

    #[test]
    fn lint_refuses_unknown_names_languages_placeholders_and_braces() {
        assert_eq!(
            lint("farewell", "Bye", 3, "en"),
            Err(LintError::UnknownTemplate("farewell".to_owned()))
        );
        assert_eq!(
            lint("help", "Help", 3, "ko"),
            Err(LintError::UnsupportedLanguage("ko".to_owned()))
        );
        assert_eq!(lint("help", "  \n", 3, "en"), Err(LintError::Empty));
        let error = lint("help", "Call {contact} about {datetime}", 3, "en").unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown placeholder {datetime} at character 22; the placeholders are {business}, {contact}, {stop_keyword}"
        );
        let error = lint("reminder", "On {datetime", 3, "en").unwrap_err();
        assert_eq!(
            error.to_string(),
            "unclosed `{` at character 4 (write `{{` for a literal brace)"
        );
        assert!(lint("reminder", "{{literal}} {datetime}", 1, "fr-CA").is_ok());
    }

    #[test]
    fn localized_prepositions_and_values() {
        assert_eq!(at_location("fr", Some("Clinique")), " à Clinique");
        assert_eq!(at_location("de", Some(" Praxis ")), " in Praxis");
        assert_eq!(at_location("it", Some("Studio")), " presso Studio");
        assert_eq!(at_location("nl", None), "");
        assert_eq!(at_location("en", Some("  ")), "");
        assert_eq!(with_participant("es", Some("Ana")), " con Ana");
        assert_eq!(with_participant("pt", Some("Ana")), " com Ana");
        assert_eq!(with_participant("xx", Some("Ana")), " with Ana");

        let values = variables(
            "fr",
            "Clinique",
            "+33100000000",
            Some(&Appointment {
                start: "2026-11-21T13:00:00Z".parse().unwrap(),
                recipient_zone: Paris,
                business_zone: Some(New_York),
                name: Some("Zoë"),
                location: None,
                participant: Some("Dr Martin"),
                first_name: None,
                last_name: None,
                metadata: None,
            }),
        );
        assert_eq!(
            render("reminder", "fr", None, &values).unwrap(),
            "[Clinique]\nVous avez un rendez-vous le sam. 21 nov. à 14:00 CET avec Dr Martin. Répondez OUI pour confirmer ou NON pour annuler."
        );
        assert_eq!(values.get("date"), Some("sam. 21 nov."));
        assert_eq!(values.get("time"), Some("14:00 CET"));
        assert_eq!(values.get("name"), Some("Zoë"));
        assert_eq!(values.get("location"), Some(""));
        assert_eq!(
            render("help", "fr", Some("{business}: {contact}"), &values).unwrap(),
            "Clinique: +33100000000"
        );
        // Without an appointment, the appointment placeholders have no value.
        let general = variables("en", "Org", "", None);
        assert!(render("reminder", "en", None, &general).is_err());
        assert_eq!(
            render("no_pending", "en", None, &general).unwrap(),
            "[Org]\nWe found no appointment waiting for your answer."
        );
        assert_eq!(
            render("farewell", "en", None, &general),
            Err(LintError::UnknownTemplate("farewell".to_owned()))
        );
    }

    fn metadata_appointment_values(metadata: &BTreeMap<String, String>) -> Variables {
        variables(
            "en",
            "Org",
            "",
            Some(&Appointment {
                start: "2027-01-06T21:50:00Z".parse().unwrap(),
                recipient_zone: New_York,
                business_zone: Some(New_York),
                name: Some("Ana de la Cruz"),
                location: None,
                participant: None,
                first_name: None,
                last_name: None,
                metadata: Some(metadata),
            }),
        )
    }

    #[test]
    fn metadata_and_name_parts_render_and_a_missing_key_reads_as_nothing() {
        let metadata = BTreeMap::from([("eventLocation".to_owned(), "New York".to_owned())]);
        let values = metadata_appointment_values(&metadata);
        let text =
            "Hi {first_name} {last_name}: {date} in {metadata.eventLocation}{metadata.room}.";
        assert_eq!(
            render("reminder", "en", Some(text), &values).unwrap(),
            "Hi Ana de la Cruz: Wed Jan 6 in New York."
        );
    }

    #[test]
    fn given_names_sent_apart_win_over_splitting_the_full_name() {
        let values = variables(
            "en",
            "Org",
            "",
            Some(&Appointment {
                start: "2027-01-06T21:50:00Z".parse().unwrap(),
                recipient_zone: New_York,
                business_zone: None,
                name: Some("Mary Ann Smith"),
                location: None,
                participant: None,
                first_name: Some("Mary Ann"),
                last_name: None,
                metadata: None,
            }),
        );
        assert_eq!(values.get("first_name"), Some("Mary Ann"));
        assert_eq!(values.get("last_name"), Some(""));
    }

    #[test]
    fn metadata_placeholders_are_allowed_only_in_appointment_templates_and_counted_long() {
        assert!(lint("follow_up", "See you at {metadata.eventLocation}", 1, "en").is_ok());
        assert!(matches!(
            lint("help", "Help at {metadata.eventLocation}", 1, "en"),
            Err(LintError::Template { .. })
        ));
        let bad_key = lint("reminder", "At {metadata.event-location}", 1, "en").unwrap_err();
        assert!(bad_key.to_string().contains("{metadata.key}"), "{bad_key}");
        // Four metadata values of the assumed 40 characters and 4 of text: 164 > 160.
        let four = "{metadata.a}{metadata.b}{metadata.c}{metadata.d}abcd";
        assert!(matches!(
            lint("no_show", four, 1, "en"),
            Err(LintError::TooLong { .. })
        ));
        assert!(lint("no_show", four, 2, "en").is_ok());
    }

    #[test]
    fn follow_up_and_no_show_defaults_fit_one_message_and_need_no_answer_words() {
        for language in Language::ALL {
            for name in ["follow_up", "no_show"] {
                let text = default_text(name, language.code()).unwrap();
                let report = check(name, text, 3, language.code()).unwrap();
                assert!(report.count.segments <= 2, "{name} {language}: {report:?}");
            }
        }
    }
}
