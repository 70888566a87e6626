//! Cron schedules: Unix cron text normalised for the `cron` crate, evaluated in a timezone.
//!
//! Accepted forms: 5-field Unix cron (`minute hour day-of-month month day-of-week`), 6 fields
//! with seconds first, and `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily`
//! (`@midnight`), `@hourly`. Day-of-week numbers are Unix ones in both forms — `0` and `7` are
//! Sunday, `1-5` is Monday to Friday — and day names (`mon`, `FRI`) work too.
//!
//! Pitfalls handled here:
//! - The `cron` crate wants seconds first and numbers days of the week 1–7 from Sunday, so
//!   the day-of-week field is rewritten with day names, which mean the same in both worlds:
//!   `0 9 * * 1-5` normalises to `0 0 9 * * MON-FRI`. The normalised text parses to itself.
//! - Unix cron fires when *either* day-of-month or day-of-week matches if both are restricted
//!   (`0 0 1 * MON`: the 1st and every Monday); the crate requires both. Such a spec keeps two
//!   crate schedules and fires at the earlier of their next times.
//! - Daylight saving time, evaluated in the trigger's timezone:
//!   - a wall-clock time that does not exist (spring forward: 02:30 in Europe/Amsterdam on the
//!     last Sunday of March) fires once, at the first instant after the gap (03:00 local);
//!   - a wall-clock time that happens twice (fall back: 02:30 on the last Sunday of October)
//!     fires once, at its first occurrence — unless the hour field is `*`: schedules that fire
//!     every hour (`*/5 * * * *`) keep firing through the repeated hour, so they have no gap.

use chrono::offset::LocalResult;
use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// A parsed, normalised cron schedule.
#[derive(Clone)]
pub struct CronSpec {
    /// The normalised 6-field text (seconds first, day names for the day of week).
    normalized: String,
    /// One crate schedule, or two when day-of-month and day-of-week are both restricted.
    schedules: Vec<cron::Schedule>,
    /// Whether the hour field is `*` (see the module docs on fall-back days).
    every_hour: bool,
}

const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// How far back in wall-clock time to look for candidates when the clock was set back recently.
const FALL_BACK_WINDOW_HOURS: i64 = 3;

