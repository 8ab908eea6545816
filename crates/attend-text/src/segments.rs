//! How many SMS segments a text takes (3GPP TS 23.038, GSM 03.38).
//!
//! - A text whose every character is in the GSM 03.38 default alphabet or its extension table
//!   is sent as GSM-7. Basic characters take one septet; the extension characters
//!   `^ { } \ [ ~ ] | €` and form feed take two (an escape and the character).
//! - Any other character (an emoji, `á`, `ç`, `ê`, a curly quote) switches the whole text to
//!   UCS-2, where each UTF-16 code unit counts: a character outside the Basic Multilingual
//!   Plane (most emoji) counts 2.
//! - One segment holds 160 septets or 70 units. A longer text is split into segments of
//!   153 septets or 67 units (the user data header takes the rest). Encoders never split an
//!   escape pair or a surrogate pair across two segments, so the split is counted character
//!   by character, and a segment may end one unit short.
//! - An empty text still goes out as one (empty) segment.

/// How a text travels over the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// The GSM 03.38 7-bit default alphabet with its extension table.
    Gsm7,
    /// UTF-16 (UCS-2 on older handsets), for any text outside GSM-7.
    Ucs2,
}

impl Encoding {
    /// Returns the name people read in limits and reasons: `GSM-7` or `UCS-2`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gsm7 => "GSM-7",
            Self::Ucs2 => "UCS-2",
        }
    }

    /// Returns the units one unsplit message holds: 160 septets or 70 UTF-16 units.
    pub fn single_limit(self) -> usize {
        match self {
            Self::Gsm7 => 160,
            Self::Ucs2 => 70,
        }
    }

    /// Returns the units each segment of a split message holds: 153 septets or 67 units.
    pub fn segment_limit(self) -> usize {
        match self {
            Self::Gsm7 => 153,
            Self::Ucs2 => 67,
        }
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.name())
    }
}

/// The size of a text on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SegmentCount {
    /// The encoding the whole text needs.
    pub encoding: Encoding,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
    /// Segments the carrier sends and bills; at least 1.
    pub segments: usize,
}

/// The GSM 03.38 default alphabet, in code order (0x1B, the escape, is left out).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The GSM 03.38 extension table: each is sent as the escape plus one septet.
const GSM7_EXTENSION: &str = "\u{0C}^{}\\[~]|€";

/// Returns the septets `character` takes in GSM-7 (1 or 2), or `None` when it is outside
/// GSM-7 and forces UCS-2.
pub fn gsm7_septets(character: char) -> Option<usize> {
    if GSM7_BASIC.contains(character) {
        Some(1)
    } else if GSM7_EXTENSION.contains(character) {
        Some(2)
    } else {
        None
    }
}

/// Returns the first character of `text` outside GSM-7 with its 1-based character position,
/// the one that makes the text UCS-2; `None` when the text is GSM-7.
pub fn first_non_gsm7(text: &str) -> Option<(char, usize)> {
    text.chars()
        .enumerate()
        .find(|(_, character)| gsm7_septets(*character).is_none())
        .map(|(index, character)| (character, index + 1))
}

/// Counts the encoding, units and segments of `text`.
pub fn count(text: &str) -> SegmentCount {
    let gsm7: Option<Vec<usize>> = text.chars().map(gsm7_septets).collect();
    let (encoding, widths) = match gsm7 {
        Some(widths) => (Encoding::Gsm7, widths),
        None => (
            Encoding::Ucs2,
            text.chars().map(char::len_utf16).collect::<Vec<_>>(),
        ),
    };
    let units: usize = widths.iter().sum();
    let segments = if units <= encoding.single_limit() {
        1
    } else {
        split_segments(&widths, encoding.segment_limit())
    };
    SegmentCount {
        encoding,
        units,
        segments,
    }
}

