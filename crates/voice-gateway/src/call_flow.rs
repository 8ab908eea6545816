//! The appointment reminder call flow, without IO: what a key press at a step leads to (the
//! next prompt, and the outcome it settles), and the words and XML of each prompt.
//!
//! Menu: 1 confirms, 2 asks to reschedule, 3 asks to confirm a cancellation (1 cancels, 2
//! returns to the menu), 9 repeats. No input ends the call without an outcome; the hangup
//! callback then reports `no_answer`. Every loop is bounded by [`MAX_REPEATS`].

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::attempts::Outcome;
use crate::xml::{Element, Gather, Speak};

/// Replays of the menu (9, or 2 at the cancel question), and invalid keys, allowed per call.
pub const MAX_REPEATS: i32 = 3;
/// Seconds the carrier waits for a key once a prompt ends.
pub const GATHER_TIMEOUT_SECONDS: u32 = 8;
/// The language prompts are spoken in when the recipient has none.
pub const DEFAULT_LANGUAGE: &str = "en-US";

/// Where in the flow a key was pressed (`step` in the input URL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The main menu.
    Menu,
    /// "Press 1 to cancel your appointment, or 2 to keep it."
    CancelConfirm,
}

impl Step {
    /// Returns the step's name in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Menu => "menu",
            Self::CancelConfirm => "cancel_confirm",
        }
    }

    /// Parses a step name from a URL.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "menu" => Some(Self::Menu),
            "cancel_confirm" => Some(Self::CancelConfirm),
            _ => None,
        }
    }
}

/// How often the bounded loops of one call have run so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Loops {
    /// Times the menu was played again (9 at the menu, 2 at the cancel question).
    pub menu_replays: i32,
    /// Invalid keys pressed.
    pub invalid_inputs: i32,
}

/// Said before a prompt that is played again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// "Sorry, that is not a valid choice."
    InvalidChoice,
}

/// The last words of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Farewell {
    /// The appointment is confirmed.
    Confirmed,
    /// The recipient is asked to call back to pick a new time.
    RescheduleRequested,
    /// The appointment is cancelled.
    Cancelled,
    /// Nothing was pressed.
    NoInput,
    /// Too many replays or invalid keys.
    TooManyTries,
}

/// What the carrier is told to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// Play the menu and gather a key.
    Menu(Option<Notice>),
    /// Ask to confirm the cancellation and gather a key.
    CancelConfirm(Option<Notice>),
    /// Say goodbye and hang up.
    Goodbye(Farewell),
}

/// The result of one key press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// What to say next.
    pub prompt: Prompt,
    /// The outcome the key press settles, if any.
    pub outcome: Option<Outcome>,
    /// The loop counters after this key press.
    pub loops: Loops,
}

/// Returns what `digits` pressed at `step` leads to. Empty or missing digits are no input.
pub fn decide(step: Step, digits: Option<&str>, loops: Loops) -> Decision {
    let digits = digits.map(str::trim).unwrap_or_default();
    let goodbye = |farewell, outcome| Decision {
        prompt: Prompt::Goodbye(farewell),
        outcome,
        loops,
    };
    if digits.is_empty() {
        return goodbye(Farewell::NoInput, None);
    }
    match (step, digits) {
        (Step::Menu, "1") => goodbye(Farewell::Confirmed, Some(Outcome::Confirmed)),
        (Step::Menu, "2") => goodbye(
            Farewell::RescheduleRequested,
            Some(Outcome::RescheduleRequested),
        ),
        (Step::Menu, "3") => Decision {
            prompt: Prompt::CancelConfirm(None),
            outcome: None,
            loops,
        },
        (Step::Menu, "9") | (Step::CancelConfirm, "2") => replay_menu(loops),
        (Step::CancelConfirm, "1") => goodbye(Farewell::Cancelled, Some(Outcome::Cancelled)),
        (Step::Menu, _) => invalid(loops, Prompt::Menu(Some(Notice::InvalidChoice))),
        (Step::CancelConfirm, _) => {
            invalid(loops, Prompt::CancelConfirm(Some(Notice::InvalidChoice)))
        }
    }
}

