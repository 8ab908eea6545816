//! Phone numbers as carriers write them, normalised to E.164 before anything is matched.

/// Returns whether `number` is E.164: `+`, then 8 to 15 digits, the first not 0.
pub fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Returns `raw` in E.164, or `None` when it cannot be one.
///
/// Carriers write the same number several ways: Twilio `+12065551234`, Flowroute
/// `12065551234`, a handset's own formatting `(206) 555-1234`. Spaces, dashes, dots and
/// parentheses are dropped; a number with `+` keeps its country code; ten digits are a
/// North American number (both carriers here are North American, so that is the region a
/// bare national number belongs to); eleven to fifteen digits already carry a country code.
pub fn normalize(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let has_plus = trimmed.starts_with('+');
    let mut digits = String::with_capacity(trimmed.len());
    for (index, c) in trimmed.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if index == 0 => {}
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    let candidate = if has_plus {
        format!("+{digits}")
    } else if digits.len() == 10 && !digits.starts_with(['0', '1']) {
        format!("+1{digits}")
    } else if (11..=15).contains(&digits.len()) {
        format!("+{digits}")
    } else {
        return None;
    };
    is_e164(&candidate).then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_carrier_spelling_becomes_e164() {
        for (raw, expected) in [
            ("+12065551234", Some("+12065551234")),
            ("12065551234", Some("+12065551234")),
            ("2065551234", Some("+12065551234")),
            ("(206) 555-1234", Some("+12065551234")),
            ("+1 206.555.1234", Some("+12065551234")),
            ("+4930123456", Some("+4930123456")),
            ("4930123456789", Some("+4930123456789")),
            ("555-1234", None),
            ("1206555123", None),
            ("+0206555123", None),
            ("12065551234x", None),
            ("", None),
            ("1+2065551234", None),
        ] {
            assert_eq!(normalize(raw).as_deref(), expected, "{raw:?}");
        }
    }

    #[test]
    fn only_e164_is_e164() {
        assert!(is_e164("+15550100001"));
        assert!(!is_e164("15550100001"));
        assert!(!is_e164("+1555-010"));
        assert!(!is_e164("+1234567890123456"));
    }
}
