//! The text-to-speech voice of a robo-call: the integrator's `tts_voice_accent` and
//! `tts_voice_gender` mapped to what the carrier's `<Speak>` takes (`voice`, `language`), one
//! table per carrier (docs/robocall-batches.md "Voices").

/// The accent used when a request names none.
pub const DEFAULT_ACCENT: &str = "american";
/// The gender used when a request names none (the seed's default).
pub const DEFAULT_GENDER: &str = "female";
/// The genders a request may ask for.
pub const GENDERS: [&str; 2] = ["female", "male"];

/// What one `<Speak>` is spoken with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeakVoice {
    /// The `voice` attribute (Vobiz: `WOMAN` or `MAN`).
    pub voice: String,
    /// The `language` attribute (BCP 47, e.g. `en-GB`).
    pub language: String,
}

/// Vobiz (Plivo-compatible) `<Speak>`: `voice` is `WOMAN` or `MAN`, `language` one of the
/// carrier's TTS languages. Vobiz has no Nigerian English voice, so the Nigerian accents are
/// spoken with the British English voice, the closest it offers (carriers.md lists no
/// `en-NG`); a carrier with Nigerian voices gets its own table.
const VOBIZ_ACCENTS: [(&str, &str); 8] = [
    ("american", "en-US"),
    ("british", "en-GB"),
    ("australian", "en-AU"),
    ("indian", "en-IN"),
    ("nigerian", "en-GB"),
    ("igbo", "en-GB"),
    ("yoruba", "en-GB"),
    ("hausa", "en-GB"),
];

/// Returns the accents a request may ask for, in the documented order.
pub fn accents() -> Vec<&'static str> {
    VOBIZ_ACCENTS.iter().map(|(accent, _)| *accent).collect()
}

/// Returns the Vobiz voice for `accent` and `gender` (both lower case, already defaulted), or
/// `None` when the carrier has no such voice.
pub fn vobiz(accent: &str, gender: &str) -> Option<SpeakVoice> {
    let language = VOBIZ_ACCENTS
        .iter()
        .find(|(known, _)| *known == accent)
        .map(|(_, language)| *language)?;
    let voice = match gender {
        "female" => "WOMAN",
        "male" => "MAN",
        _ => return None,
    };
    Some(SpeakVoice {
        voice: voice.to_owned(),
        language: language.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_accent_maps_for_both_genders_and_others_are_refused() {
        for accent in accents() {
            for gender in GENDERS {
                assert!(vobiz(accent, gender).is_some(), "{accent} {gender}");
            }
        }
        assert_eq!(
            vobiz("igbo", "male"),
            Some(SpeakVoice {
                voice: "MAN".to_owned(),
                language: "en-GB".to_owned()
            })
        );
        assert_eq!(
            vobiz(DEFAULT_ACCENT, DEFAULT_GENDER).unwrap().language,
            "en-US"
        );
        assert_eq!(vobiz("klingon", "female"), None);
        assert_eq!(vobiz("american", "robot"), None);
    }
}