impl CronSpec {
    /// Parses a schedule, with a message saying what is wrong when it does not parse.
    pub fn parse(text: &str) -> Result<CronSpec, String> {
        let text = text.trim();
        let expanded = match text.strip_prefix('@') {
            Some(name) => macro_schedule(name).ok_or_else(|| {
                format!(
                    "unknown schedule `@{name}`; use @yearly, @monthly, @weekly, @daily or @hourly"
                )
            })?,
            None => text,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let (sec, rest) = match fields.len() {
            5 => ("0", &fields[..]),
            6 => (fields[0], &fields[1..]),
            n => {
                return Err(format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, found {n}"
                ))
            }
        };
        let (min, hour, dom, month) = (rest[0], rest[1], rest[2], rest[3]);
        let dow = normalize_day_of_week(rest[4])
            .map_err(|e| format!("day-of-week field `{}`: {e}", rest[4]))?;

        // Validate field by field, so the message names the field at fault.
        for (name, value, range, probe) in [
            ("seconds", sec, "0–59", format!("{sec} * * * * *")),
            ("minute", min, "0–59", format!("0 {min} * * * *")),
            ("hour", hour, "0–23", format!("0 0 {hour} * * *")),
            ("day-of-month", dom, "1–31", format!("0 0 0 {dom} * *")),
            (
                "month",
                month,
                "1–12 or jan–dec",
                format!("0 0 0 * {month} *"),
            ),
        ] {
            if cron::Schedule::from_str(&probe).is_err() {
                return Err(format!(
                    "{name} field `{value}` is not valid (values {range}, with `*`, `a-b`, `a,b` and `/step`)"
                ));
            }
        }

        let normalized = format!("{sec} {min} {hour} {dom} {month} {dow}");
        let restricted = |f: &str| !(f.starts_with('*') || f.starts_with('?'));
        let texts = if restricted(dom) && restricted(&dow) {
            vec![
                format!("{sec} {min} {hour} {dom} {month} *"),
                format!("{sec} {min} {hour} * {month} {dow}"),
            ]
        } else {
            vec![normalized.clone()]
        };
        let schedules = texts
            .iter()
            .map(|t| cron::Schedule::from_str(t).map_err(|e| format!("not a valid schedule ({e})")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CronSpec {
            normalized,
            schedules,
            every_hour: hour == "*",
        })
    }

    /// The normalised text: 6 fields, seconds first, day names for the day of week.
    pub fn as_str(&self) -> &str {
        &self.normalized
    }

    /// The first time strictly after `after` at which the schedule fires, reading the schedule
    /// in `tz` (see the module docs for daylight-saving days). `None` if it never fires again.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&tz).naive_local();
        // Wall-clock times just before `local` can still lie ahead when the clock is set back
        // around now (a repeated hour); only near an offset change is it worth scanning from
        // further back.
        let window = TimeDelta::hours(FALL_BACK_WINDOW_HOURS);
        let offset_at =
            |t: Option<DateTime<Utc>>| t.map(|t| tz.offset_from_utc_datetime(&t.naive_utc()));
        let near_change = |t: DateTime<Utc>| {
            let at = offset_at(Some(t));
            offset_at(t.checked_sub_signed(window)) != at
                || offset_at(t.checked_add_signed(window)) != at
        };
        let mut from = if near_change(after) {
            local.checked_sub_signed(window)?
        } else {
            local
        };

        let mut best: Option<DateTime<Utc>> = None;
        let mut horizon: Option<NaiveDateTime> = None;
        loop {
            let naive = self.next_naive(from)?;
            if horizon.is_some_and(|h| naive > h) {
                return best;
            }
            for instant in self.instants(naive, tz) {
                if instant > after && best.is_none_or(|b| instant < b) {
                    best = Some(instant);
                }
            }
            // Once something fires, anything more than the largest offset change later in wall
            // time is also later in absolute time, so the search can stop there; with no offset
            // change near the time found, wall-clock order is time order, so it stops now (a
            // schedule with seconds would otherwise walk three hours of them).
            if let Some(found) = best.filter(|_| horizon.is_none()) {
                if !near_change(found) {
                    return best;
                }
                horizon = naive.checked_add_signed(window);
            }
            from = naive;
        }
    }

    /// The next wall-clock time strictly after `from` at which any schedule matches.
    fn next_naive(&self, from: NaiveDateTime) -> Option<NaiveDateTime> {
        // The crate does the field matching on naive times (read as UTC, where no DST exists).
        let from = Utc.from_utc_datetime(&from);
        self.schedules
            .iter()
            .filter_map(|s| s.after(&from).next())
            .map(|d| d.naive_utc())
            .min()
    }

    /// The instants a wall-clock time stands for in `tz`.
    fn instants(&self, naive: NaiveDateTime, tz: Tz) -> Vec<DateTime<Utc>> {
        match tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => vec![t.with_timezone(&Utc)],
            LocalResult::Ambiguous(first, second) if self.every_hour => {
                vec![first.with_timezone(&Utc), second.with_timezone(&Utc)]
            }
            LocalResult::Ambiguous(first, _) => vec![first.with_timezone(&Utc)],
            LocalResult::None => gap_end(naive, tz).into_iter().collect(),
        }
    }
}

/// The first instant after a skipped wall-clock time (the end of a spring-forward gap).
fn gap_end(naive: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    // Gaps are an hour or less in practice; a whole skipped day (Samoa, 2011) is the extreme.
    (1..=26 * 60).find_map(|minutes| {
        let probe = naive.checked_add_signed(TimeDelta::minutes(minutes))?;
        tz.from_local_datetime(&probe)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
}

fn macro_schedule(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "yearly" | "annually" => "0 0 1 1 *",
        "monthly" => "0 0 1 * *",
        "weekly" => "0 0 * * 0",
        "daily" | "midnight" => "0 0 * * *",
        "hourly" => "0 * * * *",
        _ => return None,
    })
}

