//! When a scheduled source is due: a fixed interval (`every = "6h"`) or a
//! five-field cron expression (`every = "0 */6 * * *"`, minute hour
//! day-of-month month day-of-week, in UTC). Pure calculation, no I/O.

use std::time::Duration;

use crate::error::TagsError;

/// How often a source is fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// At least this long after the previous attempt.
    Every(Duration),
    /// At each minute the expression matches.
    Cron(Cron),
}

impl Schedule {
    /// Parses `6h`, `90m`, `1d` (humantime) or a five-field cron expression.
    ///
    /// # Errors
    /// [`TagsError::Config`] naming the field `every`.
    pub fn parse(text: &str) -> Result<Schedule, TagsError> {
        let text = text.trim();
        if text.split_whitespace().count() == 5 {
            return Cron::parse(text).map(Schedule::Cron);
        }
        let every = humantime::parse_duration(text).map_err(|err| {
            TagsError::config("every", format!("{text:?} is neither a duration nor a cron expression: {err}"))
        })?;
        if every.is_zero() {
            return Err(TagsError::config("every", "the interval must be longer than zero"));
        }
        Ok(Schedule::Every(every))
    }

    /// Whether a source last attempted at `last` (Unix seconds; `None` if
    /// never) is due at `now`.
    pub fn is_due(&self, last: Option<u64>, now: u64) -> bool {
        let Some(last) = last else { return true };
        match self {
            Schedule::Every(every) => now >= last.saturating_add(every.as_secs()),
            Schedule::Cron(cron) => cron.next_after(last).is_some_and(|next| next <= now),
        }
    }
}

/// A parsed cron expression: the allowed values of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Vec<bool>,
    months: Vec<bool>,
    weekdays: Vec<bool>,
    days_restricted: bool,
    weekdays_restricted: bool,
}

fn parse_field(text: &str, name: &str, min: u32, max: u32) -> Result<(Vec<bool>, bool), TagsError> {
    let bad = |why: &str| TagsError::config("every", format!("cron {name} field {text:?}: {why}"));
    let mut allowed = vec![false; max as usize + 1];
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, step.parse::<u32>().map_err(|_| bad("bad step"))?),
            None => (part, 1),
        };
        if step == 0 {
            return Err(bad("step 0"));
        }
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((lo, hi)) = range.split_once('-') {
            (lo.parse().map_err(|_| bad("bad range"))?, hi.parse().map_err(|_| bad("bad range"))?)
        } else {
            let v: u32 = range.parse().map_err(|_| bad("not a number"))?;
            (v, if part.contains('/') { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return Err(bad(&format!("outside {min}-{max}")));
        }
        for v in (lo..=hi).step_by(step as usize) {
            allowed[v as usize] = true;
        }
    }
    Ok((allowed, text != "*"))
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl Cron {
    /// Parses `minute hour day-of-month month day-of-week` with `*`, lists,
    /// ranges and steps (`*/15`, `1-5`, `0,30`); day-of-week 0 or 7 is Sunday.
    ///
    /// # Errors
    /// [`TagsError::Config`] naming the bad field.
    pub fn parse(text: &str) -> Result<Cron, TagsError> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [m, h, dom, mon, dow] = fields.as_slice() else {
            return Err(TagsError::config("every", format!("cron {text:?} needs five fields")));
        };
        let (minutes, _) = parse_field(m, "minute", 0, 59)?;
        let (hours, _) = parse_field(h, "hour", 0, 23)?;
        let (days, days_restricted) = parse_field(dom, "day-of-month", 1, 31)?;
        let (months, _) = parse_field(mon, "month", 1, 12)?;
        let (mut weekdays, weekdays_restricted) = parse_field(dow, "day-of-week", 0, 7)?;
        if weekdays[7] {
            weekdays[0] = true;
        }
        Ok(Cron { minutes, hours, days, months, weekdays, days_restricted, weekdays_restricted })
    }

    fn matches_day(&self, days_since_epoch: i64) -> bool {
        let (_, month, day) = civil_from_days(days_since_epoch);
        // 1970-01-01 was a Thursday (4).
        let weekday = (days_since_epoch + 4).rem_euclid(7) as usize;
        if !self.months[month as usize] {
            return false;
        }
        let (dom, dow) = (self.days[day as usize], self.weekdays[weekday]);
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }

    /// The first matching minute strictly after `after` (Unix seconds),
    /// searched up to about four years ahead.
    pub fn next_after(&self, after: u64) -> Option<u64> {
        let start_minute = after / 60 + 1;
        let first_day = (start_minute / 1440) as i64;
        let mut minute_of_day = (start_minute % 1440) as u32;
        for day in first_day..=first_day + 366 * 4 {
            if self.matches_day(day) {
                for m in minute_of_day..1440 {
                    if self.hours[(m / 60) as usize] && self.minutes[(m % 60) as usize] {
                        return Some((day as u64 * 1440 + u64::from(m)) * 60);
                    }
                }
            }
            minute_of_day = 0;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_cron_decide_due() {
        let every = Schedule::parse("6h").unwrap();
        assert!(every.is_due(None, 0));
        assert!(!every.is_due(Some(1000), 1000 + 6 * 3600 - 1));
        assert!(every.is_due(Some(1000), 1000 + 6 * 3600));
        let cron = Schedule::parse("0 */6 * * *").unwrap();
        // 1970-01-01 05:59 -> next is 06:00.
        assert!(!cron.is_due(Some(5 * 3600 + 59 * 60), 5 * 3600 + 59 * 60 + 30));
        assert!(cron.is_due(Some(5 * 3600 + 59 * 60), 6 * 3600));
        assert!(Schedule::parse("soon").is_err());
        assert!(Schedule::parse("61 * * * *").is_err());
    }

    #[test]
    fn cron_day_fields() {
        // Mondays at 03:30; 1970-01-05 was a Monday.
        let cron = Cron::parse("30 3 * * 1").unwrap();
        assert_eq!(cron.next_after(0), Some((4 * 1440 + 3 * 60 + 30) * 60));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    }
}
