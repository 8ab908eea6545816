//! An appointment's date and time as a recipient reads it: in their zone, in their
//! language's abbreviated forms (CLDR's abbreviated day and month names) and clock.
//!
//! | language | `format_appointment` | clock |
//! |---|---|---|
//! | en | `Sat Nov 21, 6:20 AM` | 12-hour, `AM`/`PM` |
//! | fr | `sam. 21 nov. à 14:00` | 24-hour, `HH:mm` |
//! | de | `Sa., 21. Nov. um 14:00` | 24-hour, `HH:mm` |
//! | es | `sáb 21 nov, 14:00` | 24-hour, `H:mm` |
//! | pt | `sáb., 21 de nov., 14:00` | 24-hour, `HH:mm` |
//! | it | `sab 21 nov, 14:00` | 24-hour, `HH:mm` |
//! | nl | `za 21 nov, 14:00` | 24-hour, `HH:mm` |
//!
//! - English keeps the seed's shape (`dddd MMM D, h:mm a`, "Saturday Nov 21, 6:20 am") with
//!   the abbreviated day the issue asks for, and CLDR's `AM`/`PM`. CLDR puts a narrow
//!   no-break space before `AM`; a plain space is used instead, because U+202F is outside
//!   GSM-7 and would double the cost of every English reminder.
//! - The names are CLDR's standard spellings, accents included (`sáb`, `août`). Spanish and
//!   Portuguese Saturdays and French Augusts therefore contain a character outside GSM-7;
//!   `sms::lint` warns about it instead of pretending otherwise.
//! - No year, as in the seed: a reminder is about the coming days.
//! - The zone's abbreviation follows the time (`6:20 AM EST`, `14:00 CET`) only when the
//!   recipient's UTC offset at that instant differs from the business's. Two zones with the
//!   same offset at that instant show the same wall-clock time, so a label would add
//!   nothing; a different offset is exactly when the reader could go wrong. Without a
//!   business zone no label is shown (the seed never showed one). A zone whose tzdata
//!   abbreviation is numeric (`+0545`) is written `GMT+5:45`.

use chrono::{DateTime, Datelike, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::{OffsetName, Tz};

use crate::Language;

const EN_DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const EN_MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const FR_DAYS: [&str; 7] = ["lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."];
const FR_MONTHS: [&str; 12] = [
    "janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.",
    "déc.",
];
const DE_DAYS: [&str; 7] = ["Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa.", "So."];
const DE_MONTHS: [&str; 12] = [
    "Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sept.", "Okt.", "Nov.", "Dez.",
];
const ES_DAYS: [&str; 7] = ["lun", "mar", "mié", "jue", "vie", "sáb", "dom"];
const ES_MONTHS: [&str; 12] = [
    "ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic",
];
const PT_DAYS: [&str; 7] = ["seg.", "ter.", "qua.", "qui.", "sex.", "sáb.", "dom."];
const PT_MONTHS: [&str; 12] = [
    "jan.", "fev.", "mar.", "abr.", "mai.", "jun.", "jul.", "ago.", "set.", "out.", "nov.", "dez.",
];
const IT_DAYS: [&str; 7] = ["lun", "mar", "mer", "gio", "ven", "sab", "dom"];
const IT_MONTHS: [&str; 12] = [
    "gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic",
];
const NL_DAYS: [&str; 7] = ["ma", "di", "wo", "do", "vr", "za", "zo"];
const NL_MONTHS: [&str; 12] = [
    "jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec",
];

/// The longest zone label `zone_label` can produce (Chatham Islands' summer time).
pub(crate) const LONGEST_ZONE_LABEL: &str = "GMT+13:45";

/// Returns the appointment's date and time for the recipient, e.g. `Sat Nov 21, 6:20 AM`,
/// `sam. 21 nov. à 14:00 CET` (see the module docs for every language and the zone rule).
/// `language` is a BCP 47 tag; an unsupported one gives English.
pub fn format_appointment(
    start: DateTime<Utc>,
    recipient_zone: Tz,
    language: &str,
    business_zone: Option<Tz>,
) -> String {
    let language = Language::from_tag(language);
    let local = start.with_timezone(&recipient_zone).naive_local();
    let label = zone_label(start, recipient_zone, business_zone);
    compose(language, local, label.as_deref())
}

/// Returns only the date, e.g. `Sat Nov 21`, `Sa., 21. Nov.`, for a template's `{date}`.
pub fn format_date(start: DateTime<Utc>, recipient_zone: Tz, language: &str) -> String {
    let language = Language::from_tag(language);
    date_part(language, start.with_timezone(&recipient_zone).naive_local())
}

/// Returns only the time, with the zone label under the same rule as
/// [`format_appointment`], e.g. `6:20 AM`, `14:00 CET`, for a template's `{time}`.
pub fn format_time(
    start: DateTime<Utc>,
    recipient_zone: Tz,
    language: &str,
    business_zone: Option<Tz>,
) -> String {
    let language = Language::from_tag(language);
    let local = start.with_timezone(&recipient_zone).naive_local();
    let label = zone_label(start, recipient_zone, business_zone);
    time_with_label(language, local, label.as_deref())
}

/// Returns the recipient zone's abbreviation at `start` (`EST`, `CEST`, `GMT+5:45`) when its
/// UTC offset then differs from the business zone's; `None` when they agree or no business
/// zone is known.
pub fn zone_label(
    start: DateTime<Utc>,
    recipient_zone: Tz,
    business_zone: Option<Tz>,
) -> Option<String> {
    let business_zone = business_zone?;
    let recipient_offset = recipient_zone.offset_from_utc_datetime(&start.naive_utc());
    let business_offset = business_zone.offset_from_utc_datetime(&start.naive_utc());
    if recipient_offset.fix() == business_offset.fix() {
        return None;
    }
    Some(match recipient_offset.abbreviation() {
        Some(abbreviation) => abbreviation.to_owned(),
        None => gmt_offset(recipient_offset.fix().local_minus_utc()),
    })
}

/// Returns `GMT+3`, `GMT-3:30`, `GMT` for an offset in seconds east of UTC.
fn gmt_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = seconds.unsigned_abs() / 60;
    match (minutes / 60, minutes % 60) {
        (0, 0) => "GMT".to_owned(),
        (hours, 0) => format!("GMT{sign}{hours}"),
        (hours, minutes) => format!("GMT{sign}{hours}:{minutes:02}"),
    }
}

