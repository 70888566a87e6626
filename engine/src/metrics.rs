//! Prometheus metrics: counters the executor keeps as steps run in this process, and figures
//! read from the store at each scrape (so several engine processes on one database report the
//! same totals for runs and queue depth).

use crate::store::StoreStats;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

/// Labels naming a workflow.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WorkflowLabels {
    /// The workflow.
    pub workflow: String,
}

/// Labels naming a workflow and an outcome or status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    /// The workflow.
    pub workflow: String,
    /// A run status or an attempt's outcome.
    pub status: String,
}

/// Labels naming a connection.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectionLabels {
    /// The connection.
    pub connection: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// Every metric Braid exports.
pub struct Metrics {
    registry: Mutex<Registry>,
    runs_started: Family<WorkflowLabels, Counter>,
    runs: Family<StatusLabels, Gauge>,
    attempts: Family<StatusLabels, Counter>,
    retries: Family<WorkflowLabels, Counter>,
    step_seconds: Family<WorkflowLabels, Histogram>,
    queue_depth: Gauge,
    since_success: Family<WorkflowLabels, FloatGauge>,
    cron_lag: Family<WorkflowLabels, FloatGauge>,
    token_expiry: Family<ConnectionLabels, FloatGauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("braid");
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            runs_started: Family::default(),
            runs: Family::default(),
            attempts: Family::default(),
            retries: Family::default(),
            step_seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 4.0, 10))
            }),
            queue_depth: Gauge::default(),
            since_success: Family::default(),
            cron_lag: Family::default(),
            token_expiry: Family::default(),
        };
        registry.register(
            "runs_started",
            "Runs started by this process",
            m.runs_started.clone(),
        );
        registry.register(
            "runs",
            "Runs in the store, by workflow and status",
            m.runs.clone(),
        );
        registry.register(
            "step_attempts",
            "Step attempts finished by this process, by outcome",
            m.attempts.clone(),
        );
        registry.register(
            "step_retries",
            "Step attempts that will be retried",
            m.retries.clone(),
        );
        registry.register(
            "step_duration_seconds",
            "Duration of step attempts",
            m.step_seconds.clone(),
        );
        registry.register(
            "queue_depth",
            "Steps due now that no worker holds",
            m.queue_depth.clone(),
        );
        registry.register(
            "seconds_since_last_success",
            "Seconds since each workflow's latest run succeeded",
            m.since_success.clone(),
        );
        registry.register(
            "cron_lag_seconds",
            "How late each workflow's latest cron tick fired",
            m.cron_lag.clone(),
        );
        registry.register(
            "oauth_token_expiry_seconds",
            "Seconds until each connection's cached OAuth2 token expires",
            m.token_expiry.clone(),
        );
        *m.registry.lock().unwrap_or_else(|e| e.into_inner()) = registry;
        m
    }

    /// A run of `workflow` was started.
    pub fn run_started(&self, workflow: &str) {
        self.runs_started
            .get_or_create(&workflow_labels(workflow))
            .inc();
    }

    /// An attempt of a step of `workflow` ended with `outcome` after `seconds`.
    pub fn attempt_finished(&self, workflow: &str, outcome: &str, seconds: f64) {
        self.attempts
            .get_or_create(&StatusLabels {
                workflow: workflow.to_string(),
                status: outcome.to_string(),
            })
            .inc();
        if outcome == "retry" {
            self.retries.get_or_create(&workflow_labels(workflow)).inc();
        }
        self.step_seconds
            .get_or_create(&workflow_labels(workflow))
            .observe(seconds);
    }

    /// The latest cron tick of `workflow` fired `seconds` after its scheduled time.
    pub fn cron_fired(&self, workflow: &str, seconds: f64) {
        self.cron_lag
            .get_or_create(&workflow_labels(workflow))
            .set(seconds);
    }

    /// The cached token of `connection` expires in `seconds`.
    pub fn token_expires_in(&self, connection: &str, seconds: f64) {
        self.token_expiry
            .get_or_create(&ConnectionLabels {
                connection: connection.to_string(),
            })
            .set(seconds);
    }

    /// Takes in the store's figures as of `now` (ms).
    pub fn update_from_store(&self, stats: &StoreStats, now: i64) {
        self.queue_depth
            .set(i64::try_from(stats.due_steps).unwrap_or(i64::MAX));
        self.runs.clear();
        for (workflow, status, n) in &stats.runs {
            self.runs
                .get_or_create(&StatusLabels {
                    workflow: workflow.clone(),
                    status: status.to_string(),
                })
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        for (workflow, at) in &stats.last_success {
            self.since_success
                .get_or_create(&workflow_labels(workflow))
                .set(((now - at).max(0) as f64) / 1000.0);
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &registry);
        out
    }
}

fn workflow_labels(workflow: &str) -> WorkflowLabels {
    WorkflowLabels {
        workflow: workflow.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RunStatus;

    #[test]
    fn renders_counters_and_store_figures() {
        let m = Metrics::new();
        m.run_started("orders");
        m.attempt_finished("orders", "retry", 0.2);
        m.update_from_store(
            &StoreStats {
                due_steps: 3,
                runs: vec![("orders".into(), RunStatus::Failed, 2)],
                last_success: vec![("orders".into(), 1_000)],
            },
            61_000,
        );
        let text = m.render();
        for line in [
            "braid_runs_started_total{workflow=\"orders\"} 1",
            "braid_step_retries_total{workflow=\"orders\"} 1",
            "braid_runs{workflow=\"orders\",status=\"failed\"} 2",
            "braid_queue_depth 3",
            "braid_seconds_since_last_success{workflow=\"orders\"} 60.0",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
    }
}
