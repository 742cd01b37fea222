//! Cron expressions as crontab(5) reads them, in UTC: five fields, or six with a leading seconds
//! field; day-of-week 0 or 7 is Sunday; when both day-of-month and day-of-week are restricted, a
//! day matching either fires — and, as Vixie cron decides "restricted", a field that starts with
//! `*` (`*/2`) is not, so `0 0 */2 * 1` fires on odd days that are Mondays. Parsed by `croner`, which follows crontab there (the
//! `cron` crate numbers the days of the week differently); times are the queue's milliseconds.

use std::cmp::Ordering;
use std::fmt;

use croner::errors::CronError;
use croner::parser::{CronParser, Seconds};
use croner::{CivilDate, CivilDateTime, CivilTime, CronDateTime, Resolution, Weekday};
use time::OffsetDateTime;

/// A parsed expression.
#[derive(Clone)]
pub struct CronExpr {
    text: String,
    cron: croner::Cron,
}

impl fmt::Debug for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronExpr({:?})", self.text)
    }
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Why an expression does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CronParseError(String);

impl CronExpr {
    /// Parses `text`: five crontab fields, or six with a leading seconds field.
    pub fn parse(text: &str) -> Result<Self, CronParseError> {
        let fields = text.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(CronParseError(format!(
                "`{text}` has {fields} fields: five (minute hour day-of-month month day-of-week), \
                 or six with a leading seconds field"
            )));
        }
        // Day-of-month and day-of-week are the last two but one and the last fields. croner takes
        // only a bare `*` as unrestricted; Vixie cron any field that starts with `*`, and then
        // both must match.
        let parts: Vec<&str> = text.split_whitespace().collect();
        let star = |field: &str| field.starts_with('*');
        let both_must_match = star(parts[fields - 3]) || star(parts[fields - 1]);
        let parser = CronParser::builder()
            .seconds(Seconds::Optional)
            .dom_and_dow(both_must_match)
            .alternative_weekdays(false)
            .build();
        let cron = parser
            .parse(text)
            .map_err(|e| CronParseError(format!("`{text}`: {e}")))?;
        let expr = Self {
            text: text.to_owned(),
            cron,
        };
        // From 2000-01-01, an expression that can fire does so within years.
        if expr.next_after(946_684_800_000).is_none() {
            return Err(CronParseError(format!("`{text}` never fires")));
        }
        Ok(expr)
    }

    /// The expression as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The newest tick at or before `ms`, if any.
    pub fn latest_at_or_before(&self, ms: i64) -> Option<i64> {
        let at = Utc::from_ms(ms)?;
        self.cron
            .find_previous_occurrence(&at, true)
            .ok()
            .map(|t| t.ms())
    }

    /// The first tick after `ms`, if any.
    pub fn next_after(&self, ms: i64) -> Option<i64> {
        let at = Utc::from_ms(ms)?;
        self.cron
            .find_next_occurrence(&at, false)
            .ok()
            .map(|t| t.ms())
    }
}

/// A UTC time to the second, as croner searches over it.
#[derive(Debug, Clone, Copy)]
struct Utc(OffsetDateTime);

impl Utc {
    fn from_ms(ms: i64) -> Option<Self> {
        // Ticks fall on whole seconds: search from the second `ms` falls in.
        let seconds = ms.div_euclid(1000);
        OffsetDateTime::from_unix_timestamp(seconds).ok().map(Self)
    }

    fn ms(self) -> i64 {
        self.0.unix_timestamp() * 1000
    }
}

impl CronDateTime for Utc {
    fn to_civil(&self) -> CivilDateTime {
        let t = self.0;
        CivilDateTime::new(
            CivilDate::from_parts_unchecked(
                t.year(),
                u32::from(u8::from(t.month())),
                u32::from(t.day()),
            ),
            CivilTime::from_parts_unchecked(
                u32::from(t.hour()),
                u32::from(t.minute()),
                u32::from(t.second()),
            ),
        )
    }

    fn civil_weekday(&self) -> Weekday {
        Weekday::from_days_from_sunday(u32::from(self.0.weekday().number_days_from_sunday()))
    }

    fn resolve_civil(&self, civil: CivilDateTime) -> Result<Resolution<Self>, CronError> {
        let month = u8::try_from(civil.month())
            .ok()
            .and_then(|m| time::Month::try_from(m).ok())
            .ok_or(CronError::InvalidDate)?;
        let day = u8::try_from(civil.day()).map_err(|_| CronError::InvalidDate)?;
        let date = time::Date::from_calendar_date(civil.year(), month, day)
            .map_err(|_| CronError::InvalidDate)?;
        let hms = |v: u32| u8::try_from(v).map_err(|_| CronError::InvalidTime);
        let clock = time::Time::from_hms(
            hms(civil.hour())?,
            hms(civil.minute())?,
            hms(civil.second())?,
        )
        .map_err(|_| CronError::InvalidTime)?;
        // UTC has no daylight saving: every wall clock time happens once.
        Ok(Resolution::Single(Self(date.with_time(clock).assume_utc())))
    }

