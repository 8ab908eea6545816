//! The local hours reminders may reach people in, evaluated in each recipient's own IANA zone
//! at send time (carriers.md §1.1), DST-correct. Shared by the scheduler (which defers due
//! jobs into the window) and the channels (which check again just before they call or text).

use chrono::{DateTime, LocalResult, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

pub const MINUTES_PER_DAY: u32 = 24 * 60;

/// The local hours reminders may go out in: minutes after local midnight, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallingWindow {
    start_minute: u32,
    end_minute: u32,
}

impl Default for CallingWindow {
    /// Returns 08:00–21:00, the TCPA hours (templates.md defaults).
    fn default() -> Self {
        Self {
            start_minute: 8 * 60,
            end_minute: 21 * 60,
        }
    }
}

impl CallingWindow {
    /// Returns the window `[start_minute, end_minute)`, or `None` when it is empty or does
    /// not fit in one day.
    pub fn new(start_minute: u32, end_minute: u32) -> Option<Self> {
        (start_minute < end_minute && end_minute <= MINUTES_PER_DAY).then_some(Self {
            start_minute,
            end_minute,
        })
    }

    /// Returns the first minute inside the window.
    pub fn start_minute(self) -> u32 {
        self.start_minute
    }

    /// Returns the first minute after the window.
    pub fn end_minute(self) -> u32 {
        self.end_minute
    }

    /// Returns the earliest instant at or after `at` whose wall-clock time in `zone` lies
    /// inside the window: `at` itself when it does, else the next opening.
    pub fn next_open(self, zone: Tz, at: DateTime<Utc>) -> DateTime<Utc> {
        let local = at.with_timezone(&zone);
        let minute_of_day = local.hour() * 60 + local.minute();
        if (self.start_minute..self.end_minute).contains(&minute_of_day) {
            return at;
        }
        let local_date = local.date_naive();
        let opening_date = if minute_of_day < self.start_minute {
            local_date
        } else {
            local_date.succ_opt().unwrap_or(local_date)
        };
        local_instant(zone, opening_date, self.start_minute)
    }
}

/// Returns the instant the wall clock of `zone` first shows `minute_of_day` on `date`. In a
/// DST gap (the time does not exist that day) it is the first minute after the gap; in an
/// overlap (the time exists twice) the earlier of the two.
fn local_instant(zone: Tz, date: NaiveDate, minute_of_day: u32) -> DateTime<Utc> {
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    let wanted = midnight + chrono::Duration::minutes(i64::from(minute_of_day));
    // Real gaps last at most a few hours; the bound only keeps a broken zone from looping.
    for shift in 0..=(24 * 60) {
        let candidate = wanted + chrono::Duration::minutes(shift);
        match zone.from_local_datetime(&candidate) {
            LocalResult::Single(instant) => return instant.with_timezone(&Utc),
            LocalResult::Ambiguous(earliest, _) => return earliest.with_timezone(&Utc),
            LocalResult::None => {}
        }
    }
    Utc.from_utc_datetime(&wanted)
}

impl CallingWindow {
    /// Returns the next opening when `at` lies outside the window in the zone named
    /// `time_zone`, or `None` when it is inside. A name that is not an IANA zone counts as UTC.
    pub fn opening_after(self, at: DateTime<Utc>, time_zone: &str) -> Option<DateTime<Utc>> {
        let zone: Tz = time_zone.trim().parse().unwrap_or(Tz::UTC);
        let open = self.next_open(zone, at);
        (open != at).then_some(open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn the_opening_is_reported_only_outside_the_window() {
        let window = CallingWindow::default();
        // 12:00 and 22:00 in Berlin (CEST).
        assert_eq!(
            window.opening_after(utc("2026-06-10T10:00:00Z"), "Europe/Berlin"),
            None
        );
        assert_eq!(
            window.opening_after(utc("2026-06-10T20:00:00Z"), "Europe/Berlin"),
            Some(utc("2026-06-11T06:00:00Z"))
        );
        // An unknown zone is UTC: 22:00 UTC waits for 08:00 UTC.
        assert_eq!(
            window.opening_after(utc("2026-06-10T22:00:00Z"), "Mars/Base"),
            Some(utc("2026-06-11T08:00:00Z"))
        );
    }
}
