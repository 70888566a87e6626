//! Cron triggers: each tick fires once, across restarts and processes; catch-up after
//! downtime; the overlap policies; daylight-saving days; 5-field and `@hourly` schedules.
//! The scheduler is driven by explicit times on the manual clock.

use crate::on_both_stores;
use crate::support::{Backend, Harness, T0};
use braid_dsl::plan::CronSpec;
use braid_engine::store::{RunFilter, RunRecord, RunStatus, TickStatus};
use braid_engine::triggers::cron::{trigger_key, CronScheduler, TickReport};
use serde_json::json;
use std::sync::Arc;
use tokio::sync::watch;

on_both_stores!(
    a_seconds_schedule_fires_each_tick_once,
    a_restart_never_fires_a_tick_twice,
    catchup_latest_fires_only_the_latest_missed_tick,
    catchup_all_fires_every_missed_tick,
    catchup_none_fires_no_missed_tick,
    two_processes_fire_each_tick_once_in_total,
    overlap_skip_starts_no_second_run,
    overlap_allow_starts_a_second_run,
    overlap_queue_starts_the_tick_after_the_run_ends,
    daylight_saving_days_lose_and_double_no_tick,
    five_field_and_hourly_schedules_fire,
    the_loop_stops_on_shutdown,
);

const SEC: i64 = 1_000;
const MIN: i64 = 60 * SEC;

/// Sets the clock to `at`, lets `scheduler` look, and carries out what is due (as the
/// executor running beside the scheduler would).
async fn tick_at(h: &Harness, scheduler: &CronScheduler, at: i64) -> TickReport {
    h.clock.set(at);
    let report = scheduler.tick(at).await;
    h.drain().await;
    report
}

/// The scheduled times of the runs a look started.
fn started(report: &TickReport) -> Vec<i64> {
    report.started.iter().map(|s| s.scheduled_at).collect()
}

/// The runs of `workflow` with the scheduled time from their trigger data, oldest tick first.
async fn cron_runs(h: &Harness, workflow: &str) -> Vec<(i64, RunRecord)> {
    let filter = RunFilter {
        workflow: Some(workflow.to_string()),
        limit: Some(1000),
        ..RunFilter::default()
    };
    let page = h.store.list_runs(&filter).await.expect("list runs");
    let mut runs: Vec<(i64, RunRecord)> = page
        .runs
        .into_iter()
        .map(|run| {
            let at = run.trigger.as_ref().expect("trigger data")["cron"]["scheduled_at"]
                .as_str()
                .expect("scheduled_at")
                .parse::<chrono::DateTime<chrono::Utc>>()
                .expect("RFC 3339")
                .timestamp_millis();
            (at, run)
        })
        .collect();
    runs.sort_by_key(|(at, _)| *at);
    runs
}

/// Steps the scheduler from `from` to `to` (inclusive), stopping at every scheduled time and
/// at least every half hour; returns the scheduled times of the runs it started.
async fn drive(h: &Harness, scheduler: &CronScheduler, from: i64, to: i64) -> Vec<i64> {
    let mut fired = started(&tick_at(h, scheduler, from).await);
    let mut now = from;
    loop {
        let next = scheduler
            .next_due(now)
            .expect("a schedule")
            .min(now + 30 * MIN);
        if next > to {
            return fired;
        }
        now = next;
        fired.extend(started(&tick_at(h, scheduler, now).await));
    }
}

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("time")
        .timestamp_millis()
}

async fn a_seconds_schedule_fires_each_tick_once(backend: Backend) {
    let h = Harness::new(
        backend,
        r#"workflow every_second {
          trigger cron "* * * * * *" { input { n: 1, at: now() } }
          step s = transform(input.n + 1)
          output s
        }"#,
    )
    .await;
    let cron = CronScheduler::new(h.engine.clone());
    assert_eq!(
        tick_at(&h, &cron, T0).await,
        TickReport::default(),
        "history never fires"
    );
    assert_eq!(started(&tick_at(&h, &cron, T0 + SEC).await), [T0 + SEC]);
    assert!(tick_at(&h, &cron, T0 + SEC).await.started.is_empty());
    assert!(tick_at(&h, &cron, T0 + 1_500).await.started.is_empty());
    assert_eq!(
        started(&tick_at(&h, &cron, T0 + 2 * SEC + 5).await),
        [T0 + 2 * SEC]
    );
    assert_eq!(
        started(&tick_at(&h, &cron, T0 + 3 * SEC).await),
        [T0 + 3 * SEC]
    );
    assert_eq!(cron.next_due(T0 + 3 * SEC), Some(T0 + 4 * SEC));

    h.drain().await;
    let runs = cron_runs(&h, "every_second").await;
    let times: Vec<i64> = runs.iter().map(|(at, _)| *at).collect();
    assert_eq!(times, [T0 + SEC, T0 + 2 * SEC, T0 + 3 * SEC]);
    let (_, first) = &runs[0];
    assert_eq!(first.status, RunStatus::Succeeded);
    assert_eq!(first.output, Some(json!(2)));
    assert_eq!(
        first.trigger,
        Some(json!({ "cron": {
            "scheduled_at": "2026-01-01T00:00:01Z",
            "schedule": "* * * * * *",
            "timezone": "UTC",
        } }))
    );
    assert_eq!(
        first.input,
        json!({ "n": 1, "at": "2026-01-01T00:00:01Z" }),
        "the input is evaluated at the scheduled time"
    );

    let stats = cron.stats();
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].workflow, "every_second");
    assert_eq!(stats[0].last_scheduled_at, Some(T0 + 3 * SEC));
    assert_eq!(stats[0].last_lag_ms, Some(0));

    // The loaded workflows can change: a workflow no longer loaded fires no more.
    h.engine.load_workflows(Vec::new());
    assert_eq!(
        tick_at(&h, &cron, T0 + 4 * SEC).await,
        TickReport::default()
    );
    assert!(cron.stats().is_empty());
    assert_eq!(cron.next_due(T0 + 4 * SEC), None);
}

