//! What a recipient's SMS reply to a reminder means.
//!
//! # Reading the text
//!
//! The reply is lower-cased (Unicode), decomposed (NFKD) and stripped of its accents and
//! other combining marks, so `OUI`, `Sí`, `NÃO`, `Nö` and `1️⃣` read as `oui`, `si`, `nao`,
//! `no` and `1`. It is then split into words at every character that is not a letter or a
//! digit: punctuation, spaces, apostrophes and emoji only separate words (`"Yes!!! 👍"` is
//! the one word `yes`; `don't` is `don` `t`; `opt-out` is `opt` `out`). Matching is by
//! whole words, never by substrings (`yesterday` is not `yes`, `note` is not `no`).
//!
//! # The words (in any supported language; the reply's language is not needed)
//!
//! | answer | words |
//! |---|---|
//! | confirm | yes, yeah, yea, yep, yup, ok, okay, sure, confirm(ed), oui, ouais, confirme(r), ja, jawohl, einverstanden, bestätige(n), bestätigt, si/sí/sì, claro, vale, confirmo/confirmar/confirmado, sim, certo, confermo/confermare/confermato, jazeker, akkoord, bevestig(en), bevestigd; alone only: y, 1 |
//! | cancel the appointment | no, nope, nah, non, nein, nee, neen, não, cancel, annuler, annule(z), absagen, absage, stornieren, storniere, cancelar, cancela, cancelo, anular, anulo, annulla, annullare, annullo, disdico, disdire, annuleer, annuleren, afzeggen; alone only: n, 2 |
//! | opt out | anywhere: stop, stopall, unsubscribe, unsub, revoke, optout, stopp, stoppen, arrêtez, arrêter, désabonner, désinscrire, abmelden, abbestellen, afmelden, uitschrijven, disiscrivi(mi), desuscribir(me); phrases: opt out, opt me out, remove me, take me off, leave me alone, do not / don't text, message or contact, no more texts / messages / reminders / sms, de baja, quit texting / messaging / sending, cancel … subscription / texts / messages / reminders / sms / notifications / alerts; alone only: cancel, end, quit, arrêt, fin, baja, parar, pare, basta |
//! | opt back in | start, unstop, subscribe, resubscribe, opt in (alone or as the first words); unstop anywhere |
//! | help | help, info, aide, hilfe, ayuda, ajuda, aiuto, hulp, information, informacion, informação, informatie |
//!
//! # Resolving words that could mean two things
//!
//! 1. **Opt-out wins over everything.** A revocation may come "by any reasonable method"
//!    (FCC 24-18) and CTIA asks that natural-language opt-outs ("please opt me out", "stop
//!    texting me") be acted on. Ignoring one is a violation; a wrong opt-out costs one
//!    confirmation that tells the person how to come back (START). So `yes but stop texting
//!    me` opts out.
//! 2. **A lone `CANCEL`, `END` or `QUIT` is the carrier keyword and opts out.** Carriers and
//!    Twilio act on these single-word messages themselves and block further messages, so
//!    treating them as "cancel the appointment" would leave Attend believing it can still
//!    text the person. With other words they are ordinary words: `cancel it` and
//!    `please cancel my appointment` cancel the appointment, `the end` means nothing.
//!    `cancel` next to subscription, texts, messages, reminders, sms, notifications or alerts
//!    is about the messages, so it opts out. The same holds for the localized keywords that
//!    are also ordinary words (`arrêt`, `fin`, `baja`, `parar`, `pare`, `basta`): alone they
//!    opt out, inside a sentence only their phrases do (`de baja`).
//! 3. **`stop` opts out anywhere, except `stop by`, `stop in`, `stop over` and `stop off`**
//!    ("yes, I'll stop by" confirms).
//! 4. **Single letters and digits count only alone.** `Y`, `N`, `1`, `2` are answers when
//!    they are the whole reply; inside a sentence they are too often something else (Spanish
//!    `y` is "and", "see you at 2").
//! 5. **A sentence gives its answer only when its words agree.** `yes please`,
//!    `yes but I'll be late`, `no thanks`, `oui merci` have one answer; `no yes`,
//!    `yes, cancel it` and `si no puedo` have two and are unparsable (the unparsable answer
//!    then asks again). Repeating an answer (`yes yes`) is no conflict.
//! 6. **A negated answer is no answer.** A confirm or cancel word right after not, don't,
//!    can't (`t`), dont, never, pas, nicht or niet counts for nothing: `not sure`,
//!    `don't cancel`, `ne pas annuler`, `nicht absagen` are unparsable, never a cancel.
//!    `no problem` and `no worries` are not a "no" either.
//! 7. **Help counts only when nothing else does.** `help` or `info` with a confirm or cancel
//!    word gives that answer; alone or with neutral words (`info please`) it asks for help.
//! 8. **Opt-in needs `START`, `UNSTOP`, `SUBSCRIBE`, `RESUBSCRIBE` or `OPT IN` as the whole
//!    reply or its first words** (`start again`); `start` later in a sentence ("we start at
//!    9") is not an opt-in. `unstop` counts anywhere. `YES` is an opt-in word for Twilio, but
//!    here it confirms: the caller knows whether the sender is opted out and may treat a
//!    confirm from an opted-out number as an opt-in.
//! 9. **`si`/`sí`/`sì` confirm** in every language, although French and Spanish `si` can also
//!    mean "if"; **`no` cancels**, although Portuguese `no` also means "in the": "Sim, estarei
//!    no local" is therefore a conflict and unparsable. Both are accepted trade-offs of not
//!    needing the reply's language.
//! 10. Anything else, an empty reply, or only emoji or punctuation is unparsable.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// What a reply asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reply {
    /// Confirm the appointment.
    Confirm,
    /// Cancel the appointment.
    Cancel,
    /// Stop all messages to this number (opt out).
    OptOut,
    /// Resume messages to this number (opt back in).
    OptIn,
    /// Send the help text.
    Help,
    /// None of the above, or a conflict; send the unparsable answer.
    Unparsable,
}

