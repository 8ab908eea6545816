//! The languages Attend writes SMS in.

/// A supported language, by its BCP 47 primary subtag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Language {
    /// English, `en` (also the fallback for any other language).
    En,
    /// French, `fr`.
    Fr,
    /// German, `de`.
    De,
    /// Spanish, `es`.
    Es,
    /// Portuguese, `pt`.
    Pt,
    /// Italian, `it`.
    It,
    /// Dutch, `nl`.
    Nl,
}

impl Language {
    /// Every supported language, English first.
    pub const ALL: [Language; 7] = [
        Language::En,
        Language::Fr,
        Language::De,
        Language::Es,
        Language::Pt,
        Language::It,
        Language::Nl,
    ];

    /// Returns the language of a BCP 47 tag (`fr`, `fr-CA`, `pt_BR`, `DE`), reading only the
    /// primary subtag, case-insensitively; `None` when it is not supported.
    pub fn parse(tag: &str) -> Option<Language> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
        Language::ALL
            .into_iter()
            .find(|language| language.code().eq_ignore_ascii_case(primary))
    }

    /// Returns the language of a BCP 47 tag, English when it is not supported.
    pub fn from_tag(tag: &str) -> Language {
        Language::parse(tag).unwrap_or(Language::En)
    }

    /// Returns the lower-case primary subtag: `en`, `fr`, `de`, `es`, `pt`, `it`, `nl`.
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Fr => "fr",
            Language::De => "de",
            Language::Es => "es",
            Language::Pt => "pt",
            Language::It => "it",
            Language::Nl => "nl",
        }
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_read_their_primary_subtag() {
        assert_eq!(Language::parse("fr-CA"), Some(Language::Fr));
        assert_eq!(Language::parse("pt_BR"), Some(Language::Pt));
        assert_eq!(Language::parse("DE"), Some(Language::De));
        assert_eq!(Language::parse(" nl "), Some(Language::Nl));
        assert_eq!(Language::parse("en-US"), Some(Language::En));
        assert_eq!(Language::parse("ko-KR"), None);
        assert_eq!(Language::parse(""), None);
        assert_eq!(Language::parse("english"), None);
        assert_eq!(Language::from_tag("ko-KR"), Language::En);
        assert_eq!(Language::from_tag("it"), Language::It);
        for language in Language::ALL {
            assert_eq!(Language::parse(language.code()), Some(language));
        }
    }
}
