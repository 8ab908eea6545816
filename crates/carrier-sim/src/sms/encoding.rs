//! SMS encoding and segment counts, as carriers bill them (carriers.md §1.4).
//!
//! A body made only of GSM 03.38 characters travels as GSM-7: 160 septets in one SMS, 153 per
//! segment once it is split (the user data header takes the rest). The extension characters
//! (`^ { } [ ] ~ \ | €` and form feed) take two septets, an escape and the character, and the
//! two never straddle a segment boundary. Any other character switches the whole body to
//! UCS-2: 70 UTF-16 units in one SMS, 67 per segment, and a surrogate pair is never split.

use serde::Serialize;

/// Septets in a single GSM-7 SMS.
pub const GSM7_SINGLE: usize = 160;
/// Septets in each segment of a concatenated GSM-7 SMS.
pub const GSM7_SEGMENT: usize = 153;
/// UTF-16 units in a single UCS-2 SMS.
pub const UCS2_SINGLE: usize = 70;
/// UTF-16 units in each segment of a concatenated UCS-2 SMS.
pub const UCS2_SEGMENT: usize = 67;

/// The GSM 03.38 basic character set (the escape 0x1B excluded: it is not a character).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The GSM 03.38 extension table: each costs two septets.
const GSM7_EXTENSION: &str = "^{}\\[~]|€\u{000C}";

/// How a message body travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Encoding {
    /// The GSM 03.38 7-bit alphabet.
    #[serde(rename = "GSM-7")]
    Gsm7,
    /// UCS-2 (UTF-16 on the wire).
    #[serde(rename = "UCS-2")]
    Ucs2,
}

/// A body's encoding and the number of SMS it is split into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SegmentInfo {
    /// How the body travels.
    pub encoding: Encoding,
    /// How many SMS the carrier sends (and bills).
    pub segments: u32,
}

/// Returns how many septets `character` takes in GSM-7, or `None` if it is not in the alphabet.
pub fn gsm7_septets(character: char) -> Option<usize> {
    if GSM7_BASIC.contains(character) {
        Some(1)
    } else if GSM7_EXTENSION.contains(character) {
        Some(2)
    } else {
        None
    }
}

/// Returns the encoding and segment count of `body`. An empty body still takes one SMS.
pub fn analyse(body: &str) -> SegmentInfo {
    let septets: Option<Vec<usize>> = body.chars().map(gsm7_septets).collect();
    match septets {
        Some(units) => SegmentInfo {
            encoding: Encoding::Gsm7,
            segments: count_segments(&units, GSM7_SINGLE, GSM7_SEGMENT),
        },
        None => {
            let units: Vec<usize> = body.chars().map(char::len_utf16).collect();
            SegmentInfo {
                encoding: Encoding::Ucs2,
                segments: count_segments(&units, UCS2_SINGLE, UCS2_SEGMENT),
            }
        }
    }
}

/// Splits characters of the given unit sizes greedily into segments; a character never
/// straddles two segments.
fn count_segments(units: &[usize], single: usize, per_segment: usize) -> u32 {
    let total: usize = units.iter().sum();
    if total <= single {
        return 1;
    }
    let mut segments = 1_u32;
    let mut used = 0;
    for &size in units {
        if used + size > per_segment {
            segments += 1;
            used = 0;
        }
        used += size;
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(body: &str) -> (Encoding, u32) {
        let info = analyse(body);
        (info.encoding, info.segments)
    }

    #[test]
    fn plain_text_is_gsm7_with_160_then_153_per_segment() {
        assert_eq!(info(""), (Encoding::Gsm7, 1));
        assert_eq!(info(&"a".repeat(160)), (Encoding::Gsm7, 1));
        assert_eq!(info(&"a".repeat(161)), (Encoding::Gsm7, 2));
        assert_eq!(info(&"a".repeat(306)), (Encoding::Gsm7, 2));
        assert_eq!(info(&"a".repeat(307)), (Encoding::Gsm7, 3));
    }

    #[test]
    fn extension_characters_count_twice() {
        assert_eq!(info(&"€".repeat(80)), (Encoding::Gsm7, 1));
        assert_eq!(
            info(&format!("{}{}", "a".repeat(159), "{")),
            (Encoding::Gsm7, 2)
        );
        // 152 septets, then an escape pair that cannot be split: it starts segment two.
        assert_eq!(
            info(&format!("{}[{}", "a".repeat(152), "a".repeat(7))),
            (Encoding::Gsm7, 2)
        );
        assert_eq!(
            info(&format!("{}{}", "a".repeat(152), "]".repeat(77))),
            (Encoding::Gsm7, 3)
        );
    }

    #[test]
    fn accented_gsm_letters_stay_gsm7() {
        assert_eq!(info("Café à Müller, ¿Qué?"), (Encoding::Gsm7, 1));
    }

    #[test]
    fn anything_else_switches_to_ucs2_with_70_then_67() {
        assert_eq!(info("Hi 😀"), (Encoding::Ucs2, 1));
        assert_eq!(info(&"ç".repeat(70)), (Encoding::Ucs2, 1));
        assert_eq!(info(&"ç".repeat(71)), (Encoding::Ucs2, 2));
        assert_eq!(info(&"ç".repeat(134)), (Encoding::Ucs2, 2));
        assert_eq!(info(&"ç".repeat(135)), (Encoding::Ucs2, 3));
    }

    #[test]
    fn surrogate_pairs_count_two_units_and_are_not_split() {
        // 35 emoji = 70 units: one SMS. 36 = 72 units: 33 pairs fit in 67 units (66), so 2.
        assert_eq!(info(&"😀".repeat(35)), (Encoding::Ucs2, 1));
        assert_eq!(info(&"😀".repeat(36)), (Encoding::Ucs2, 2));
        assert_eq!(info(&format!("{}😀", "ç".repeat(66))), (Encoding::Ucs2, 1));
        // 134 units would fit two segments of 67 if the pair could be split; it cannot.
        let body = format!("{}😀{}", "ç".repeat(66), "ç".repeat(66));
        assert_eq!(info(&body), (Encoding::Ucs2, 3));
    }
}