/// Returns the whole date and time of a local wall-clock time, with an optional zone label.
pub(crate) fn compose(language: Language, local: NaiveDateTime, label: Option<&str>) -> String {
    let date = date_part(language, local);
    let time = time_with_label(language, local, label);
    match language {
        Language::Fr => format!("{date} à {time}"),
        Language::De => format!("{date} um {time}"),
        Language::En | Language::Es | Language::Pt | Language::It | Language::Nl => {
            format!("{date}, {time}")
        }
    }
}

/// Returns the date of a local wall-clock time, e.g. `Sat Nov 21`.
pub(crate) fn compose_date(language: Language, local: NaiveDateTime) -> String {
    date_part(language, local)
}

/// Returns the time of a local wall-clock time with an optional zone label, e.g. `6:20 AM`.
pub(crate) fn compose_time(
    language: Language,
    local: NaiveDateTime,
    label: Option<&str>,
) -> String {
    time_with_label(language, local, label)
}

fn date_part(language: Language, local: NaiveDateTime) -> String {
    let weekday = local.weekday().num_days_from_monday() as usize;
    let month = local.month0() as usize;
    let day = local.day();
    match language {
        Language::En => format!("{} {} {day}", EN_DAYS[weekday], EN_MONTHS[month]),
        Language::Fr => format!("{} {day} {}", FR_DAYS[weekday], FR_MONTHS[month]),
        Language::De => format!("{}, {day}. {}", DE_DAYS[weekday], DE_MONTHS[month]),
        Language::Es => format!("{} {day} {}", ES_DAYS[weekday], ES_MONTHS[month]),
        Language::Pt => format!("{}, {day} de {}", PT_DAYS[weekday], PT_MONTHS[month]),
        Language::It => format!("{} {day} {}", IT_DAYS[weekday], IT_MONTHS[month]),
        Language::Nl => format!("{} {day} {}", NL_DAYS[weekday], NL_MONTHS[month]),
    }
}

fn time_with_label(language: Language, local: NaiveDateTime, label: Option<&str>) -> String {
    let time = time_part(language, local);
    match label {
        Some(label) => format!("{time} {label}"),
        None => time,
    }
}

