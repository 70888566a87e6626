//! The secret store: always sealed, names only in listings, loaded at start, one key per store.

use crate::on_both_stores;
use crate::support::{Backend, TestStore, T0};
use braid_engine::clock::ManualClock;
use braid_engine::crypto::{CryptoError, Sealer};
use braid_engine::secret_store::{
    load_stored_secrets, SecretStore, SecretStoreError, SECRET_NAMESPACE,
};
use std::collections::HashMap;
use std::sync::Arc;

on_both_stores!(secrets_are_sealed_listed_loaded_and_deleted);

async fn secrets_are_sealed_listed_loaded_and_deleted(backend: Backend) {
    let location = TestStore::new(backend).await;
    let store = location.open(Arc::new(ManualClock::new(T0))).await;
    let store = store.as_ref();

    let no_key = Sealer::new(None);
    let refused = SecretStore::new(store, &no_key)
        .set("CRM_TOKEN", "v-1")
        .await;
    assert!(
        matches!(refused, Err(SecretStoreError::NoKey)),
        "{refused:?}"
    );
    assert!(refused
        .err()
        .is_some_and(|e| e.to_string().contains("braid secret key")));

    let sealer = Sealer::new(Some("key-one"));
    let secrets = SecretStore::new(store, &sealer);
    assert!(matches!(
        secrets.set("CRM_TOKEN", "").await,
        Err(SecretStoreError::Empty)
    ));
    assert!(matches!(
        secrets.set("bad name", "x").await,
        Err(SecretStoreError::InvalidName(_))
    ));
    secrets
        .set("CRM_TOKEN", "crm-token-value-1")
        .await
        .expect("set");
    secrets
        .set("BILLING_KEY", "billing-key-value")
        .await
        .expect("set");
    secrets
        .set("CRM_TOKEN", "crm-token-value-2")
        .await
        .expect("replace");
    assert_eq!(
        secrets.names().await.expect("names"),
        vec!["BILLING_KEY".to_string(), "CRM_TOKEN".to_string()]
    );
    let raw = store
        .kv_get(SECRET_NAMESPACE, "CRM_TOKEN")
        .await
        .expect("kv")
        .expect("stored");
    assert!(raw.value.starts_with("v1:"), "sealed");
    assert!(!raw.value.contains("crm-token-value"));
    assert_eq!(
        load_stored_secrets(store, &sealer).await.expect("load"),
        HashMap::from([
            ("CRM_TOKEN".to_string(), "crm-token-value-2".to_string()),
            ("BILLING_KEY".to_string(), "billing-key-value".to_string()),
        ])
    );

    // Another key can neither read them nor mix its own secrets in.
    let other = Sealer::new(Some("key-two"));
    assert!(matches!(
        load_stored_secrets(store, &other).await,
        Err(SecretStoreError::Open {
            source: CryptoError::Decrypt,
            ..
        })
    ));
    assert!(matches!(
        load_stored_secrets(store, &no_key).await,
        Err(SecretStoreError::Open {
            source: CryptoError::NoKey,
            ..
        })
    ));
    assert!(matches!(
        SecretStore::new(store, &other).set("NEW", "x-value").await,
        Err(SecretStoreError::Open { .. })
    ));

    assert!(secrets.delete("CRM_TOKEN").await.expect("delete"));
    assert!(!secrets.delete("CRM_TOKEN").await.expect("delete again"));
    assert_eq!(
        secrets.names().await.expect("names"),
        vec!["BILLING_KEY".to_string()]
    );
}
