//! Which scheduled times a look at a trigger fires: the schedule's times after the last one
//! dealt with, up to now, cut down by the trigger's `catchup` policy. Pure: no store, no clock.
//!
//! The policies, for the times in `(after, now]`:
//! - `latest`: the most recent one;
//! - `all`: every one, oldest first, but at most [`CatchupLimits::max_all`] (the newest);
//! - `none`: the most recent one if it is on time, that is `now - time < grace`; the rest
//!   are dropped. The scheduler wakes at each tick's time, so a tick is late only by how long
//!   the previous look took, or because no scheduler was running; the grace (by default the
//!   poll interval) tells the two apart.
//!
//! Only the newest times matter, so after a long downtime they are found by looking back from
//! `now` in growing windows instead of walking every time since `after`.

use braid_dsl::plan::{Catchup, CronSpec};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::collections::VecDeque;

/// The first window looked back over (one minute), before it grows eightfold each round.
const FIRST_WINDOW_MS: i64 = 60_000;

/// The bounds of the catch-up policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatchupLimits {
    /// How late a tick may be and still fire under `catchup none` (ms).
    pub grace_ms: i64,
    /// Most missed times `catchup all` fires.
    pub max_all: usize,
}

/// The times to fire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Due {
    /// Scheduled times (ms), oldest first.
    pub fire: Vec<i64>,
    /// Whether scheduled times in the window were left out.
    pub dropped: bool,
}

/// The times in `(after, now]` (ms) that fire under `catchup`, with the schedule read in `tz`.
pub fn due_ticks(
    spec: &CronSpec,
    tz: Tz,
    after: i64,
    now: i64,
    catchup: Catchup,
    limits: CatchupLimits,
) -> Due {
    let max = match catchup {
        Catchup::All => limits.max_all.max(1),
        Catchup::Latest | Catchup::None => 1,
    };
    let (mut fire, mut dropped) = newest(spec, tz, after, now, max);
    if catchup == Catchup::None {
        if let Some(&latest) = fire.last() {
            if now - latest >= limits.grace_ms {
                fire.clear();
                dropped = true;
            }
        }
    }
    Due { fire, dropped }
}

/// The newest `max` times in `(after, until]`, oldest first, and whether older ones exist.
fn newest(spec: &CronSpec, tz: Tz, after: i64, until: i64, max: usize) -> (Vec<i64>, bool) {
    if until <= after {
        return (Vec::new(), false);
    }
    let mut window = (until - after).min(FIRST_WINDOW_MS);
    loop {
        let start = after.max(until - window);
        let (times, total) = walk(spec, tz, start, until, max);
        if total >= max || start == after {
            let older = total > max || (start > after && any_in(spec, tz, after, start));
            return (times, older);
        }
        window = window.saturating_mul(8);
    }
}

/// The last `max` times in `(start, until]` and how many there are in all.
fn walk(spec: &CronSpec, tz: Tz, start: i64, until: i64, max: usize) -> (Vec<i64>, usize) {
    let mut kept = VecDeque::with_capacity(max.min(1024));
    let mut total = 0;
    let mut cursor = start;
    while let Some(next) = next_ms(spec, tz, cursor).filter(|&t| t <= until) {
        if kept.len() == max {
            kept.pop_front();
        }
        kept.push_back(next);
        total += 1;
        cursor = next;
    }
    (kept.into(), total)
}

/// Whether the schedule has a time in `(after, until]`.
fn any_in(spec: &CronSpec, tz: Tz, after: i64, until: i64) -> bool {
    next_ms(spec, tz, after).is_some_and(|t| t <= until)
}

