//! Free slots: when an agent can start a product, from weekly hours, dated exceptions and
//! bookings. Pure functions over instants; every local time is read in the entity's IANA
//! zone, so days with a daylight-saving change have the hours they really have.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// Minutes in a day; a span may end at 1440, the next midnight.
pub const MINUTES_PER_DAY: u16 = 1440;

/// A span of local wall-clock minutes within one day, `start < end <= 1440`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MinuteSpan {
    /// First minute, from local midnight.
    pub start: u16,
    /// Minute after the last one.
    pub end: u16,
}

/// A weekly working span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeeklySpan {
    /// ISO weekday, 1 = Monday.
    pub weekday: u8,
    /// When on that day.
    pub span: MinuteSpan,
}

/// What a dated exception does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExceptionKind {
    /// No work in the span; the whole day when the span is absent.
    Closed,
    /// An extra shift.
    Open,
}

/// A change to the weekly hours on one date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatedException {
    /// The local date.
    pub date: NaiveDate,
    /// Closed or open.
    pub kind: ExceptionKind,
    /// The span; `None` only for a whole closed day.
    pub span: Option<MinuteSpan>,
}

/// An agent's hours and what is already booked.
#[derive(Debug, Clone, Default)]
pub struct AgentCalendar {
    /// Weekly spans.
    pub weekly: Vec<WeeklySpan>,
    /// Dated exceptions.
    pub exceptions: Vec<DatedException>,
    /// Active bookings as `[start, end)`, in any order.
    pub busy: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

/// Where and how to look for slots.
#[derive(Debug, Clone, Copy)]
pub struct SlotSearch {
    /// The zone the hours are written in.
    pub zone: Tz,
    /// Earliest start considered.
    pub from: DateTime<Utc>,
    /// Starts must be before this.
    pub until: DateTime<Utc>,
    /// How long the product takes.
    pub duration: Duration,
    /// Step between candidate starts, counted from the start of each working span.
    pub step: Duration,
    /// Nothing starts before now.
    pub now: DateTime<Utc>,
}

/// Returns the merged working spans of `date`: the weekly spans of its weekday and the open
/// exceptions, minus the closed ones.
pub fn working_spans(calendar: &AgentCalendar, date: NaiveDate) -> Vec<MinuteSpan> {
    let weekday = u8::try_from(date.weekday().number_from_monday()).unwrap_or(0);
    let exceptions = calendar
        .exceptions
        .iter()
        .filter(|exception| exception.date == date);
    let mut spans: Vec<MinuteSpan> = calendar
        .weekly
        .iter()
        .filter(|weekly| weekly.weekday == weekday)
        .map(|weekly| weekly.span)
        .collect();
    let mut closed = Vec::new();
    for exception in exceptions {
        match (exception.kind, exception.span) {
            (ExceptionKind::Open, Some(span)) => spans.push(span),
            (ExceptionKind::Closed, Some(span)) => closed.push(span),
            (ExceptionKind::Closed, None) => return Vec::new(),
            (ExceptionKind::Open, None) => {}
        }
    }
    let mut merged = merge(spans);
    for cut in closed {
        merged = merged
            .into_iter()
            .flat_map(|span| subtract(span, cut))
            .collect();
    }
    merged
}

fn merge(mut spans: Vec<MinuteSpan>) -> Vec<MinuteSpan> {
    spans.sort();
    let mut merged: Vec<MinuteSpan> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    merged
}

fn subtract(span: MinuteSpan, cut: MinuteSpan) -> Vec<MinuteSpan> {
    let mut kept = Vec::with_capacity(2);
    if cut.start > span.start {
        kept.push(MinuteSpan {
            start: span.start,
            end: span.end.min(cut.start),
        });
    }
    if cut.end < span.end {
        kept.push(MinuteSpan {
            start: span.start.max(cut.end),
            end: span.end,
        });
    }
    kept.retain(|part| part.start < part.end);
    kept
}

/// Returns the instant at which the wall clock of `zone` shows `minute` on `date`.
///
/// A time that happens twice (the hour the clocks go back) is taken at its first occurrence
/// when it opens a span and its second when it closes one, so a span covers all of the wall
/// time it names. A time that never happens (the hour skipped when clocks go forward) is
/// taken as the end of that gap.
pub fn local_instant(zone: Tz, date: NaiveDate, minute: u16, closes_span: bool) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    let mut local = midnight + Duration::minutes(i64::from(minute));
    // Gaps are at most a few hours; walk forward to the first wall time that exists.
    for _ in 0..=24 * 60 {
        match zone.from_local_datetime(&local) {
            LocalResult::Single(instant) => return instant.with_timezone(&Utc),
            LocalResult::Ambiguous(first, second) => {
                let chosen = if closes_span { second } else { first };
                return chosen.with_timezone(&Utc);
            }
            LocalResult::None => local += Duration::minutes(1),
        }
    }
    // Unreachable for real zones; fall back to reading the wall time as UTC.
    Utc.from_utc_datetime(&local)
}

