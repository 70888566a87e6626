//! The evaluator's view of the engine: configuration, secrets (registered for redaction as
//! they are read), the time, and UUIDs.

use crate::redact::Redactor;
use braid_dsl::eval::Host;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Where `secret("NAME")` looks: the environment first, then the engine's secret store.
#[derive(Clone, Default)]
pub struct Secrets {
    stored: Arc<HashMap<String, String>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&String> = self.stored.keys().collect();
        f.debug_struct("Secrets").field("stored", &names).finish()
    }
}

impl Secrets {
    /// Secrets from the environment, plus these values from the secret store.
    pub fn new(stored: HashMap<String, String>) -> Self {
        Secrets {
            stored: Arc::new(stored),
        }
    }

    /// The value of secret `name`, if set anywhere.
    pub fn get(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .or_else(|| self.stored.get(name).cloned())
    }
}

/// The [`Host`] of one evaluation: a step attempt, a run's start, a connection.
pub struct EngineHost {
    secrets: Secrets,
    redactor: Redactor,
    now: DateTime<Utc>,
    seed: String,
    uuids: AtomicU64,
}

impl EngineHost {
    /// A host whose `now()` is `now` and whose `uuid()`s derive from `seed` (for example
    /// `run id/step key`), so evaluating the same step again yields the same UUIDs.
    pub fn new(
        secrets: Secrets,
        redactor: Redactor,
        now: DateTime<Utc>,
        seed: impl Into<String>,
    ) -> Self {
        EngineHost {
            secrets,
            redactor,
            now,
            seed: seed.into(),
            uuids: AtomicU64::new(0),
        }
    }
}

impl Host for EngineHost {
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn secret(&self, name: &str) -> Option<String> {
        let value = self.secrets.get(name)?;
        self.redactor.register(&value);
        Some(value)
    }

    fn now(&self) -> DateTime<Utc> {
        self.now
    }

    fn uuid(&self) -> String {
        let n = self.uuids.fetch_add(1, Ordering::Relaxed);
        crate::derived_id::derived_uuid(&format!("{}#{n}", self.seed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_v4_and_repeat_for_the_same_seed() {
        let a = EngineHost::new(
            Secrets::default(),
            Redactor::new(),
            Utc::now(),
            "run-1/step",
        );
        let b = EngineHost::new(
            Secrets::default(),
            Redactor::new(),
            Utc::now(),
            "run-1/step",
        );
        let (a1, a2) = (a.uuid(), a.uuid());
        assert_ne!(a1, a2);
        assert_eq!((a1.clone(), a2), (b.uuid(), b.uuid()));
        assert_eq!(
            uuid::Uuid::parse_str(&a1).map(|u| u.get_version_num()).ok(),
            Some(4)
        );
    }

    #[test]
    fn secrets_read_are_registered_for_redaction() {
        let redactor = Redactor::new();
        let secrets = Secrets::new(HashMap::from([(
            "BRAID_TEST_STORED".to_string(),
            "stored-value-1".to_string(),
        )]));
        let host = EngineHost::new(secrets, redactor.clone(), Utc::now(), "s");
        assert_eq!(
            host.secret("BRAID_TEST_STORED").as_deref(),
            Some("stored-value-1")
        );
        assert_eq!(redactor.text("echo stored-value-1"), "echo ***");
        assert_eq!(host.secret("BRAID_TEST_NOT_SET_ANYWHERE"), None);
    }
}