/// Rewrites a Unix day-of-week field with day names (which the crate reads the same way).
/// `*` and `?` stay as they are, since they also decide the day-of-month/day-of-week rule.
fn normalize_day_of_week(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok(field.to_string());
    }
    let mut days = BTreeSet::new();
    for item in field.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => {
                let step: u8 = step
                    .parse()
                    .map_err(|_| format!("`{step}` is not a step"))?;
                if step == 0 {
                    return Err("a step must be at least 1".into());
                }
                (base, step)
            }
            None => (item, 1),
        };
        let (first, last) = if base == "*" || base == "?" {
            (0, 6)
        } else if let Some((a, b)) = base.split_once('-') {
            let (a, b) = (day_number(a)?, day_number(b)?);
            if a > b {
                return Err(format!("the range `{base}` goes backwards"));
            }
            (a, b)
        } else {
            let a = day_number(base)?;
            // `a/n` means from `a` to Saturday in steps of `n`.
            (a, if item.contains('/') { 6 } else { a })
        };
        let mut day = first;
        while day <= last {
            days.insert(day % 7);
            day = day.saturating_add(step);
        }
    }
    Ok(compress_days(&days))
}

/// A Unix day-of-week value: 0–7 (0 and 7 are Sunday) or a name.
fn day_number(text: &str) -> Result<u8, String> {
    if text.is_empty() {
        return Err("a value is missing".into());
    }
    if let Ok(n) = text.parse::<u8>() {
        return if n <= 7 {
            Ok(n)
        } else {
            Err(format!(
                "`{n}` is not a day of the week (0–7, 0 and 7 are Sunday)"
            ))
        };
    }
    let lower = text.to_ascii_lowercase();
    const FULL: [&str; 7] = [
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ];
    FULL.iter()
        .position(|full| lower == full[..3] || lower == *full)
        .map(|i| i as u8)
        .ok_or_else(|| format!("`{text}` is not a day of the week"))
}

/// `{1,2,3,4,5}` → `MON-FRI`; `{0,6}` → `SUN,SAT`.
fn compress_days(days: &BTreeSet<u8>) -> String {
    let days: Vec<u8> = days.iter().copied().collect();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < days.len() {
        let mut j = i;
        while j + 1 < days.len() && days[j + 1] == days[j] + 1 {
            j += 1;
        }
        let name = |d: u8| DAY_NAMES[usize::from(d % 7)];
        parts.push(if j > i {
            format!("{}-{}", name(days[i]), name(days[j]))
        } else {
            name(days[i]).to_string()
        });
        i = j + 1;
    }
    parts.join(",")
}

impl fmt::Debug for CronSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CronSpec").field(&self.normalized).finish()
    }
}

impl fmt::Display for CronSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.normalized)
    }
}

impl PartialEq for CronSpec {
    fn eq(&self, other: &Self) -> bool {
        self.normalized == other.normalized
    }
}

impl Eq for CronSpec {}

impl Serialize for CronSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.normalized)
    }
}

