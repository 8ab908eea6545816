//! Folding people's names so that a caller who says "Muller" finds "Müller".

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Returns `name` lowercased, with accents and other combining marks removed, letters that
/// do not decompose spelled out in ASCII (ß → ss, æ → ae, ø → o, ł → l), and runs of
/// whitespace, hyphens and apostrophes collapsed to one space.
pub fn fold(name: &str) -> String {
    let mut folded = String::with_capacity(name.len());
    let mut pending_space = false;
    for character in name.nfkd().filter(|c| !is_combining_mark(*c)) {
        if character.is_whitespace() || matches!(character, '-' | '\'' | '’' | '.' | ',') {
            pending_space = !folded.is_empty();
            continue;
        }
        if pending_space {
            folded.push(' ');
            pending_space = false;
        }
        match character {
            'ß' | 'ẞ' => folded.push_str("ss"),
            'æ' | 'Æ' => folded.push_str("ae"),
            'œ' | 'Œ' => folded.push_str("oe"),
            'ø' | 'Ø' => folded.push('o'),
            'ł' | 'Ł' => folded.push('l'),
            'đ' | 'Đ' | 'ð' | 'Ð' => folded.push('d'),
            'þ' | 'Þ' => folded.push_str("th"),
            'ı' => folded.push('i'),
            other => folded.extend(other.to_lowercase()),
        }
    }
    folded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_accents_do_not_matter() {
        assert_eq!(fold("Müller"), fold("MULLER"));
        assert_eq!(fold("José"), "jose");
        assert_eq!(fold("Zoë Ångström"), "zoe angstrom");
        assert_eq!(fold("Çelik"), "celik");
    }

    #[test]
    fn letters_without_a_decomposition_are_spelled_out() {
        assert_eq!(fold("Straße"), "strasse");
        assert_eq!(fold("Łukasz Søren"), "lukasz soren");
        assert_eq!(fold("Æsir"), "aesir");
    }

    #[test]
    fn separators_collapse_and_ends_are_trimmed() {
        assert_eq!(fold("  Jean-Luc   O'Neil "), "jean luc o neil");
        assert_eq!(fold(""), "");
    }
}