fn replay_menu(loops: Loops) -> Decision {
    if loops.menu_replays >= MAX_REPEATS {
        return Decision {
            prompt: Prompt::Goodbye(Farewell::TooManyTries),
            outcome: None,
            loops,
        };
    }
    let loops = Loops {
        menu_replays: loops.menu_replays + 1,
        ..loops
    };
    Decision {
        prompt: Prompt::Menu(None),
        outcome: None,
        loops,
    }
}

fn invalid(loops: Loops, again: Prompt) -> Decision {
    if loops.invalid_inputs >= MAX_REPEATS {
        return Decision {
            prompt: Prompt::Goodbye(Farewell::TooManyTries),
            outcome: None,
            loops,
        };
    }
    let loops = Loops {
        invalid_inputs: loops.invalid_inputs + 1,
        ..loops
    };
    Decision {
        prompt: again,
        outcome: None,
        loops,
    }
}

/// What the prompts of one call say, and where its keys go.
#[derive(Debug, Clone)]
pub struct Script {
    /// The recipient's name; may be empty.
    pub recipient_name: String,
    /// Who is calling; may be empty.
    pub business_name: String,
    /// The appointment's start.
    pub appointment_start: DateTime<Utc>,
    /// The recipient's IANA time zone; an unknown one falls back to UTC.
    pub time_zone: String,
    /// The text-to-speech language.
    pub language: String,
    /// The number to call back.
    pub callback_number: String,
    /// Absolute URL keys at the menu go to.
    pub menu_action: String,
    /// Absolute URL keys at the cancel question go to.
    pub cancel_confirm_action: String,
}

impl Script {
    /// Returns the elements of `prompt`.
    pub fn render(&self, prompt: Prompt) -> Vec<Element> {
        match prompt {
            Prompt::Menu(notice) => self.gather(&self.menu_action, notice, self.menu_text()),
            Prompt::CancelConfirm(notice) => self.gather(
                &self.cancel_confirm_action,
                notice,
                "Press 1 to cancel your appointment, or 2 to keep it.".to_owned(),
            ),
            Prompt::Goodbye(farewell) => {
                vec![
                    Element::Speak(self.speak(self.farewell_text(farewell))),
                    Element::Hangup,
                ]
            }
        }
    }

    /// Returns the menu's words.
    pub fn menu_text(&self) -> String {
        let (date, time) = local_date_and_time(self.appointment_start, &self.time_zone);
        let greeting = match self.recipient_name.trim() {
            "" => "Hello.".to_owned(),
            name => format!("Hello {name}."),
        };
        let caller = match self.business_name.trim() {
            "" => "This is a reminder call".to_owned(),
            business => format!("This is {business} calling"),
        };
        format!(
            "{greeting} {caller} about your appointment on {date} at {time}. \
             Press 1 to confirm, 2 to reschedule, 3 to cancel, or 9 to hear this again."
        )
    }

    fn farewell_text(&self, farewell: Farewell) -> String {
        let callback = &self.callback_number;
        match farewell {
            Farewell::Confirmed => "Thank you, your appointment is confirmed. Goodbye.".to_owned(),
            Farewell::RescheduleRequested => format!(
                "Thank you. Please call us at {callback} to choose a new time for your \
                 appointment. Goodbye."
            ),
            Farewell::Cancelled => "Your appointment has been cancelled. Goodbye.".to_owned(),
            Farewell::NoInput => no_answer_text(callback),
            Farewell::TooManyTries => {
                format!("We could not get a valid answer. Please call us at {callback}. Goodbye.")
            }
        }
    }

    fn gather(&self, action: &str, notice: Option<Notice>, question: String) -> Vec<Element> {
        let mut prompts = Vec::with_capacity(2);
        if let Some(Notice::InvalidChoice) = notice {
            prompts.push(self.speak("Sorry, that is not a valid choice.".to_owned()));
        }
        prompts.push(self.speak(question));
        vec![
            Element::Gather(Gather {
                action: action.to_owned(),
                num_digits: 1,
                execution_timeout: GATHER_TIMEOUT_SECONDS,
                finish_on_key: String::new(),
                prompts,
            }),
            // Reached only when nothing was pressed: the carrier falls through the Gather.
            Element::Speak(self.speak(no_answer_text(&self.callback_number))),
            Element::Hangup,
        ]
    }

    fn speak(&self, text: String) -> Speak {
        Speak {
            text,
            language: self.language.clone(),
        }
    }
}