/// A reply's meaning with the word or phrase that decided it, for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// What the reply asks for.
    pub reply: Reply,
    /// The normalized word or phrase that decided it (`stop`, `opt me out`, `oui`); `None`
    /// when unparsable.
    pub keyword: Option<String>,
}

const CONFIRM_WORDS: &[&str] = &[
    "yes",
    "yeah",
    "yea",
    "yep",
    "yup",
    "ok",
    "okay",
    "sure",
    "confirm",
    "confirmed",
    // fr
    "oui",
    "ouais",
    "confirme",
    "confirmer",
    // de
    "ja",
    "jawohl",
    "einverstanden",
    "bestatige",
    "bestatigen",
    "bestatigt",
    // es, it
    "si",
    "claro",
    "vale",
    "confirmo",
    "confirmar",
    "confirmado",
    // pt
    "sim",
    "certo",
    // it
    "confermo",
    "confermare",
    "confermato",
    // nl
    "jazeker",
    "akkoord",
    "bevestig",
    "bevestigen",
    "bevestigd",
];

const CANCEL_WORDS: &[&str] = &[
    "no",
    "nope",
    "nah",
    "cancel",
    // fr
    "non",
    "annuler",
    "annule",
    "annulez",
    // de
    "nein",
    "absagen",
    "absage",
    "stornieren",
    "storniere",
    // nl (and colloquial de)
    "nee",
    "neen",
    "annuleer",
    "annuleren",
    "afzeggen",
    // pt
    "nao",
    // es, pt
    "cancelar",
    "cancela",
    "cancelo",
    "anular",
    "anulo",
    // it
    "annulla",
    "annullare",
    "annullo",
    "disdico",
    "disdire",
];

/// Opt-out words that count anywhere in a reply.
const OPT_OUT_ANYWHERE: &[&str] = &[
    "stop",
    "stopall",
    "unsubscribe",
    "unsub",
    "revoke",
    "optout",
    "stopp",
    "stoppen",
    "arretez",
    "arreter",
    "desabonner",
    "desinscrire",
    "abmelden",
    "abbestellen",
    "afmelden",
    "uitschrijven",
    "disiscrivi",
    "disiscrivimi",
    "desuscribir",
    "desuscribirme",
];