async fn a_restart_never_fires_a_tick_twice(backend: Backend) {
    let text = r#"workflow tock {
      trigger cron "0 * * * * *" { catchup all overlap allow }
      step s = transform(1)
    }"#;
    let h = Harness::new(backend, text).await;
    let cron = CronScheduler::new(h.engine.clone());
    tick_at(&h, &cron, T0).await;
    assert_eq!(started(&tick_at(&h, &cron, T0 + MIN).await), [T0 + MIN]);

    let h = h.restart("worker-2").await;
    let cron = CronScheduler::new(h.engine.clone());
    assert!(tick_at(&h, &cron, T0 + MIN).await.started.is_empty());
    assert!(tick_at(&h, &cron, T0 + MIN + 500).await.started.is_empty());
    assert_eq!(
        started(&tick_at(&h, &cron, T0 + 2 * MIN).await),
        [T0 + 2 * MIN]
    );

    // A process that claimed a tick and stopped before starting its run: the next look
    // starts it, once.
    let spec = CronSpec::parse("0 * * * * *").expect("schedule");
    let key = trigger_key("tock", 0, &spec, "UTC");
    h.clock.set(T0 + 3 * MIN);
    assert!(h.store.claim_tick(&key, T0 + 3 * MIN).await.expect("claim"));
    let h = h.restart("worker-3").await;
    let cron = CronScheduler::new(h.engine.clone());
    assert_eq!(
        started(&tick_at(&h, &cron, T0 + 3 * MIN + 10).await),
        [T0 + 3 * MIN]
    );
    assert!(tick_at(&h, &cron, T0 + 3 * MIN + 20)
        .await
        .started
        .is_empty());

    let times: Vec<i64> = cron_runs(&h, "tock").await.iter().map(|r| r.0).collect();
    assert_eq!(times, [T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]);
    let last = h.store.last_tick(&key).await.expect("last tick");
    assert_eq!(last.map(|t| t.scheduled_at), Some(T0 + 3 * MIN));
}

/// Fires the tick at T0+1m, stops, and starts again at T0+5m30s under `catchup`; returns
/// what the first look after the restart started. The next on-time tick fires either way.
async fn fired_after_downtime(backend: Backend, catchup: &str) -> Vec<i64> {
    let text = format!(
        r#"workflow tock {{
          trigger cron "0 * * * * *" {{ catchup {catchup} overlap allow }}
          step s = transform(1)
        }}"#
    );
    let h = Harness::new(backend, &text).await;
    let cron = CronScheduler::new(h.engine.clone());
    tick_at(&h, &cron, T0).await;
    assert_eq!(started(&tick_at(&h, &cron, T0 + MIN).await), [T0 + MIN]);

    let h = h.restart("worker-2").await;
    let cron = CronScheduler::new(h.engine.clone());
    let after_downtime = started(&tick_at(&h, &cron, T0 + 5 * MIN + 30 * SEC).await);
    assert!(tick_at(&h, &cron, T0 + 5 * MIN + 31 * SEC)
        .await
        .started
        .is_empty());
    assert_eq!(
        started(&tick_at(&h, &cron, T0 + 6 * MIN).await),
        [T0 + 6 * MIN]
    );
    let runs = cron_runs(&h, "tock").await;
    assert_eq!(
        runs.len(),
        after_downtime.len() + 2,
        "one run per tick fired"
    );
    after_downtime
}

async fn catchup_latest_fires_only_the_latest_missed_tick(backend: Backend) {
    assert_eq!(
        fired_after_downtime(backend, "latest").await,
        [T0 + 5 * MIN]
    );
}