impl<'de> Deserialize<'de> for CronSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        CronSpec::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Timelike, Weekday};

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid test time")
    }

    fn fires(spec: &str, tz: Tz, from: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let spec = CronSpec::parse(spec).expect("parses");
        let mut out = Vec::new();
        let mut at = from;
        for _ in 0..n {
            at = spec.next_after(at, tz).expect("fires");
            out.push(at);
        }
        out
    }

    #[test]
    fn normalises_five_fields_and_unix_weekdays() {
        let n = |s: &str| CronSpec::parse(s).map(|c| c.as_str().to_string());
        assert_eq!(n("*/5 * * * *").as_deref(), Ok("0 */5 * * * *"));
        assert_eq!(n("0 9 * * 1-5").as_deref(), Ok("0 0 9 * * MON-FRI"));
        assert_eq!(n("0 9 * * 0").as_deref(), Ok("0 0 9 * * SUN"));
        assert_eq!(n("0 9 * * 7").as_deref(), Ok("0 0 9 * * SUN"));
        assert_eq!(n("0 9 * * 5-7").as_deref(), Ok("0 0 9 * * SUN,FRI-SAT"));
        assert_eq!(n("0 9 * * 0,6").as_deref(), Ok("0 0 9 * * SUN,SAT"));
        assert_eq!(n("0 9 * * */2").as_deref(), Ok("0 0 9 * * SUN,TUE,THU,SAT"));
        assert_eq!(n("0 9 * * mon-fri").as_deref(), Ok("0 0 9 * * MON-FRI"));
        assert_eq!(n("0 9 * * 1/2").as_deref(), Ok("0 0 9 * * MON,WED,FRI"));
        assert_eq!(n("*/10 * * * * *").as_deref(), Ok("*/10 * * * * *"));
        assert_eq!(n("@hourly").as_deref(), Ok("0 0 * * * *"));
        assert_eq!(n("@daily").as_deref(), Ok("0 0 0 * * *"));
        assert_eq!(n("@weekly").as_deref(), Ok("0 0 0 * * SUN"));
        assert_eq!(n("@monthly").as_deref(), Ok("0 0 0 1 * *"));
        assert_eq!(n("@yearly").as_deref(), Ok("0 0 0 1 1 *"));
    }

    #[test]
    fn normalised_text_parses_to_itself() {
        for s in [
            "0 9 * * 1-5",
            "30 2 * * *",
            "0 0 1 * 1",
            "*/10 * * * * *",
            "@weekly",
            "0 9 * * 5-7",
        ] {
            let once = CronSpec::parse(s).expect("parses");
            let twice = CronSpec::parse(once.as_str()).expect("normalised form parses");
            assert_eq!(once.as_str(), twice.as_str(), "{s}");
        }
    }

    #[test]
    fn rejects_bad_schedules_with_a_reason() {
        let err = |s: &str| CronSpec::parse(s).err().unwrap_or_default();
        assert!(err("* * *").contains("found 3"), "{}", err("* * *"));
        assert!(
            err("61 * * * *").contains("minute"),
            "{}",
            err("61 * * * *")
        );
        assert!(err("0 25 * * *").contains("hour"), "{}", err("0 25 * * *"));
        assert!(
            err("0 0 * * 8").contains("day-of-week"),
            "{}",
            err("0 0 * * 8")
        );
        assert!(err("0 0 * * 5-1").contains("backwards"));
        assert!(err("0 0 * * funday").contains("funday"));
        assert!(
            err("0 0 32 * *").contains("day-of-month"),
            "{}",
            err("0 0 32 * *")
        );
        assert!(err("0 0 * 13 *").contains("month"));
        assert!(err("@fortnightly").contains("@fortnightly"));
        assert!(err("").contains("found 0"));
        assert!(CronSpec::parse("0 0 * * */0").is_err());
    }

    #[test]
    fn weekdays_fire_monday_to_friday() {
        // 2024-06-01 is a Saturday.
        let times = fires("0 9 * * 1-5", Tz::UTC, utc(2024, 6, 1, 12, 0), 6);
        let days: Vec<Weekday> = times.iter().map(|t| t.weekday()).collect();
        use Weekday::*;
        assert_eq!(days, vec![Mon, Tue, Wed, Thu, Fri, Mon]);
        assert!(times.iter().all(|t| t.hour() == 9 && t.minute() == 0));
    }

    #[test]
    fn sunday_is_zero_and_seven() {
        for s in ["0 9 * * 0", "0 9 * * 7", "0 9 * * sun"] {
            let t = fires(s, Tz::UTC, utc(2024, 6, 1, 12, 0), 1)[0];
            assert_eq!(t, utc(2024, 6, 2, 9, 0), "{s}");
        }
    }

    #[test]
    fn day_of_month_or_day_of_week_as_unix_cron_does() {
        // June 2024: the 1st is a Saturday; Mondays are the 3rd and 10th.
        let times = fires("0 0 1 * 1", Tz::UTC, utc(2024, 5, 31, 12, 0), 3);
        assert_eq!(
            times,
            vec![
                utc(2024, 6, 1, 0, 0),
                utc(2024, 6, 3, 0, 0),
                utc(2024, 6, 10, 0, 0)
            ]
        );
    }

    #[test]
    fn reads_the_schedule_in_the_timezone() {
        // 09:00 in New York in June is 13:00 UTC.
        let t = fires(
            "0 9 * * *",
            chrono_tz::America::New_York,
            utc(2024, 6, 1, 0, 0),
            1,
        )[0];
        assert_eq!(t, utc(2024, 6, 1, 13, 0));
    }

    #[test]
    fn spring_forward_fires_once_after_the_gap() {
        // Europe/Amsterdam, 2024-03-31: 02:00 CET jumps to 03:00 CEST (01:00 UTC); 02:30 does not exist.
        let tz = chrono_tz::Europe::Amsterdam;
        let times = fires("30 2 * * *", tz, utc(2024, 3, 30, 12, 0), 3);
        assert_eq!(
            times,
            vec![
                utc(2024, 3, 31, 1, 0),
                utc(2024, 4, 1, 0, 30),
                utc(2024, 4, 2, 0, 30)
            ]
        );
    }

    #[test]
    fn fall_back_does_not_fire_twice() {
        // Europe/Amsterdam, 2024-10-27: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice
        // (00:30 and 01:30 UTC). It fires at the first only.
        let tz = chrono_tz::Europe::Amsterdam;
        let times = fires("30 2 * * *", tz, utc(2024, 10, 26, 12, 0), 3);
        assert_eq!(
            times,
            vec![
                utc(2024, 10, 27, 0, 30),
                utc(2024, 10, 28, 1, 30),
                utc(2024, 10, 29, 1, 30)
            ]
        );
        // Asked from inside the repeated hour, after the first 02:30 has passed, it waits for tomorrow.
        let spec = CronSpec::parse("30 2 * * *").expect("parses");
        assert_eq!(
            spec.next_after(utc(2024, 10, 27, 1, 10), tz),
            Some(utc(2024, 10, 28, 1, 30))
        );
    }

    #[test]
    fn every_few_minutes_keeps_going_through_dst_changes() {
        let tz = chrono_tz::Europe::Amsterdam;
        // Fall back: every 30 minutes from 23:45 UTC on 26 Oct — no gap and no repeat in UTC.
        let times = fires("*/30 * * * *", tz, utc(2024, 10, 26, 23, 45), 6);
        assert_eq!(
            times,
            vec![
                utc(2024, 10, 27, 0, 0),
                utc(2024, 10, 27, 0, 30),
                utc(2024, 10, 27, 1, 0),
                utc(2024, 10, 27, 1, 30),
                utc(2024, 10, 27, 2, 0),
                utc(2024, 10, 27, 2, 30),
            ]
        );
        // Spring forward: the skipped hour collapses into one tick at 03:00 CEST (01:00 UTC).
        let times = fires("*/30 * * * *", tz, utc(2024, 3, 31, 0, 15), 3);
        assert_eq!(
            times,
            vec![
                utc(2024, 3, 31, 0, 30),
                utc(2024, 3, 31, 1, 0),
                utc(2024, 3, 31, 1, 30)
            ]
        );
    }

    #[test]
    fn every_second_keeps_going_through_dst_changes() {
        let tz = chrono_tz::Europe::Amsterdam;
        // Across each change (01:00 UTC) every UTC second fires once, none is skipped.
        for change in [utc(2024, 3, 31, 1, 0), utc(2024, 10, 27, 1, 0)] {
            let start = change - TimeDelta::seconds(2);
            let times = fires("* * * * * *", tz, start, 4);
            let expected: Vec<DateTime<Utc>> =
                (1..=4).map(|s| start + TimeDelta::seconds(s)).collect();
            assert_eq!(times, expected);
        }
        // Away from any change, a seconds schedule is walked one second at a time.
        let times = fires("* * * * * *", tz, utc(2024, 6, 1, 12, 0), 3600);
        assert_eq!(times.last(), Some(&utc(2024, 6, 1, 13, 0)));
    }

    #[test]
    fn seconds_field_and_impossible_dates() {
        let times = fires("*/10 * * * * *", Tz::UTC, utc(2024, 1, 1, 0, 0), 2);
        assert_eq!(times[0], utc(2024, 1, 1, 0, 0) + TimeDelta::seconds(10));
        assert_eq!(times[1], utc(2024, 1, 1, 0, 0) + TimeDelta::seconds(20));
        let never = CronSpec::parse("0 0 30 2 *").expect("parses");
        assert_eq!(never.next_after(utc(2024, 1, 1, 0, 0), Tz::UTC), None);
    }

    #[test]
    fn serialises_as_its_normalised_text() {
        let spec = CronSpec::parse("0 9 * * 1-5").expect("parses");
        let json = serde_json::to_string(&spec).expect("serialises");
        assert_eq!(json, "\"0 0 9 * * MON-FRI\"");
        let back: CronSpec = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, spec);
        assert!(serde_json::from_str::<CronSpec>("\"nope\"").is_err());
    }
}
