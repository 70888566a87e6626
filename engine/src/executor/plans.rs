//! Compiled workflows by content hash: a run uses the plan it started with for its whole life,
//! even after the workflow file changes.

use crate::store::{plan_hash, Store, StoreError};
use braid_dsl::plan::WorkflowPlan;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Plans by hash, loaded from the store on first use and then kept in memory (plans are
/// immutable, so caching them cannot go stale).
#[derive(Default)]
pub struct PlanCache {
    plans: RwLock<HashMap<String, Arc<WorkflowPlan>>>,
}

impl PlanCache {
    /// Stores `plan` (if new) and returns its hash.
    pub async fn register(
        &self,
        store: &dyn Store,
        plan: &WorkflowPlan,
    ) -> Result<String, StoreError> {
        let json =
            serde_json::to_string(plan).map_err(|e| StoreError::Corrupt(format!("plan: {e}")))?;
        let hash = plan_hash(&json);
        store.put_workflow_version(&hash, &plan.name, &json).await?;
        self.plans
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash.clone(), Arc::new(plan.clone()));
        Ok(hash)
    }

    /// The plan with this hash.
    pub async fn get(
        &self,
        store: &dyn Store,
        hash: &str,
    ) -> Result<Arc<WorkflowPlan>, StoreError> {
        if let Some(plan) = self
            .plans
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(hash)
        {
            return Ok(plan.clone());
        }
        let version = store
            .get_workflow_version(hash)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("workflow version {hash}")))?;
        let plan: WorkflowPlan = serde_json::from_str(&version.plan_json)
            .map_err(|e| StoreError::Corrupt(format!("workflow version {hash}: {e}")))?;
        let plan = Arc::new(plan);
        self.plans
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash.to_string(), plan.clone());
        Ok(plan)
    }
}
