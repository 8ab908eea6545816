//! Reminder offsets: ISO 8601 durations applied in the appointment's time zone.
//!
//! A duration has a calendar part (weeks and days) and a clock part (hours, minutes,
//! seconds), and they are applied the way people read them, as `java.time`'s `Period` and
//! `Duration` are: `P1D` before a 10:00 appointment is 10:00 the day before *on the wall
//! clock*, even when a daylight-saving change falls in between (23 or 25 hours), while
//! `PT24H` is 24 elapsed hours. `P1DT2H` moves one calendar day, then two hours. Years and
//! months are refused: "a month before" has no single meaning a clinic would agree on.
//!
//! A wall-clock time that does not exist (the spring-forward gap) is read as the instant
//! just after the gap; one that exists twice (the fall-back hour) as the earlier of the two.

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The longest offset accepted.
const MAX_DAYS: i64 = 366;

/// A parsed offset: whole calendar days, then elapsed clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offset {
    /// Calendar days (weeks count seven).
    pub days: i64,
    /// Hours, minutes and seconds, elapsed.
    pub clock: Duration,
}

impl Offset {
    /// Parses an ISO 8601 duration such as `PT3H`, `P1D`, `P1DT30M` or `P2W`; the message
    /// says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let parsed = iso8601::duration(text.trim())
            .map_err(|_| "must be an ISO 8601 duration such as PT3H, P1D or P1DT30M".to_owned())?;
        let offset = match parsed {
            iso8601::Duration::Weeks(weeks) => Self {
                days: i64::from(weeks) * 7,
                clock: Duration::zero(),
            },
            iso8601::Duration::YMDHMS {
                year,
                month,
                day,
                hour,
                minute,
                second,
                millisecond,
            } => {
                if year != 0 || month != 0 {
                    return Err(
                        "must not use years or months, whose length varies; write days (P30D)"
                            .to_owned(),
                    );
                }
                Self {
                    days: i64::from(day),
                    clock: Duration::hours(i64::from(hour))
                        + Duration::minutes(i64::from(minute))
                        + Duration::seconds(i64::from(second))
                        + Duration::milliseconds(i64::from(millisecond)),
                }
            }
        };
        let nominal = Duration::days(offset.days) + offset.clock;
        if nominal <= Duration::zero() {
            return Err("must be longer than zero".to_owned());
        }
        if nominal > Duration::days(MAX_DAYS) {
            return Err("must be at most a year".to_owned());
        }
        Ok(offset)
    }

    /// Returns the instant this offset before `instant`, days counted on the wall clock of
    /// `zone`.
    pub fn before(self, instant: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
        shift_days(instant, zone, -self.days) - self.clock
    }

    /// Returns the instant this offset after `instant`, days counted on the wall clock of
    /// `zone`.
    pub fn after(self, instant: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
        shift_days(instant, zone, self.days) + self.clock
    }
}

/// Moves `instant` by `days` calendar days in `zone`, keeping its wall-clock time.
fn shift_days(instant: DateTime<Utc>, zone: Tz, days: i64) -> DateTime<Utc> {
    if days == 0 {
        return instant;
    }
    let local = instant.with_timezone(&zone).naive_local() + Duration::days(days);
    resolve(zone, local)
}