async fn catchup_all_fires_every_missed_tick(backend: Backend) {
    assert_eq!(
        fired_after_downtime(backend, "all").await,
        [T0 + 2 * MIN, T0 + 3 * MIN, T0 + 4 * MIN, T0 + 5 * MIN]
    );
}

async fn catchup_none_fires_no_missed_tick(backend: Backend) {
    assert_eq!(
        fired_after_downtime(backend, "none").await,
        Vec::<i64>::new()
    );
}

async fn two_processes_fire_each_tick_once_in_total(backend: Backend) {
    let h1 = Harness::new(
        backend,
        r#"workflow shared {
          trigger cron "* * * * * *" { catchup all overlap allow }
          step s = transform(1)
        }"#,
    )
    .await;
    let h2 = h1.another_process("worker-2").await;
    let (a, b) = (
        CronScheduler::new(h1.engine.clone()),
        CronScheduler::new(h2.engine.clone()),
    );
    let mut fired = Vec::new();
    for i in 0..=20 {
        // Both look at once, or one looks a little later, or only one looks at all.
        let at = T0 + i * SEC + (i * 37) % 400;
        h1.clock.set(at);
        let (ra, rb) = match i % 3 {
            0 => tokio::join!(a.tick(at), b.tick(at)),
            1 => (a.tick(at).await, b.tick(at + 10).await),
            _ => (TickReport::default(), b.tick(at).await),
        };
        fired.extend(started(&ra));
        fired.extend(started(&rb));
    }
    fired.sort();
    let expected: Vec<i64> = (1..=20).map(|i| T0 + i * SEC).collect();
    assert_eq!(fired, expected, "each tick started by exactly one process");
    let times: Vec<i64> = cron_runs(&h1, "shared").await.iter().map(|r| r.0).collect();
    assert_eq!(times, expected);
}

/// A workflow whose run sleeps 90 s, fired every minute under `overlap`.
fn slow(overlap: &str) -> String {
    format!(
        r#"workflow slow {{
          trigger cron "* * * * *" {{ overlap {overlap} }}
          step nap = sleep(90s)
        }}"#
    )
}

/// Starts the first run (T0+1m) and lets it sleep; returns its id.
async fn first_run_sleeping(h: &Harness, cron: &CronScheduler) -> String {
    tick_at(h, cron, T0).await;
    let report = tick_at(h, cron, T0 + MIN).await;
    assert_eq!(started(&report), [T0 + MIN]);
    h.drain().await;
    let id = report.started[0].run_id.clone();
    assert_eq!(h.status(&id).await, RunStatus::Waiting);
    id
}

async fn overlap_skip_starts_no_second_run(backend: Backend) {
    let h = Harness::new(backend, &slow("skip")).await;
    let cron = CronScheduler::new(h.engine.clone());
    let first = first_run_sleeping(&h, &cron).await;

    let report = tick_at(&h, &cron, T0 + 2 * MIN).await;
    assert!(report.started.is_empty());
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].scheduled_at, T0 + 2 * MIN);
    assert_eq!(h.store.count_active_runs("slow").await.expect("count"), 1);
    let spec = CronSpec::parse("* * * * *").expect("schedule");
    let tick = h
        .store
        .last_tick(&trigger_key("slow", 0, &spec, "UTC"))
        .await
        .expect("last tick")
        .expect("a tick");
    assert_eq!(
        (tick.scheduled_at, tick.status, tick.run_id),
        (T0 + 2 * MIN, TickStatus::Skipped, None)
    );
    assert!(tick.note.is_some_and(|n| n.contains("overlap")));

    h.clock.set(T0 + 150 * SEC);
    h.drain().await;
    assert_eq!(h.status(&first).await, RunStatus::Succeeded);
    assert_eq!(
        started(&tick_at(&h, &cron, T0 + 3 * MIN).await),
        [T0 + 3 * MIN]
    );
    let times: Vec<i64> = cron_runs(&h, "slow").await.iter().map(|r| r.0).collect();
    assert_eq!(times, [T0 + MIN, T0 + 3 * MIN]);
}

async fn overlap_allow_starts_a_second_run(backend: Backend) {
    let h = Harness::new(backend, &slow("allow")).await;
    let cron = CronScheduler::new(h.engine.clone());
    first_run_sleeping(&h, &cron).await;
    assert_eq!(
        started(&tick_at(&h, &cron, T0 + 2 * MIN).await),
        [T0 + 2 * MIN]
    );
    h.drain().await;
    assert_eq!(h.store.count_active_runs("slow").await.expect("count"), 2);
}