fn time_part(language: Language, local: NaiveDateTime) -> String {
    let (hour, minute) = (local.hour(), local.minute());
    match language {
        Language::En => {
            let (is_pm, hour12) = local.hour12();
            let meridiem = if is_pm { "PM" } else { "AM" };
            format!("{hour12}:{minute:02} {meridiem}")
        }
        Language::Es => format!("{hour}:{minute:02}"),
        Language::Fr | Language::De | Language::Pt | Language::It | Language::Nl => {
            format!("{hour:02}:{minute:02}")
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono_tz::America::{Denver, New_York, Phoenix, Sao_Paulo};
    use chrono_tz::Asia::Kathmandu;
    use chrono_tz::Europe::{Berlin, Lisbon, London, Madrid, Paris, Rome};
    use chrono_tz::Pacific::Chatham;

    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn the_seed_example_in_every_language() {
        // Saturday 21 November 2026, 06:20 in New York (11:20 UTC).
        let start = utc("2026-11-21T11:20:00Z");
        assert_eq!(
            format_appointment(start, New_York, "en", None),
            "Sat Nov 21, 6:20 AM"
        );
        assert_eq!(
            format_appointment(start, New_York, "en-US", Some(New_York)),
            "Sat Nov 21, 6:20 AM"
        );
        // 14:00 in Paris is 13:00 UTC in November.
        let afternoon = utc("2026-11-21T13:00:00Z");
        let cases = [
            ("fr", Paris, "sam. 21 nov. à 14:00"),
            ("fr-CA", Paris, "sam. 21 nov. à 14:00"),
            ("de", Berlin, "Sa., 21. Nov. um 14:00"),
            ("es", Madrid, "sáb 21 nov, 14:00"),
            ("pt", Paris, "sáb., 21 de nov., 14:00"),
            ("it", Rome, "sab 21 nov, 14:00"),
            ("nl", Paris, "za 21 nov, 14:00"),
            ("en", Paris, "Sat Nov 21, 2:00 PM"),
            ("ko-KR", Paris, "Sat Nov 21, 2:00 PM"),
            ("", Paris, "Sat Nov 21, 2:00 PM"),
        ];
        for (language, zone, expected) in cases {
            assert_eq!(
                format_appointment(afternoon, zone, language, Some(zone)),
                expected,
                "{language}"
            );
        }
    }

    #[test]
    fn the_french_example_of_the_seed() {
        // "mer 21 juil à 14:00" in the seed; CLDR writes the periods.
        let start = utc("2027-07-21T12:00:00Z");
        assert_eq!(
            format_appointment(start, Paris, "fr", Some(Paris)),
            "mer. 21 juil. à 14:00"
        );
    }

    #[test]
    fn every_day_and_month_name_in_every_language() {
        // 2027-01-04 is a Monday; step one week and a month at a time.
        let expected: [(&str, [&str; 7], [&str; 12]); 7] = [
            ("en", EN_DAYS, EN_MONTHS),
            ("fr", FR_DAYS, FR_MONTHS),
            ("de", DE_DAYS, DE_MONTHS),
            ("es", ES_DAYS, ES_MONTHS),
            ("pt", PT_DAYS, PT_MONTHS),
            ("it", IT_DAYS, IT_MONTHS),
            ("nl", NL_DAYS, NL_MONTHS),
        ];
        for (language, days, months) in expected {
            for (index, day) in days.iter().enumerate() {
                let start = utc("2027-01-04T12:00:00Z") + chrono::Duration::days(index as i64);
                let date = format_date(start, London, language);
                assert!(date.starts_with(day), "{language}: {date} for {day}");
            }
            for (index, month) in months.iter().enumerate() {
                let start = utc(&format!("2027-{:02}-15T12:00:00Z", index + 1));
                let date = format_date(start, London, language);
                assert!(
                    date.split(' ').any(|word| word == *month),
                    "{language}: {date} for {month}"
                );
            }
        }
        assert_eq!(
            format_date(utc("2027-03-15T12:00:00Z"), Berlin, "de"),
            "Mo., 15. März"
        );
        assert_eq!(
            format_date(utc("2027-08-01T12:00:00Z"), Paris, "fr"),
            "dim. 1 août"
        );
        assert_eq!(
            format_date(utc("2027-09-01T12:00:00Z"), Madrid, "es"),
            "mié 1 sept"
        );
        assert_eq!(
            format_date(utc("2027-10-02T12:00:00Z"), Lisbon, "pt"),
            "sáb., 2 de out."
        );
        assert_eq!(
            format_date(utc("2027-03-01T12:00:00Z"), Paris, "nl"),
            "ma 1 mrt"
        );
    }

    #[test]
    fn clocks() {
        let at = |time: &str| utc(&format!("2027-01-04T{time}:00Z"));
        let cases = [
            ("00:05", "en", "12:05 AM"),
            ("11:59", "en", "11:59 AM"),
            ("12:00", "en", "12:00 PM"),
            ("23:45", "en", "11:45 PM"),
            ("09:05", "fr", "09:05"),
            ("09:05", "de", "09:05"),
            ("09:05", "es", "9:05"),
            ("09:05", "pt", "09:05"),
            ("09:05", "it", "09:05"),
            ("09:05", "nl", "09:05"),
            ("00:00", "es", "0:00"),
            ("23:59", "it", "23:59"),
        ];
        for (time, language, expected) in cases {
            assert_eq!(
                format_time(at(time), London, language, None),
                expected,
                "{time} {language}"
            );
        }
    }

    #[test]
    fn the_zone_shows_only_when_the_offsets_differ() {
        let winter = utc("2026-11-21T13:00:00Z");
        assert_eq!(
            format_appointment(winter, New_York, "en", Some(Paris)),
            "Sat Nov 21, 8:00 AM EST"
        );
        assert_eq!(
            format_appointment(winter, Paris, "fr", Some(New_York)),
            "sam. 21 nov. à 14:00 CET"
        );
        assert_eq!(
            format_appointment(winter, Berlin, "de", Some(London)),
            "Sa., 21. Nov. um 14:00 CET"
        );
        // Berlin and Paris agree, so no label even though the zone names differ.
        assert_eq!(
            format_appointment(winter, Berlin, "de", Some(Paris)),
            "Sa., 21. Nov. um 14:00"
        );
        // No business zone: never a label (the seed had none).
        assert_eq!(
            format_appointment(winter, New_York, "en", None),
            "Sat Nov 21, 8:00 AM"
        );
        assert_eq!(
            format_time(winter, New_York, "en", Some(Paris)),
            "8:00 AM EST"
        );
        assert_eq!(format_date(winter, New_York, "en"), "Sat Nov 21");
    }

    #[test]
    fn both_sides_of_daylight_saving_time() {
        // Phoenix keeps MST all year; Denver is MST in winter and MDT in summer.
        let winter = utc("2027-01-15T17:00:00Z");
        let summer = utc("2027-07-15T17:00:00Z");
        assert_eq!(
            format_appointment(winter, Denver, "en", Some(Phoenix)),
            "Fri Jan 15, 10:00 AM"
        );
        assert_eq!(
            format_appointment(summer, Denver, "en", Some(Phoenix)),
            "Thu Jul 15, 11:00 AM MDT"
        );
        // Europe moves on 2027-03-28 at 01:00 UTC, New York on 2027-03-14: between the two
        // the gap is 5 hours, not 6.
        let before_us = utc("2027-03-13T15:00:00Z");
        let between = utc("2027-03-20T15:00:00Z");
        let after_eu = utc("2027-03-28T15:00:00Z");
        assert_eq!(
            format_appointment(before_us, Paris, "fr", Some(New_York)),
            "sam. 13 mars à 16:00 CET"
        );
        assert_eq!(
            format_appointment(between, Paris, "fr", Some(New_York)),
            "sam. 20 mars à 16:00 CET"
        );
        assert_eq!(
            format_appointment(after_eu, Paris, "fr", Some(New_York)),
            "dim. 28 mars à 17:00 CEST"
        );
        // The last instant before and the first after Europe's change.
        assert_eq!(
            format_time(utc("2027-03-28T00:59:00Z"), Paris, "de", None),
            "01:59"
        );
        assert_eq!(
            format_time(utc("2027-03-28T01:00:00Z"), Paris, "de", None),
            "03:00"
        );
        // Autumn: 02:30 happens twice in Paris; the instants keep them apart.
        assert_eq!(
            format_time(utc("2027-10-31T00:30:00Z"), Paris, "nl", Some(London)),
            "02:30 CEST"
        );
        assert_eq!(
            format_time(utc("2027-10-31T01:30:00Z"), Paris, "nl", Some(London)),
            "02:30 CET"
        );
        // Southern hemisphere: São Paulo has no DST since 2019, Lisbon does.
        assert_eq!(
            format_appointment(summer, Sao_Paulo, "pt", Some(Lisbon)),
            "qui., 15 de jul., 14:00 GMT-3"
        );
    }

    #[test]
    fn numeric_abbreviations_read_as_gmt_offsets() {
        let start = utc("2027-01-15T06:00:00Z");
        assert_eq!(
            format_time(start, Kathmandu, "en", Some(London)),
            "11:45 AM GMT+5:45"
        );
        assert_eq!(
            format_time(start, Chatham, "en", Some(London)),
            "7:45 PM GMT+13:45"
        );
        assert_eq!(gmt_offset(0), "GMT");
        assert_eq!(gmt_offset(-3 * 3600 - 1800), "GMT-3:30");
        assert_eq!(gmt_offset(2 * 3600), "GMT+2");
        assert_eq!(LONGEST_ZONE_LABEL.len(), "GMT+13:45".len());
    }
}