/// Returns the working spans of the local dates that overlap `[from, until)`, as instants.
pub fn working_instants(
    calendar: &AgentCalendar,
    zone: Tz,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let first_date = from.with_timezone(&zone).date_naive();
    let last_date = (until - Duration::seconds(1))
        .with_timezone(&zone)
        .date_naive();
    let mut instants = Vec::new();
    let mut date = first_date;
    while date <= last_date {
        for span in working_spans(calendar, date) {
            let start = local_instant(zone, date, span.start, false);
            let end = local_instant(zone, date, span.end, true);
            if start < end && end > from && start < until {
                instants.push((start, end));
            }
        }
        let Some(next) = date.succ_opt() else {
            break;
        };
        date = next;
    }
    instants
}

/// Returns every start in `search` at which the agent is working for the whole duration and
/// no booking overlaps, earliest first.
pub fn free_starts(calendar: &AgentCalendar, search: &SlotSearch) -> Vec<DateTime<Utc>> {
    let mut busy = calendar.busy.clone();
    busy.sort_unstable();
    free_starts_around(calendar, &busy, search)
}

/// Like [`free_starts`], with the bookings given apart from the calendar (its `busy` is
/// ignored), already sorted by start: a search reuses cached hours and bookings without
/// copying either.
pub fn free_starts_around(
    calendar: &AgentCalendar,
    busy: &[(DateTime<Utc>, DateTime<Utc>)],
    search: &SlotSearch,
) -> Vec<DateTime<Utc>> {
    if search.duration <= Duration::zero() || search.step <= Duration::zero() {
        return Vec::new();
    }
    let earliest = search.from.max(search.now);
    let mut starts = Vec::new();
    for (span_start, span_end) in working_instants(calendar, search.zone, search.from, search.until)
    {
        let mut start = span_start;
        // Skip whole steps before the window instead of walking them one by one.
        if start < earliest {
            let behind = (earliest - start).num_seconds();
            let step = search.step.num_seconds();
            start += Duration::seconds((behind + step - 1) / step * step);
        }
        let mut first_busy = busy.partition_point(|(_, busy_end)| *busy_end <= start);
        while start + search.duration <= span_end && start < search.until {
            let end = start + search.duration;
            while first_busy < busy.len() && busy[first_busy].1 <= start {
                first_busy += 1;
            }
            let overlaps = busy[first_busy..]
                .iter()
                .take_while(|(busy_start, _)| *busy_start < end)
                .any(|(_, busy_end)| *busy_end > start);
            if !overlaps {
                starts.push(start);
            }
            start += search.step;
        }
    }
    starts
}