/// Opt-out keywords that are also ordinary words: they count only as the whole reply.
const OPT_OUT_ALONE: &[&str] = &[
    "cancel", "end", "quit", "arret", "fin", "baja", "parar", "pare", "basta",
];

/// Natural-language opt-outs: consecutive words anywhere in a reply.
const OPT_OUT_PHRASES: &[&[&str]] = &[
    &["opt", "out"],
    &["opt", "me", "out"],
    &["remove", "me"],
    &["take", "me", "off"],
    &["leave", "me", "alone"],
    &["do", "not", "text"],
    &["do", "not", "message"],
    &["do", "not", "contact"],
    &["don", "t", "text"],
    &["don", "t", "message"],
    &["don", "t", "contact"],
    &["dont", "text"],
    &["dont", "message"],
    &["dont", "contact"],
    &["no", "more", "texts"],
    &["no", "more", "messages"],
    &["no", "more", "reminders"],
    &["no", "more", "sms"],
    &["no", "mas", "mensajes"],
    &["de", "baja"],
    &["quit", "texting"],
    &["quit", "messaging"],
    &["quit", "sending"],
];

/// With `cancel`, these make the reply about the messages, not the appointment.
const SUBSCRIPTION_NOUNS: &[&str] = &[
    "subscription",
    "texts",
    "messages",
    "reminders",
    "sms",
    "notifications",
    "alerts",
];

/// After `stop`, these make it a visit, not an opt-out ("I'll stop by").
const STOP_VISIT: &[&str] = &["by", "in", "over", "off"];

const OPT_IN_WORDS: &[&str] = &["start", "unstop", "subscribe", "resubscribe"];

const HELP_WORDS: &[&str] = &[
    "help",
    "info",
    "aide",
    "hilfe",
    "ayuda",
    "ajuda",
    "aiuto",
    "hulp",
    "information",
    "informacion",
    "informacao",
    "informatie",
];

/// Words that take the meaning out of the confirm or cancel word right after them.
const NEGATIONS: &[&str] = &["not", "t", "dont", "never", "pas", "nicht", "niet"];

/// `no` followed by these is not an answer ("no problem").
const NOT_A_NO: &[&str] = &["problem", "problemo", "worries"];

/// Returns what `text` asks for (see the module docs for the rules).
pub fn parse(text: &str) -> Reply {
    parse_with_keyword(text).reply
}

/// Returns what `text` asks for and the word or phrase that decided it.
pub fn parse_with_keyword(text: &str) -> Parsed {
    let words = words(text);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    decide(&words)
}