/// The schedule's first time strictly after `after` (ms).
pub fn next_ms(spec: &CronSpec, tz: Tz, after: i64) -> Option<i64> {
    let after = DateTime::<Utc>::from_timestamp_millis(after)?;
    spec.next_after(after, tz).map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: CatchupLimits = CatchupLimits {
        grace_ms: 1_000,
        max_all: 1_000,
    };
    /// 2026-01-01T00:00:00Z.
    const T0: i64 = 1_767_225_600_000;
    const MIN: i64 = 60_000;

    fn spec(text: &str) -> CronSpec {
        CronSpec::parse(text).expect("valid schedule")
    }

    fn due(text: &str, after: i64, now: i64, catchup: Catchup) -> Due {
        due_ticks(&spec(text), Tz::UTC, after, now, catchup, LIMITS)
    }

    #[test]
    fn nothing_is_due_before_the_next_time() {
        for catchup in [Catchup::None, Catchup::Latest, Catchup::All] {
            assert_eq!(due("* * * * *", T0, T0 + MIN - 1, catchup), Due::default());
            assert_eq!(due("* * * * *", T0, T0, catchup), Due::default());
            assert_eq!(due("* * * * *", T0 + MIN, T0, catchup), Due::default());
        }
    }

    #[test]
    fn an_on_time_tick_fires_under_every_policy() {
        for catchup in [Catchup::None, Catchup::Latest, Catchup::All] {
            let d = due("* * * * *", T0, T0 + MIN + 20, catchup);
            assert_eq!(d.fire, vec![T0 + MIN], "{catchup:?}");
            assert!(!d.dropped);
        }
    }

    #[test]
    fn the_window_is_open_at_the_start_and_closed_at_the_end() {
        let d = due("* * * * * *", T0, T0 + 3_000, Catchup::All);
        assert_eq!(d.fire, vec![T0 + 1_000, T0 + 2_000, T0 + 3_000]);
    }

    #[test]
    fn latest_fires_only_the_most_recent_missed_time() {
        let d = due("* * * * *", T0, T0 + 5 * MIN + 30_000, Catchup::Latest);
        assert_eq!(d.fire, vec![T0 + 5 * MIN]);
        assert!(d.dropped);
    }

    #[test]
    fn all_fires_every_missed_time_oldest_first() {
        let d = due("* * * * *", T0, T0 + 5 * MIN + 30_000, Catchup::All);
        assert_eq!(d.fire, (1..=5).map(|i| T0 + i * MIN).collect::<Vec<_>>());
        assert!(!d.dropped);
    }

    #[test]
    fn all_is_bounded_to_the_newest_times() {
        let limits = CatchupLimits {
            max_all: 3,
            ..LIMITS
        };
        let d = due_ticks(
            &spec("* * * * *"),
            Tz::UTC,
            T0,
            T0 + 10 * MIN,
            Catchup::All,
            limits,
        );
        assert_eq!(d.fire, vec![T0 + 8 * MIN, T0 + 9 * MIN, T0 + 10 * MIN]);
        assert!(d.dropped);
    }

    #[test]
    fn none_fires_only_within_the_grace() {
        let on_time = due("* * * * *", T0, T0 + MIN + 999, Catchup::None);
        assert_eq!(on_time.fire, vec![T0 + MIN]);
        let late = due("* * * * *", T0, T0 + MIN + 1_000, Catchup::None);
        assert!(late.fire.is_empty());
        assert!(late.dropped);
        let after_downtime = due("* * * * *", T0, T0 + 60 * MIN + 5_000, Catchup::None);
        assert!(after_downtime.fire.is_empty());
    }

    #[test]
    fn a_year_of_downtime_is_looked_back_over_quickly() {
        let year = 365 * 24 * 60 * MIN;
        let d = due("* * * * * *", T0, T0 + year, Catchup::Latest);
        assert_eq!(d.fire, vec![T0 + year]);
        let d = due("0 0 1 1 *", T0, T0 + year + MIN, Catchup::Latest);
        assert_eq!(d.fire, vec![T0 + year]);
        assert!(!d.dropped);
        let d = due("* * * * * *", T0, T0 + year, Catchup::All);
        assert_eq!(d.fire.len(), 1_000);
        assert_eq!(d.fire.last(), Some(&(T0 + year)));
    }

    #[test]
    fn daylight_saving_days_lose_and_double_nothing() {
        let berlin: Tz = "Europe/Berlin".parse().expect("tz");
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("time")
                .timestamp_millis()
        };
        let spring = due_ticks(
            &spec("0 30 2 * * *"),
            berlin,
            at("2026-03-28T12:00:00Z"),
            at("2026-03-30T12:00:00Z"),
            Catchup::All,
            LIMITS,
        );
        // 02:30 does not exist on 29 March: it fires at 03:00 CEST.
        assert_eq!(
            spring.fire,
            vec![at("2026-03-29T01:00:00Z"), at("2026-03-30T00:30:00Z")]
        );
        let autumn = due_ticks(
            &spec("0 30 2 * * *"),
            berlin,
            at("2026-10-24T12:00:00Z"),
            at("2026-10-26T12:00:00Z"),
            Catchup::All,
            LIMITS,
        );
        // 02:30 happens twice on 25 October: it fires at the first.
        assert_eq!(
            autumn.fire,
            vec![at("2026-10-25T00:30:00Z"), at("2026-10-26T01:30:00Z")]
        );
    }
}