/// Returns whether `[start, start + duration)` lies inside one working span of the calendar
/// and on the step grid of that span: the test a booking passes before it is written.
pub fn is_bookable_start(
    calendar: &AgentCalendar,
    zone: Tz,
    start: DateTime<Utc>,
    duration: Duration,
    step: Duration,
) -> bool {
    let end = start + duration;
    working_instants(calendar, zone, start, end)
        .into_iter()
        .any(|(span_start, span_end)| {
            span_start <= start
                && end <= span_end
                && (start - span_start).num_seconds() % step.num_seconds().max(1) == 0
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn span(start: u16, end: u16) -> MinuteSpan {
        MinuteSpan { start, end }
    }

    fn every_day(start: u16, end: u16) -> Vec<WeeklySpan> {
        (1..=7)
            .map(|weekday| WeeklySpan {
                weekday,
                span: span(start, end),
            })
            .collect()
    }

    fn local(zone: Tz, instants: &[DateTime<Utc>]) -> Vec<String> {
        instants
            .iter()
            .map(|instant| instant.with_timezone(&zone).format("%H:%M%:z").to_string())
            .collect()
    }

    fn day_search(zone: Tz, day: &str, minutes: i64) -> SlotSearch {
        let day = date(day);
        SlotSearch {
            zone,
            from: local_instant(zone, day, 0, false),
            until: local_instant(zone, day.succ_opt().unwrap(), 0, false),
            duration: Duration::minutes(minutes),
            step: Duration::minutes(minutes),
            now: at("2020-01-01T00:00:00Z"),
        }
    }

    #[test]
    fn berlin_spring_forward_skips_the_missing_hour() {
        let zone = chrono_tz::Europe::Berlin;
        let calendar = AgentCalendar {
            weekly: every_day(0, 6 * 60),
            ..AgentCalendar::default()
        };
        let starts = free_starts(&calendar, &day_search(zone, "2026-03-29", 60));
        // 00:00-06:00 on the wall clock is five real hours that day.
        assert_eq!(
            local(zone, &starts),
            [
                "00:00+01:00",
                "01:00+01:00",
                "03:00+02:00",
                "04:00+02:00",
                "05:00+02:00"
            ]
        );
    }

    #[test]
    fn berlin_fall_back_repeats_the_doubled_hour() {
        let zone = chrono_tz::Europe::Berlin;
        let calendar = AgentCalendar {
            weekly: every_day(0, 4 * 60),
            ..AgentCalendar::default()
        };
        let starts = free_starts(&calendar, &day_search(zone, "2026-10-25", 60));
        assert_eq!(
            local(zone, &starts),
            [
                "00:00+02:00",
                "01:00+02:00",
                "02:00+02:00",
                "02:00+01:00",
                "03:00+01:00"
            ]
        );
    }

    #[test]
    fn new_york_transition_days_keep_business_hours_in_local_time() {
        let zone = chrono_tz::America::New_York;
        let calendar = AgentCalendar {
            weekly: every_day(9 * 60, 11 * 60),
            ..AgentCalendar::default()
        };
        let march = free_starts(&calendar, &day_search(zone, "2026-03-08", 60));
        assert_eq!(local(zone, &march), ["09:00-04:00", "10:00-04:00"]);
        assert_eq!(march[0], at("2026-03-08T13:00:00Z"));
        let november = free_starts(&calendar, &day_search(zone, "2026-11-01", 60));
        assert_eq!(local(zone, &november), ["09:00-05:00", "10:00-05:00"]);
        assert_eq!(november[0], at("2026-11-01T14:00:00Z"));
    }

    #[test]
    fn a_span_starting_inside_the_gap_starts_when_the_gap_ends() {
        let zone = chrono_tz::America::New_York;
        assert_eq!(
            local_instant(zone, date("2026-03-08"), 2 * 60 + 30, false),
            at("2026-03-08T07:00:00Z")
        );
    }

    #[test]
    fn bookings_and_the_past_remove_starts() {
        let zone = chrono_tz::UTC;
        let calendar = AgentCalendar {
            weekly: every_day(8 * 60, 12 * 60),
            busy: vec![
                (at("2026-12-01T09:15:00Z"), at("2026-12-01T09:45:00Z")),
                (at("2026-12-01T11:30:00Z"), at("2026-12-01T12:00:00Z")),
            ],
            ..AgentCalendar::default()
        };
        let mut search = day_search(zone, "2026-12-01", 30);
        search.now = at("2026-12-01T08:10:00Z");
        let starts = free_starts(&calendar, &search);
        assert_eq!(
            local(zone, &starts),
            ["08:30+00:00", "10:00+00:00", "10:30+00:00", "11:00+00:00"]
        );
    }

    #[test]
    fn a_finer_step_offers_overlapping_starts() {
        let zone = chrono_tz::UTC;
        let calendar = AgentCalendar {
            weekly: every_day(8 * 60, 9 * 60),
            ..AgentCalendar::default()
        };
        let mut search = day_search(zone, "2026-12-01", 45);
        search.step = Duration::minutes(15);
        assert_eq!(
            local(zone, &free_starts(&calendar, &search)),
            ["08:00+00:00", "08:15+00:00"]
        );
    }

    #[test]
    fn exceptions_close_days_cut_spans_and_add_shifts() {
        let monday = date("2026-11-30");
        let calendar = AgentCalendar {
            weekly: vec![
                WeeklySpan {
                    weekday: 1,
                    span: span(8 * 60, 12 * 60),
                },
                WeeklySpan {
                    weekday: 1,
                    span: span(13 * 60, 17 * 60),
                },
            ],
            exceptions: vec![
                DatedException {
                    date: monday,
                    kind: ExceptionKind::Closed,
                    span: Some(span(10 * 60, 14 * 60)),
                },
                DatedException {
                    date: monday,
                    kind: ExceptionKind::Open,
                    span: Some(span(18 * 60, 19 * 60)),
                },
                DatedException {
                    date: date("2026-12-07"),
                    kind: ExceptionKind::Closed,
                    span: None,
                },
            ],
            busy: Vec::new(),
        };
        assert_eq!(
            working_spans(&calendar, monday),
            [span(480, 600), span(840, 1020), span(1080, 1140)]
        );
        assert!(working_spans(&calendar, date("2026-12-07")).is_empty());
        assert_eq!(working_spans(&calendar, date("2026-12-14")).len(), 2);
    }

    #[test]
    fn bookable_starts_must_lie_on_the_grid_inside_a_span() {
        let zone = chrono_tz::Europe::Berlin;
        let calendar = AgentCalendar {
            weekly: every_day(8 * 60, 12 * 60),
            ..AgentCalendar::default()
        };
        let thirty = Duration::minutes(30);
        assert!(is_bookable_start(
            &calendar,
            zone,
            at("2026-12-01T07:30:00Z"),
            thirty,
            thirty
        ));
        assert!(!is_bookable_start(
            &calendar,
            zone,
            at("2026-12-01T07:40:00Z"),
            thirty,
            thirty
        ));
        assert!(!is_bookable_start(
            &calendar,
            zone,
            at("2026-12-01T10:45:00Z"),
            thirty,
            thirty
        ));
        assert!(!is_bookable_start(
            &calendar,
            zone,
            at("2026-12-01T06:30:00Z"),
            thirty,
            thirty
        ));
    }
}