async fn overlap_queue_starts_the_tick_after_the_run_ends(backend: Backend) {
    let h = Harness::new(backend, &slow("queue")).await;
    let cron = CronScheduler::new(h.engine.clone());
    let first = first_run_sleeping(&h, &cron).await;

    let report = tick_at(&h, &cron, T0 + 2 * MIN).await;
    assert!(report.started.is_empty() && report.skipped.is_empty());
    assert_eq!(report.queued, 1);
    assert_eq!(cron.stats()[0].queued, 1);
    // Still running at T0+2m20s: the tick keeps waiting.
    assert_eq!(tick_at(&h, &cron, T0 + 140 * SEC).await.queued, 1);

    h.clock.set(T0 + 150 * SEC);
    h.drain().await;
    assert_eq!(h.status(&first).await, RunStatus::Succeeded);
    let report = tick_at(&h, &cron, T0 + 150 * SEC).await;
    assert_eq!(started(&report), [T0 + 2 * MIN], "the queued tick, late");
    assert_eq!(report.queued, 0);

    // The queue survives a restart: T0+3m waits for the run started at T0+2m30s.
    assert_eq!(tick_at(&h, &cron, T0 + 3 * MIN).await.queued, 1);
    let h = h.restart("worker-2").await;
    let cron = CronScheduler::new(h.engine.clone());
    h.drain().await;
    assert_eq!(tick_at(&h, &cron, T0 + 3 * MIN + SEC).await.queued, 1);
    h.clock.set(T0 + 240 * SEC);
    h.drain().await;
    assert_eq!(
        started(&tick_at(&h, &cron, T0 + 240 * SEC).await),
        [T0 + 3 * MIN]
    );
    let times: Vec<i64> = cron_runs(&h, "slow").await.iter().map(|r| r.0).collect();
    assert_eq!(times, [T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]);
}

async fn daylight_saving_days_lose_and_double_no_tick(backend: Backend) {
    let h = Harness::new(
        backend,
        r#"workflow nightly {
          trigger cron "0 30 2 * * *" { timezone "Europe/Berlin" catchup none }
          step s = transform(1)
        }"#,
    )
    .await;
    let cron = CronScheduler::new(h.engine.clone());
    // 29 March 2026: 02:00 CET jumps to 03:00 CEST, so 02:30 is 03:00 CEST.
    let spring = drive(
        &h,
        &cron,
        ms("2026-03-28T12:00:00Z"),
        ms("2026-03-30T12:00:00Z"),
    )
    .await;
    assert_eq!(
        spring,
        [ms("2026-03-29T01:00:00Z"), ms("2026-03-30T00:30:00Z")]
    );
    // 25 October 2026: 03:00 CEST falls back to 02:00 CET; 02:30 fires at its first
    // occurrence only.
    let autumn = drive(
        &h,
        &cron,
        ms("2026-10-24T12:00:00Z"),
        ms("2026-10-26T12:00:00Z"),
    )
    .await;
    assert_eq!(
        autumn,
        [ms("2026-10-25T00:30:00Z"), ms("2026-10-26T01:30:00Z")]
    );
    assert_eq!(cron_runs(&h, "nightly").await.len(), 4);
}

async fn five_field_and_hourly_schedules_fire(backend: Backend) {
    let h = Harness::new(
        backend,
        r#"workflow quarterly {
          trigger cron "*/15 * * * *"
          step s = transform(1)
        }
        workflow hourly {
          trigger cron "@hourly"
          step s = transform(1)
        }"#,
    )
    .await;
    let cron = CronScheduler::new(h.engine.clone());
    drive(&h, &cron, T0, T0 + 120 * MIN).await;
    let quarterly: Vec<i64> = cron_runs(&h, "quarterly")
        .await
        .iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(
        quarterly,
        (1..=8).map(|i| T0 + i * 15 * MIN).collect::<Vec<_>>()
    );
    let hourly = cron_runs(&h, "hourly").await;
    let times: Vec<i64> = hourly.iter().map(|r| r.0).collect();
    assert_eq!(times, [T0 + 60 * MIN, T0 + 120 * MIN]);
    assert_eq!(
        hourly[0].1.trigger.as_ref().expect("trigger")["cron"]["schedule"],
        json!("0 0 * * * *")
    );
}

async fn the_loop_stops_on_shutdown(backend: Backend) {
    let h = Harness::new(
        backend,
        r#"workflow tock {
          trigger cron "0 0 * * *"
          step s = transform(1)
        }"#,
    )
    .await;
    let cron = Arc::new(CronScheduler::new(h.engine.clone()));
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(cron.clone().run(shutdown));
    stop.send(true).expect("send");
    running.await.expect("the loop ends");

    // Without a sender, the loop cannot be told to stop: it ends too.
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(cron.clone().run(shutdown));
    drop(stop);
    running.await.expect("the loop ends");
    assert_eq!(cron.stats().len(), 1, "it looked at the trigger");
}