/// Returns the instant of wall-clock time `local` in `zone`: the earlier of two in an
/// overlap, the end of the gap for a time that does not exist.
fn resolve(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(at) => at.with_timezone(&Utc),
        LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
        LocalResult::None => {
            // Gaps last at most a few hours and start on a whole minute: the first minute
            // that exists is the end of the gap.
            let mut probe = local;
            for _ in 0..(24 * 60) {
                probe += Duration::minutes(1);
                if let Some(at) = zone.from_local_datetime(&probe).earliest() {
                    return at.with_timezone(&Utc);
                }
            }
            zone.from_utc_datetime(&local).with_timezone(&Utc)
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono_tz::America::New_York;
    use chrono_tz::Europe::Berlin;

    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_day_before_keeps_the_wall_clock_time_across_spring_forward() {
        // New York springs forward on 2027-03-14 at 02:00; the appointment is that morning.
        let start = utc("2027-03-14T14:00:00Z"); // 10:00 EDT
        let day = Offset::parse("P1D").unwrap();
        assert_eq!(day.before(start, New_York), utc("2027-03-13T15:00:00Z")); // 10:00 EST
        let hours = Offset::parse("PT24H").unwrap();
        assert_eq!(hours.before(start, New_York), utc("2027-03-13T14:00:00Z")); // 09:00 EST
    }

    #[test]
    fn a_day_before_keeps_the_wall_clock_time_across_fall_back() {
        // Berlin falls back on 2027-10-31 at 03:00; the appointment is the next morning.
        let start = utc("2027-11-01T09:00:00Z"); // 10:00 CET
        let day = Offset::parse("P1D").unwrap();
        assert_eq!(day.before(start, Berlin), utc("2027-10-31T09:00:00Z")); // 10:00 CET
        let start = utc("2027-10-31T09:00:00Z"); // 10:00 CET, the day of the change
        assert_eq!(day.before(start, Berlin), utc("2027-10-30T08:00:00Z")); // 10:00 CEST
        assert_eq!(
            Offset::parse("PT24H").unwrap().before(start, Berlin),
            utc("2027-10-30T09:00:00Z") // 11:00 CEST
        );
    }

    #[test]
    fn days_then_clock_time() {
        let start = utc("2027-03-14T14:00:00Z"); // 10:00 EDT
        let offset = Offset::parse("P1DT2H").unwrap();
        assert_eq!(offset.before(start, New_York), utc("2027-03-13T13:00:00Z")); // 08:00 EST
        assert_eq!(
            Offset::parse("P1W").unwrap().before(start, New_York),
            utc("2027-03-07T15:00:00Z")
        );
    }

    #[test]
    fn follow_ups_count_forward_the_same_way() {
        let end = utc("2027-03-13T15:00:00Z"); // 10:00 EST, the day before spring forward
        assert_eq!(
            Offset::parse("P1D").unwrap().after(end, New_York),
            utc("2027-03-14T14:00:00Z") // 10:00 EDT
        );
        assert_eq!(
            Offset::parse("PT2H").unwrap().after(end, New_York),
            utc("2027-03-13T17:00:00Z")
        );
    }

    #[test]
    fn a_wall_clock_time_in_the_gap_reads_as_the_end_of_the_gap() {
        // 02:30 on 2027-03-14 does not exist in New York; a day before 02:30 EST on the 15th
        // would land there.
        let start = utc("2027-03-15T06:30:00Z"); // 02:30 EDT on the 15th
        assert_eq!(
            Offset::parse("P1D").unwrap().before(start, New_York),
            utc("2027-03-14T07:00:00Z") // 03:00 EDT, the first time after the gap
        );
    }

    #[test]
    fn a_wall_clock_time_that_happens_twice_reads_as_the_first() {
        // 01:30 happens twice on 2027-11-07 in New York.
        let start = utc("2027-11-08T06:30:00Z"); // 01:30 EST on the 8th
        assert_eq!(
            Offset::parse("P1D").unwrap().before(start, New_York),
            utc("2027-11-07T05:30:00Z") // 01:30 EDT
        );
    }

    #[test]
    fn refuses_what_it_cannot_apply() {
        for (text, message) in [
            ("P1M", "years or months"),
            ("P1Y", "years or months"),
            ("PT0S", "longer than zero"),
            ("P400D", "at most a year"),
            ("3 hours", "ISO 8601"),
            ("", "ISO 8601"),
        ] {
            let error = Offset::parse(text).unwrap_err();
            assert!(error.contains(message), "{text}: {error}");
        }
    }
}