/// Returns how many segments of `capacity` units hold characters of these widths in order,
/// never splitting one character across two segments.
fn split_segments(widths: &[usize], capacity: usize) -> usize {
    let mut segments = 1;
    let mut used = 0;
    for width in widths {
        if used + width > capacity {
            segments += 1;
            used = 0;
        }
        used += width;
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gsm(units: usize, segments: usize) -> SegmentCount {
        SegmentCount {
            encoding: Encoding::Gsm7,
            units,
            segments,
        }
    }

    fn ucs(units: usize, segments: usize) -> SegmentCount {
        SegmentCount {
            encoding: Encoding::Ucs2,
            units,
            segments,
        }
    }

    #[test]
    fn the_basic_alphabet_has_its_127_printable_codes_and_each_counts_one() {
        assert_eq!(GSM7_BASIC.chars().count(), 127);
        for character in GSM7_BASIC.chars() {
            assert_eq!(gsm7_septets(character), Some(1), "{character:?}");
        }
        let named = "£¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà@$\n\r";
        assert_eq!(count(named), gsm(named.chars().count(), 1));
    }

    #[test]
    fn extension_characters_count_two() {
        for character in ['^', '{', '}', '\\', '[', '~', ']', '|', '€', '\u{0C}'] {
            assert_eq!(gsm7_septets(character), Some(2), "{character:?}");
            assert_eq!(count(&character.to_string()), gsm(2, 1), "{character:?}");
        }
        assert_eq!(count("a{b}c"), gsm(7, 1));
        assert_eq!(count(&"€".repeat(80)), gsm(160, 1));
        assert_eq!(count(&"€".repeat(81)), gsm(162, 2));
    }

    #[test]
    fn common_characters_outside_gsm7_switch_to_ucs2() {
        for character in [
            'á', 'í', 'ó', 'ú', 'â', 'ê', 'î', 'ô', 'û', 'ã', 'õ', 'ç', 'Ì', 'È', 'ë', 'ï', '“',
            '”', '‘', '’', '–', '—', '…', '\u{a0}', '\u{202f}', '\t', '`',
        ] {
            assert_eq!(gsm7_septets(character), None, "{character:?}");
        }
        assert_eq!(count("Olá"), ucs(3, 1));
        assert_eq!(first_non_gsm7("Olá"), Some(('á', 3)));
        assert_eq!(first_non_gsm7("Hello"), None);
        // One non-GSM character makes extension characters cost one unit like any other.
        assert_eq!(count("ç{}"), ucs(3, 1));
    }

    #[test]
    fn gsm7_boundaries() {
        assert_eq!(count(""), gsm(0, 1));
        assert_eq!(count("a"), gsm(1, 1));
        assert_eq!(count(&"a".repeat(160)), gsm(160, 1));
        assert_eq!(count(&"a".repeat(161)), gsm(161, 2));
        assert_eq!(count(&"a".repeat(306)), gsm(306, 2));
        assert_eq!(count(&"a".repeat(307)), gsm(307, 3));
        assert_eq!(count(&"a".repeat(459)), gsm(459, 3));
        assert_eq!(count(&"a".repeat(460)), gsm(460, 4));
        assert_eq!(count(&"a".repeat(612)), gsm(612, 4));
    }

    #[test]
    fn an_escape_pair_is_never_split_across_segments() {
        // 152 septets then a two-septet '€': the first segment ends one short.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        assert_eq!(count(&text), gsm(164, 2));
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        // 152 | 2 + 152 = 154 > 153, so a third segment.
        assert_eq!(count(&text), gsm(306, 3));
    }

    #[test]
    fn ucs2_boundaries() {
        assert_eq!(count(&"é".repeat(5)), gsm(5, 1));
        assert_eq!(count(&"á".repeat(70)), ucs(70, 1));
        assert_eq!(count(&"á".repeat(71)), ucs(71, 2));
        assert_eq!(count(&"á".repeat(134)), ucs(134, 2));
        assert_eq!(count(&"á".repeat(135)), ucs(135, 3));
        assert_eq!(count(&"á".repeat(201)), ucs(201, 3));
        assert_eq!(count(&"á".repeat(202)), ucs(202, 4));
    }

    #[test]
    fn emoji_count_two_units_and_are_never_split() {
        assert_eq!(count("👍"), ucs(2, 1));
        assert_eq!(count(&"👍".repeat(35)), ucs(70, 1));
        assert_eq!(count(&"👍".repeat(36)), ucs(72, 2));
        // 66 units then a surrogate pair that would straddle the 67-unit boundary.
        let text = format!("{}👍{}", "á".repeat(66), "á".repeat(10));
        assert_eq!(count(&text), ucs(78, 2));
        let text = format!("{}👍{}", "á".repeat(66), "á".repeat(66));
        assert_eq!(count(&text), ucs(134, 3));
        // A flag is two code points, four units.
        assert_eq!(count("🇫🇷"), ucs(4, 1));
    }

    #[test]
    fn the_seed_reminder_is_one_or_two_gsm_segments() {
        let short = "[Clinic]\nYou have an appointment on Sat Nov 21, 6:20 AM. Please reply 'Yes' to confirm, or 'No' to cancel.";
        assert_eq!(count(short).encoding, Encoding::Gsm7);
        assert_eq!(count(short).segments, 1);
        let long = format!("{short} at West Side Mechanics with Joe and a longer tail of words.");
        assert_eq!(count(&long).segments, 2);
    }

    #[test]
    fn names_and_limits() {
        assert_eq!(Encoding::Gsm7.to_string(), "GSM-7");
        assert_eq!(Encoding::Ucs2.name(), "UCS-2");
        assert_eq!(Encoding::Ucs2.single_limit(), 70);
        assert_eq!(Encoding::Gsm7.segment_limit(), 153);
    }
}