    fn checked_add_seconds(&self, seconds: i64) -> Option<Self> {
        self.0
            .checked_add(time::Duration::seconds(seconds))
            .map(Self)
    }

    fn cmp_instant(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ms` of a UTC date and time.
    fn at(year: i32, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> i64 {
        let date = time::Date::from_calendar_date(year, time::Month::try_from(month).unwrap(), day)
            .unwrap();
        date.with_hms(hour, minute, second)
            .unwrap()
            .assume_utc()
            .unix_timestamp()
            * 1000
    }

    #[test]
    fn monday_to_friday_skips_the_weekend() {
        let weekdays = CronExpr::parse("0 9 * * 1-5").unwrap();
        // 2026-11-27 is a Friday.
        let friday_noon = at(2026, 11, 27, 12, 0, 0);
        assert_eq!(
            weekdays.next_after(friday_noon),
            Some(at(2026, 11, 30, 9, 0, 0)),
            "Monday"
        );
        assert_eq!(
            weekdays.latest_at_or_before(at(2026, 11, 29, 23, 0, 0)),
            Some(at(2026, 11, 27, 9, 0, 0))
        );
        let named = CronExpr::parse("0 9 * * MON-FRI").unwrap();
        assert_eq!(
            named.next_after(friday_noon),
            weekdays.next_after(friday_noon)
        );
    }

    #[test]
    fn zero_and_seven_are_sunday() {
        let saturday = at(2026, 11, 28, 12, 0, 0);
        let sunday = at(2026, 11, 29, 0, 0, 0);
        for text in ["0 0 * * 0", "0 0 * * 7", "0 0 * * SUN"] {
            assert_eq!(
                CronExpr::parse(text).unwrap().next_after(saturday),
                Some(sunday),
                "{text}"
            );
        }
    }

    #[test]
    fn a_restricted_day_of_month_and_day_of_week_fire_on_either() {
        // Vixie cron: the 1st of the month, and every Monday.
        let expr = CronExpr::parse("0 0 1 * MON").unwrap();
        let mut t = at(2026, 11, 26, 0, 0, 0); // a Thursday
        let mut fired = Vec::new();
        for _ in 0..4 {
            t = expr.next_after(t).unwrap();
            fired.push(t);
        }
        assert_eq!(
            fired,
            vec![
                at(2026, 11, 30, 0, 0, 0), // Monday
                at(2026, 12, 1, 0, 0, 0),  // the 1st, a Tuesday
                at(2026, 12, 7, 0, 0, 0),  // Monday
                at(2026, 12, 14, 0, 0, 0), // Monday
            ]
        );
    }

    #[test]
    fn a_field_starting_with_a_star_is_unrestricted_as_in_vixie_cron() {
        // Odd days of the month that are Mondays: both must match.
        let expr = CronExpr::parse("0 0 */2 * 1").unwrap();
        let mut t = at(2026, 11, 26, 0, 0, 0);
        let mut fired = Vec::new();
        for _ in 0..2 {
            t = expr.next_after(t).unwrap();
            fired.push(t);
        }
        // 2026-12-07 and 2026-12-21 are Mondays on odd days; 2026-11-30 is an even one.
        assert_eq!(
            fired,
            vec![at(2026, 12, 7, 0, 0, 0), at(2026, 12, 21, 0, 0, 0)]
        );
    }

    #[test]
    fn a_leading_seconds_field_is_optional() {
        let every_two = CronExpr::parse("*/2 * * * * *").unwrap();
        let t = at(2026, 11, 30, 8, 0, 1) + 500;
        assert_eq!(
            every_two.latest_at_or_before(t),
            Some(at(2026, 11, 30, 8, 0, 0))
        );
        assert_eq!(every_two.next_after(t), Some(at(2026, 11, 30, 8, 0, 2)));
        let quarter = CronExpr::parse("*/15 * * * *").unwrap();
        assert_eq!(quarter.next_after(t), Some(at(2026, 11, 30, 8, 15, 0)));
        assert_eq!(
            quarter.latest_at_or_before(at(2026, 11, 30, 8, 15, 0)),
            Some(at(2026, 11, 30, 8, 15, 0)),
            "at a tick, that tick"
        );
    }

    #[test]
    fn bad_expressions_say_why() {
        for text in [
            "",
            "* * *",
            "61 * * * *",
            "* * * * * * * *",
            "0 0 32 * *",
            "0 0 * * EIGHTDAY",
            "0 0 30 2 *",
        ] {
            let error = CronExpr::parse(text).unwrap_err();
            assert!(!error.to_string().is_empty(), "{text}");
        }
    }
}