fn no_answer_text(callback_number: &str) -> String {
    format!("We did not receive your answer. Please call us at {callback_number}. Goodbye.")
}

/// Returns what to answer a webhook of a call this gateway does not know: never dead air.
pub fn apology() -> Vec<Element> {
    vec![
        Element::Speak(Speak {
            text: "Sorry, we cannot find this call. Goodbye.".to_owned(),
            language: DEFAULT_LANGUAGE.to_owned(),
        }),
        Element::Hangup,
    ]
}

/// Returns what to answer a key press after the call's outcome is already settled.
pub fn closing(language: &str) -> Vec<Element> {
    vec![
        Element::Speak(Speak {
            text: "Thank you. Goodbye.".to_owned(),
            language: language.to_owned(),
        }),
        Element::Hangup,
    ]
}

/// Returns the text-to-speech language for a recipient locale.
pub fn language_for(locale: &str) -> String {
    match locale.trim() {
        "" => DEFAULT_LANGUAGE.to_owned(),
        locale => locale.to_owned(),
    }
}

/// Returns `start` as spoken in `time_zone`: ("Monday, March 9", "9:30 AM").
pub fn local_date_and_time(start: DateTime<Utc>, time_zone: &str) -> (String, String) {
    let zone: Tz = time_zone.trim().parse().unwrap_or_else(|_| {
        tracing::warn!(time_zone, "unknown time zone, speaking the time in utc");
        Tz::UTC
    });
    let local = start.with_timezone(&zone);
    (
        local.format("%A, %B %-d").to_string(),
        local.format("%-I:%M %p").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(step: Step, digits: &str) -> Decision {
        decide(step, Some(digits), Loops::default())
    }

    fn script() -> Script {
        Script {
            recipient_name: "Ada".to_owned(),
            business_name: "Acme Clinic".to_owned(),
            appointment_start: "2026-03-09T13:30:00Z".parse().unwrap(),
            time_zone: "America/New_York".to_owned(),
            language: "en-US".to_owned(),
            callback_number: "+15550100000".to_owned(),
            menu_action: "http://gw/voice/input?attempt=a&step=menu".to_owned(),
            cancel_confirm_action: "http://gw/voice/input?attempt=a&step=cancel_confirm".to_owned(),
        }
    }

    #[test]
    fn the_menu_keys_settle_their_outcomes() {
        assert_eq!(at(Step::Menu, "1").outcome, Some(Outcome::Confirmed));
        assert_eq!(
            at(Step::Menu, "1").prompt,
            Prompt::Goodbye(Farewell::Confirmed)
        );
        assert_eq!(
            at(Step::Menu, "2").outcome,
            Some(Outcome::RescheduleRequested)
        );
        assert_eq!(at(Step::Menu, "3").outcome, None);
        assert_eq!(at(Step::Menu, "3").prompt, Prompt::CancelConfirm(None));
    }

    #[test]
    fn cancelling_needs_a_second_confirmation() {
        assert_eq!(
            at(Step::CancelConfirm, "1").outcome,
            Some(Outcome::Cancelled)
        );
        let keep = at(Step::CancelConfirm, "2");
        assert_eq!(keep.prompt, Prompt::Menu(None));
        assert_eq!(keep.outcome, None);
        let other = at(Step::CancelConfirm, "7");
        assert_eq!(
            other.prompt,
            Prompt::CancelConfirm(Some(Notice::InvalidChoice))
        );
        assert_eq!(other.loops.invalid_inputs, 1);
    }

    #[test]
    fn no_input_says_goodbye_without_an_outcome() {
        for step in [Step::Menu, Step::CancelConfirm] {
            for digits in [None, Some(""), Some("  ")] {
                let decision = decide(step, digits, Loops::default());
                assert_eq!(decision.prompt, Prompt::Goodbye(Farewell::NoInput));
                assert_eq!(decision.outcome, None);
            }
        }
    }

    #[test]
    fn nine_replays_the_menu_at_most_three_times() {
        let mut loops = Loops::default();
        for replay in 1..=MAX_REPEATS {
            let decision = decide(Step::Menu, Some("9"), loops);
            assert_eq!(decision.prompt, Prompt::Menu(None));
            assert_eq!(decision.loops.menu_replays, replay);
            loops = decision.loops;
        }
        let decision = decide(Step::Menu, Some("9"), loops);
        assert_eq!(decision.prompt, Prompt::Goodbye(Farewell::TooManyTries));
        assert_eq!(decision.outcome, None);
    }

    #[test]
    fn invalid_keys_are_bounded_too() {
        let mut loops = Loops::default();
        for _ in 0..MAX_REPEATS {
            let decision = decide(Step::Menu, Some("7"), loops);
            assert_eq!(decision.prompt, Prompt::Menu(Some(Notice::InvalidChoice)));
            loops = decision.loops;
        }
        assert_eq!(
            decide(Step::Menu, Some("#"), loops).prompt,
            Prompt::Goodbye(Farewell::TooManyTries)
        );
    }

    #[test]
    fn steps_round_trip_through_their_names() {
        for step in [Step::Menu, Step::CancelConfirm] {
            assert_eq!(Step::parse(step.as_str()), Some(step));
        }
        assert_eq!(Step::parse("other"), None);
    }

    #[test]
    fn the_menu_speaks_the_local_time_of_the_recipient() {
        assert_eq!(
            script().menu_text(),
            "Hello Ada. This is Acme Clinic calling about your appointment on Monday, March 9 \
             at 9:30 AM. Press 1 to confirm, 2 to reschedule, 3 to cancel, or 9 to hear this again."
        );
    }

    #[test]
    fn local_times_follow_daylight_saving_transitions() {
        // New York leaves EST (UTC-5) for EDT (UTC-4) on 2026-03-08.
        let before = "2026-03-06T14:30:00Z".parse().unwrap();
        let after = "2026-03-09T13:30:00Z".parse().unwrap();
        assert_eq!(local_date_and_time(before, "America/New_York").1, "9:30 AM");
        assert_eq!(local_date_and_time(after, "America/New_York").1, "9:30 AM");
        assert_eq!(
            local_date_and_time(after, "Europe/Berlin"),
            ("Monday, March 9".to_owned(), "2:30 PM".to_owned())
        );
        assert_eq!(local_date_and_time(after, "Not/AZone").1, "1:30 PM");
    }

    #[test]
    fn the_menu_falls_through_to_a_goodbye_with_the_callback_number() {
        let elements = script().render(Prompt::Menu(None));
        assert_eq!(elements.len(), 3);
        let Element::Gather(gather) = &elements[0] else {
            panic!("expected a gather: {elements:?}")
        };
        assert_eq!(gather.action, "http://gw/voice/input?attempt=a&step=menu");
        assert_eq!(gather.num_digits, 1);
        assert_eq!(gather.execution_timeout, 8);
        assert_eq!(gather.finish_on_key, "");
        let Element::Speak(fallback) = &elements[1] else {
            panic!("expected a speak")
        };
        assert_eq!(
            fallback.text,
            "We did not receive your answer. Please call us at +15550100000. Goodbye."
        );
        assert_eq!(elements[2], Element::Hangup);
    }

    #[test]
    fn an_invalid_key_is_announced_inside_the_gather() {
        let elements = script().render(Prompt::CancelConfirm(Some(Notice::InvalidChoice)));
        let Element::Gather(gather) = &elements[0] else {
            panic!("expected a gather")
        };
        assert_eq!(
            gather.action,
            "http://gw/voice/input?attempt=a&step=cancel_confirm"
        );
        let texts: Vec<&str> = gather
            .prompts
            .iter()
            .map(|speak| speak.text.as_str())
            .collect();
        assert_eq!(
            texts,
            [
                "Sorry, that is not a valid choice.",
                "Press 1 to cancel your appointment, or 2 to keep it."
            ]
        );
    }

    #[test]
    fn goodbyes_hang_up() {
        let elements = script().render(Prompt::Goodbye(Farewell::RescheduleRequested));
        let Element::Speak(speak) = &elements[0] else {
            panic!("expected a speak")
        };
        assert!(
            speak
                .text
                .contains("call us at +15550100000 to choose a new time"),
            "{}",
            speak.text
        );
        assert_eq!(elements[1], Element::Hangup);
    }

    #[test]
    fn an_empty_locale_speaks_us_english() {
        assert_eq!(language_for(""), "en-US");
        assert_eq!(language_for("de-DE"), "de-DE");
    }
}
