//! Turns a workflow turn into the carrier's XML for one call, in the recipient's language,
//! with the tenant's wording; and the few fixed answers outside any workflow.

use std::collections::HashMap;

use crate::attempts::CallAttempt;
use crate::batches::BatchCall;
use crate::reminders::ReminderTexts;
use crate::settings::VoiceSettings;
use crate::templates::{self, Values, Wording};
use crate::workflow::{TemplateRef, Turn, TurnEnd};
use crate::xml::{self, Element, Gather, Speak};

/// The language prompts are spoken in when the recipient has none.
pub const DEFAULT_LANGUAGE: &str = "en-US";

/// What the prompts of one call say, with which voice, and where its keys go.
#[derive(Debug, Clone)]
pub struct Script {
    texts: Texts,
    voice: String,
    speech_language: String,
    input_url: String,
}

/// Where a call's words come from.
#[derive(Debug, Clone)]
enum Texts {
    /// A reminder: template names and inline texts in the recipient's language, filled from
    /// the reminder.
    Reminder(Box<Wording>),
    /// A batch call: inline texts filled with the call's variables.
    Batch(HashMap<String, String>),
}

impl Script {
    /// Returns the script of `attempt`: `public_url` is the gateway's base URL, `settings` the
    /// tenant's, `default_callback` the gateway's `CALLBACK_NUMBER`.
    pub fn new(
        attempt: &CallAttempt,
        settings: &VoiceSettings,
        public_url: &str,
        default_callback: &str,
    ) -> Self {
        let primary = templates::primary_language(&attempt.locale);
        let language = templates::wording_language(&primary, &settings.templates);
        let (date, time) = if !attempt.spoken_when.is_empty() {
            (attempt.spoken_when.clone(), String::new())
        } else if let Some(start) = attempt.appointment_start {
            templates::spoken_date_and_time(start, &attempt.time_zone, &language)
        } else {
            (String::new(), String::new())
        };
        let callback_number = match settings.callback_number.trim() {
            "" => default_callback.to_owned(),
            number => number.to_owned(),
        };
        let values = Values {
            name: attempt.recipient_name.clone(),
            business: attempt.business_name.clone(),
            date,
            time,
            location: attempt.location.clone(),
            callback_number,
            ..Values::default()
        };
        Self {
            speech_language: templates::speech_language(&attempt.locale, &language),
            voice: xml::VOICE.to_owned(),
            texts: Texts::Reminder(Box::new(Wording::new(
                &language,
                &settings.templates,
                values,
            ))),
            input_url: format!("{public_url}/voice/input?attempt={}", attempt.id),
        }
    }

    /// Returns this script with the reminder's own `appointment` text and the values of
    /// `{first_name}`, `{last_name}` and `{metadata.key}` (a batch call's script is unchanged).
    #[must_use]
    pub fn with_reminder_texts(mut self, texts: ReminderTexts) -> Self {
        if let Texts::Reminder(wording) = self.texts {
            self.texts = Texts::Reminder(Box::new(
                wording
                    .with_appointment_text(Some(&texts.template))
                    .with_recipient_details(&texts.first_name, &texts.last_name, texts.metadata),
            ));
        }
        self
    }

    /// Returns the script of batch call `call`: its variables, spoken with the batch's voice.
    pub fn for_batch(call: &BatchCall, public_url: &str) -> Self {
        Self {
            texts: Texts::Batch(call.variables.clone()),
            voice: call.speak_voice.clone(),
            speech_language: call.speak_language.clone(),
            input_url: format!("{public_url}/voice/input?attempt={}", call.id),
        }
    }

    /// Returns the text of a template reference.
    pub fn text(&self, template: &TemplateRef) -> String {
        match (&self.texts, template) {
            (Texts::Reminder(wording), TemplateRef::Name(name)) => wording.text(name),
            (Texts::Reminder(wording), TemplateRef::Inline { text }) => wording.fill(text),
            (Texts::Batch(values), TemplateRef::Inline { text }) => {
                templates::fill_variables(text, values)
            }
            // Validation keeps template names out of robocall workflows.
            (Texts::Batch(_), TemplateRef::Name(_)) => String::new(),
        }
    }

    fn speak(&self, template: &TemplateRef) -> Speak {
        Speak {
            text: self.text(template),
            voice: self.voice.clone(),
            language: self.speech_language.clone(),
        }
    }

    /// Returns what to answer a webhook after the call's workflow (or outcome) is over.
    pub fn closing(&self) -> Vec<Element> {
        vec![
            Element::Speak(Speak {
                text: "Thank you. Goodbye.".to_owned(),
                voice: self.voice.clone(),
                language: self.speech_language.clone(),
            }),
            Element::Hangup,
        ]
    }

    /// Returns the XML elements of `turn`, issued at flow step `step`: the speech, then either
    /// a Gather whose keys go to `/voice/input?…&node=…&step=…` followed by a Redirect there
    /// (reached only when nothing was pressed and the carrier falls through, so both no-input
    /// styles end at the same handler), or a Hangup.
    pub fn render(&self, turn: &Turn, step: i32) -> Vec<Element> {
        let mut elements: Vec<Element> = turn
            .speech
            .iter()
            .map(|template| Element::Speak(self.speak(template)))
            .collect();
        match &turn.end {
            TurnEnd::Gather {
                node,
                prompts,
                timeout_seconds,
                ..
            } => {
                let action = format!("{}&node={node}&step={step}", self.input_url);
                elements.push(Element::Gather(Gather {
                    action: action.clone(),
                    num_digits: 1,
                    execution_timeout: *timeout_seconds,
                    finish_on_key: String::new(),
                    prompts: prompts.iter().map(|prompt| self.speak(prompt)).collect(),
                }));
                elements.push(Element::Redirect(format!("{action}&no_input=1")));
            }
            TurnEnd::Hangup { .. } => elements.push(Element::Hangup),
        }
        elements
    }

    /// Returns the voicemail left on an answering machine, then Hangup.
    pub fn voicemail(&self) -> Vec<Element> {
        vec![
            Element::Speak(self.speak(&TemplateRef::Name("voicemail".to_owned()))),
            Element::Hangup,
        ]
    }

    /// Returns the TTS language of this call.
    pub fn language(&self) -> &str {
        &self.speech_language
    }
}

/// Returns what to answer a webhook of a call this gateway does not know: never dead air.
pub fn apology() -> Vec<Element> {
    vec![
        Element::Speak(Speak {
            text: "Sorry, we cannot find this call. Goodbye.".to_owned(),
            voice: xml::VOICE.to_owned(),
            language: DEFAULT_LANGUAGE.to_owned(),
        }),
        Element::Hangup,
    ]
}
