//! Checking what several engine processes did, from the store's rows and a [`Recorder`]'s
//! calls: every run succeeded, no two attempts of a step were in flight at once, no step was
//! called after it succeeded, and each cron tick fired once.

use braid_testkit::Recorder;
use serde_json::Value;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// Opens a small pool on the test's store.
pub async fn pool(db: &str) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(db)
        .await
        .expect("connect to the test store")
}

/// Waits until `workflow` has `expected` runs and all of them finished; returns the number
/// of runs in each status. Panics after `limit`.
pub async fn wait_finished(
    pool: &sqlx::PgPool,
    workflow: &str,
    expected: usize,
    limit: Duration,
) -> BTreeMap<String, i64> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM runs WHERE workflow = $1 GROUP BY status",
        )
        .bind(workflow)
        .fetch_all(pool)
        .await
        .expect("count runs");
        let counts: BTreeMap<String, i64> = rows
            .iter()
            .map(|r| (r.get::<String, _>("status"), r.get::<i64, _>("n")))
            .collect();
        let finished: i64 = ["succeeded", "failed", "compensation_failed", "cancelled"]
            .iter()
            .filter_map(|s| counts.get(*s))
            .sum();
        if finished >= expected as i64 {
            return counts;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "runs of `{workflow}` still unfinished after {limit:?}: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Checks every call the recorder received against the store: it carried the idempotency key
/// `{run id}/{step}` of a step of `workflow` that succeeded, arrived no later than that step's
/// success was recorded, and never overlapped another call with the same key. Returns how many
/// calls were checked, and how many steps were called more than once (attempts interrupted
/// by a kill and made again).
pub async fn check_calls(pool: &sqlx::PgPool, server: &Recorder, workflow: &str) -> (usize, usize) {
    assert_eq!(
        server.overlapping_keys(),
        Vec::<String>::new(),
        "two attempts of one step were in flight at the same time"
    );
    assert!(server.max_in_flight_same_key() <= 1);
    let rows = sqlx::query(
        "SELECT s.run_id, s.key, s.status, s.finished FROM steps s JOIN runs r ON r.id = s.run_id \
         WHERE r.workflow = $1",
    )
    .bind(workflow)
    .fetch_all(pool)
    .await
    .expect("read steps");
    let steps: HashMap<String, (String, Option<i64>)> = rows
        .iter()
        .map(|r| {
            (
                format!(
                    "{}/{}",
                    r.get::<String, _>("run_id"),
                    r.get::<String, _>("key")
                ),
                (r.get("status"), r.get("finished")),
            )
        })
        .collect();
    let mut checked = 0;
    let mut seen = HashSet::new();
    let mut repeated = HashSet::new();
    for call in server.calls() {
        let Some(key) = call.idempotency_key.as_deref() else {
            panic!("a call without an idempotency key: {call:?}");
        };
        let Some((status, finished)) = steps.get(key) else {
            continue; // Another workflow's call (cron ticks are checked on their own).
        };
        assert_eq!(status, "succeeded", "{key}");
        let finished = finished.unwrap_or_else(|| panic!("{key} has no finish time"));
        assert!(
            call.received_at <= finished,
            "{key} was called at {} after it succeeded at {finished}",
            call.received_at
        );
        if !seen.insert(key.to_string()) {
            repeated.insert(key.to_string());
        }
        checked += 1;
    }
    (checked, repeated.len())
}

/// The scheduled times (ms) of `workflow`'s cron runs, each with how many runs it has and
/// whether they all succeeded.
pub async fn cron_runs(pool: &sqlx::PgPool, workflow: &str) -> BTreeMap<i64, (usize, bool)> {
    let rows = sqlx::query("SELECT status, trigger_data FROM runs WHERE workflow = $1")
        .bind(workflow)
        .fetch_all(pool)
        .await
        .expect("read cron runs");
    let mut by_tick: BTreeMap<i64, (usize, bool)> = BTreeMap::new();
    for row in rows {
        let data: Value = serde_json::from_str(&row.get::<String, _>("trigger_data"))
            .expect("trigger data is JSON");
        let at = data["cron"]["scheduled_at"].as_str().expect("scheduled_at");
        let at = chrono::DateTime::parse_from_rfc3339(at)
            .expect("an RFC 3339 time")
            .timestamp_millis();
        let entry = by_tick.entry(at).or_insert((0, true));
        entry.0 += 1;
        entry.1 &= row.get::<String, _>("status") == "succeeded";
    }
    by_tick
}

/// Asserts that every whole second of `[from, to]` (ms) has exactly one cron run, which
/// succeeded, and that the recorder saw its call; returns how many ticks were checked.
pub fn check_ticks(
    by_tick: &BTreeMap<i64, (usize, bool)>,
    server: &Recorder,
    path: &str,
    from: i64,
    to: i64,
) -> usize {
    let called: HashSet<i64> = server
        .calls_to(path)
        .iter()
        .filter_map(|c| c.body["at"].as_str().map(str::to_string))
        .filter_map(|at| chrono::DateTime::parse_from_rfc3339(&at).ok())
        .map(|t| t.timestamp_millis())
        .collect();
    let first = (from + 999) / 1000 * 1000;
    let mut checked = 0;
    let mut at = first;
    while at <= to {
        match by_tick.get(&at) {
            Some((1, true)) => {}
            Some((n, ok)) => panic!("tick {at}: {n} run(s), all succeeded: {ok}"),
            None => panic!(
                "tick {at} never fired (window {first}..{to}; ticks: {:?})",
                by_tick.keys().collect::<Vec<_>>()
            ),
        }
        assert!(called.contains(&at), "tick {at}'s call never arrived");
        checked += 1;
        at += 1000;
    }
    for (at, (n, _)) in by_tick {
        assert_eq!(*n, 1, "tick {at} fired {n} times");
    }
    checked
}