/// Returns the reply's words: lower-cased, without accents, split at every character that
/// is neither a letter nor a digit.
pub fn words(text: &str) -> Vec<String> {
    let folded: String = text
        .to_lowercase()
        .nfkd()
        .filter(|character| !is_combining_mark(*character))
        .collect();
    folded
        .split(|character: char| !character.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parsed(reply: Reply, keyword: &str) -> Parsed {
    Parsed {
        reply,
        keyword: Some(keyword.to_owned()),
    }
}

const UNPARSABLE: Parsed = Parsed {
    reply: Reply::Unparsable,
    keyword: None,
};

fn decide(words: &[&str]) -> Parsed {
    let [first, ..] = words else {
        return UNPARSABLE;
    };
    if let Some(keyword) = opt_out(words) {
        return parsed(Reply::OptOut, &keyword);
    }
    if words.len() == 1 {
        return alone(first);
    }
    if words.starts_with(&["opt", "in"]) {
        return parsed(Reply::OptIn, "opt in");
    }
    sentence(words)
}

/// Returns the opt-out word or phrase in `words`, if any.
fn opt_out(words: &[&str]) -> Option<String> {
    if let [only] = words
        && OPT_OUT_ALONE.contains(only)
    {
        return Some((*only).to_owned());
    }
    for (index, word) in words.iter().enumerate() {
        let visit = *word == "stop"
            && words
                .get(index + 1)
                .is_some_and(|next| STOP_VISIT.contains(next));
        if OPT_OUT_ANYWHERE.contains(word) && !visit {
            return Some((*word).to_owned());
        }
    }
    for phrase in OPT_OUT_PHRASES {
        if words.windows(phrase.len()).any(|window| window == *phrase) {
            return Some(phrase.join(" "));
        }
    }
    if words.contains(&"cancel")
        && let Some(noun) = words.iter().find(|word| SUBSCRIPTION_NOUNS.contains(word))
    {
        return Some(format!("cancel {noun}"));
    }
    None
}

/// Returns the meaning of a one-word reply (opt-outs already handled).
fn alone(word: &str) -> Parsed {
    if OPT_IN_WORDS.contains(&word) {
        parsed(Reply::OptIn, word)
    } else if HELP_WORDS.contains(&word) {
        parsed(Reply::Help, word)
    } else if CONFIRM_WORDS.contains(&word) || word == "y" || word == "1" {
        parsed(Reply::Confirm, word)
    } else if CANCEL_WORDS.contains(&word) || word == "n" || word == "2" {
        parsed(Reply::Cancel, word)
    } else {
        UNPARSABLE
    }
}

/// Returns the meaning of a reply of several words (opt-outs already handled).
fn sentence(words: &[&str]) -> Parsed {
    let mut answer: Option<(Reply, &str)> = None;
    let mut help: Option<&str> = None;
    for (index, word) in words.iter().copied().enumerate() {
        let negated = index > 0 && NEGATIONS.contains(&words[index - 1]);
        let candidate = if OPT_IN_WORDS.contains(&word) && (index == 0 || word == "unstop") {
            Some(Reply::OptIn)
        } else if CONFIRM_WORDS.contains(&word) && !negated {
            Some(Reply::Confirm)
        } else if CANCEL_WORDS.contains(&word) && !negated && !is_not_a_no(words, index) {
            Some(Reply::Cancel)
        } else {
            if HELP_WORDS.contains(&word) && help.is_none() {
                help = Some(word);
            }
            None
        };
        match (candidate, answer) {
            (Some(reply), None) => answer = Some((reply, word)),
            (Some(reply), Some((decided, _))) if reply != decided => return UNPARSABLE,
            _ => {}
        }
    }
    match (answer, help) {
        (Some((reply, word)), _) => parsed(reply, word),
        (None, Some(word)) => parsed(Reply::Help, word),
        (None, None) => UNPARSABLE,
    }
}

fn is_not_a_no(words: &[&str], index: usize) -> bool {
    words[index] == "no"
        && words
            .get(index + 1)
            .is_some_and(|next| NOT_A_NO.contains(next))
}

#[cfg(test)]
mod tests {
    use super::Reply::{Cancel, Confirm, Help, OptIn, OptOut, Unparsable};
    use super::*;

    /// (reply text, expected meaning). Every row is checked and every failure reported.
    const TABLE: &[(&str, Reply)] = &[
        // English: the seed's Yes/No, in every shape
        ("Yes", Confirm),
        ("yes", Confirm),
        ("YES", Confirm),
        ("  yes  ", Confirm),
        ("Yes.", Confirm),
        ("yes!!!", Confirm),
        ("Y", Confirm),
        ("y", Confirm),
        ("1", Confirm),
        ("1.", Confirm),
        ("1️⃣", Confirm),
        ("Yes 👍", Confirm),
        ("👍 yes", Confirm),
        ("yes please", Confirm),
        ("Yes, thank you!", Confirm),
        ("yes but I'll be 10 minutes late", Confirm),
        ("yes yes", Confirm),
        ("Yeah", Confirm),
        ("yep", Confirm),
        ("Yup!", Confirm),
        ("OK", Confirm),
        ("okay", Confirm),
        ("Sure", Confirm),
        ("confirm", Confirm),
        ("Confirmed, thanks", Confirm),
        ("I confirm", Confirm),
        ("Yes, I'll stop by", Confirm),
        ("No", Cancel),
        ("no", Cancel),
        ("NO!", Cancel),
        ("N", Cancel),
        ("n", Cancel),
        ("2", Cancel),
        ("Nope", Cancel),
        ("nah", Cancel),
        ("No thanks", Cancel),
        ("no, sorry", Cancel),
        ("cancel it", Cancel),
        ("Cancel appointment", Cancel),
        ("Please cancel my appointment", Cancel),
        ("I need to cancel", Cancel),
        // English: conflicts, negations, nothing decisive
        ("no yes", Unparsable),
        ("yes no", Unparsable),
        ("Yes, cancel it", Unparsable),
        ("not sure", Unparsable),
        ("I'm not sure yet", Unparsable),
        ("don't cancel", Unparsable),
        ("do not cancel", Unparsable),
        ("can't confirm yet", Unparsable),
        ("no problem", Unparsable),
        ("maybe", Unparsable),
        ("yesterday", Unparsable),
        ("note", Unparsable),
        ("who is this?", Unparsable),
        ("See you at 2", Unparsable),
        ("y n", Unparsable),
        ("12", Unparsable),
        ("3", Unparsable),
        ("", Unparsable),
        ("   ", Unparsable),
        ("?!", Unparsable),
        ("👍", Unparsable),
        ("the end", Unparsable),
        // English: carrier keywords and natural-language opt-outs
        ("STOP", OptOut),
        ("stop", OptOut),
        ("Stop.", OptOut),
        ("STOPALL", OptOut),
        ("UNSUBSCRIBE", OptOut),
        ("CANCEL", OptOut),
        ("cancel", OptOut),
        ("Cancel!", OptOut),
        ("END", OptOut),
        ("QUIT", OptOut),
        ("REVOKE", OptOut),
        ("OPT OUT", OptOut),
        ("opt-out", OptOut),
        ("optout", OptOut),
        ("please opt me out", OptOut),
        ("stop texting me", OptOut),
        ("Please stop", OptOut),
        ("yes but stop texting me", OptOut),
        ("remove me from this list", OptOut),
        ("Don't text me anymore", OptOut),
        ("do not contact me", OptOut),
        ("no more texts please", OptOut),
        ("cancel my subscription", OptOut),
        ("cancel these reminders", OptOut),
        ("quit texting me", OptOut),
        ("take me off your list", OptOut),
        ("unsub", OptOut),
        // English: opt-in and help
        ("START", OptIn),
        ("start", OptIn),
        ("UNSTOP", OptIn),
        ("Start again", OptIn),
        ("subscribe", OptIn),
        ("opt in", OptIn),
        ("We start at 9, yes", Confirm),
        ("HELP", Help),
        ("help", Help),
        ("INFO", Help),
        ("info please", Help),
        ("Help?", Help),
        ("help yes", Confirm),
        // French
        ("Oui", Confirm),
        ("OUI!", Confirm),
        ("oui merci", Confirm),
        ("Ouais", Confirm),
        ("je confirme", Confirm),
        ("Non", Cancel),
        ("non merci", Cancel),
        ("Annuler", Cancel),
        ("je dois annuler le rendez-vous", Cancel),
        ("ne pas annuler", Unparsable),
        ("oui non", Unparsable),
        ("ARRÊT", OptOut),
        ("arret", OptOut),
        ("Arrêtez de m'envoyer des messages", OptOut),
        ("me désinscrire", OptOut),
        ("AIDE", Help),
        ("Je viendrai si possible", Confirm),
        // German
        ("Ja", Confirm),
        ("ja!", Confirm),
        ("Jawohl", Confirm),
        ("ja, bis dann", Confirm),
        ("Bestätigt", Confirm),
        ("Nein", Cancel),
        ("nein danke", Cancel),
        ("Nee", Cancel),
        ("nö", Cancel),
        ("Termin absagen", Cancel),
        ("bitte stornieren", Cancel),
        ("nicht absagen", Unparsable),
        ("Ja nein", Unparsable),
        ("STOPP", OptOut),
        ("bitte abmelden", OptOut),
        ("HILFE", Help),
        // Spanish
        ("Sí", Confirm),
        ("si", Confirm),
        ("SI", Confirm),
        ("sí, gracias", Confirm),
        ("Claro", Confirm),
        ("vale", Confirm),
        ("Confirmo", Confirm),
        ("No", Cancel),
        ("no, gracias", Cancel),
        ("Cancelar", Cancel),
        ("quiero cancelar la cita", Cancel),
        ("si no puedo", Unparsable),
        ("BAJA", OptOut),
        ("darme de baja", OptOut),
        ("no más mensajes", OptOut),
        ("FIN", OptOut),
        ("AYUDA", Help),
        ("y", Confirm),
        ("sí y gracias", Confirm),
        // Portuguese
        ("Sim", Confirm),
        ("SIM!", Confirm),
        ("sim, obrigado", Confirm),
        ("Não", Cancel),
        ("NAO", Cancel),
        ("nao", Cancel),
        ("não, obrigado", Cancel),
        ("quero cancelar", Cancel),
        ("Sim, estarei no local", Unparsable),
        ("PARAR", OptOut),
        ("AJUDA", Help),
        ("Certo", Confirm),
        // Italian
        ("Sì", Confirm),
        ("si grazie", Confirm),
        ("Confermo", Confirm),
        ("certo", Confirm),
        ("No", Cancel),
        ("no grazie", Cancel),
        ("Annulla", Cancel),
        ("vorrei disdire", Cancel),
        ("BASTA", OptOut),
        ("disiscrivimi", OptOut),
        ("AIUTO", Help),
        // Dutch
        ("Ja", Confirm),
        ("ja graag", Confirm),
        ("Jazeker", Confirm),
        ("Akkoord", Confirm),
        ("bevestigd", Confirm),
        ("Nee", Cancel),
        ("nee bedankt", Cancel),
        ("Annuleren", Cancel),
        ("afspraak annuleren graag", Cancel),
        ("niet annuleren", Unparsable),
        ("ja nee", Unparsable),
        ("afmelden", OptOut),
        ("uitschrijven", OptOut),
        ("HULP", Help),
    ];

    #[test]
    fn the_reply_table() {
        assert!(TABLE.len() >= 120, "{} rows", TABLE.len());
        let failures: Vec<String> = TABLE
            .iter()
            .filter(|(text, expected)| parse(text) != *expected)
            .map(|(text, expected)| {
                format!("{text:?}: expected {expected:?}, got {:?}", parse(text))
            })
            .collect();
        assert!(
            failures.is_empty(),
            "{} of {} rows fail:\n{}",
            failures.len(),
            TABLE.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn every_word_list_entry_is_already_normalized() {
        let lists: [&[&str]; 8] = [
            CONFIRM_WORDS,
            CANCEL_WORDS,
            OPT_OUT_ANYWHERE,
            OPT_OUT_ALONE,
            OPT_IN_WORDS,
            HELP_WORDS,
            NEGATIONS,
            SUBSCRIPTION_NOUNS,
        ];
        for word in lists.iter().flat_map(|list| list.iter()) {
            assert_eq!(words(word), [*word], "{word}");
        }
        for phrase in OPT_OUT_PHRASES {
            assert_eq!(words(&phrase.join(" ")), *phrase);
        }
        // No word means two things across the lists.
        for word in CONFIRM_WORDS {
            assert!(!CANCEL_WORDS.contains(word), "{word}");
            assert!(!HELP_WORDS.contains(word), "{word}");
        }
    }

    #[test]
    fn keywords_are_reported() {
        let cases = [
            ("Please opt me out", Some("opt me out")),
            ("STOP!", Some("stop")),
            ("Oui", Some("oui")),
            ("NÃO", Some("nao")),
            ("cancel the reminders", Some("cancel reminders")),
            ("info please", Some("info")),
            ("hmm", None),
            ("yes no", None),
        ];
        for (text, keyword) in cases {
            assert_eq!(
                parse_with_keyword(text).keyword.as_deref(),
                keyword,
                "{text}"
            );
        }
    }

    #[test]
    fn words_fold_case_accents_and_punctuation() {
        assert_eq!(words("  OUI!!! 👍 "), ["oui"]);
        assert_eq!(words("Don't-STOP"), ["don", "t", "stop"]);
        assert_eq!(words("Bestätigt, ÉTÉ"), ["bestatigt", "ete"]);
        assert_eq!(words("ｙｅｓ"), ["yes"]);
        assert!(words("🙂 ... !!").is_empty());
    }
}
