//! `braid serve`: the long-lived service. It loads a folder of workflows (and reloads it when
//! files change), runs the executor, and serves webhooks and the API until told to stop; then
//! it stops taking requests, gives running attempts a grace period, and hands back the rest.

use crate::api::{self, ApiState};
use crate::clock::SystemClock;
use crate::crypto::Sealer;
use crate::executor::{Engine, ExecutorConfig};
use crate::loader::{Loaded, WorkflowLoader};
use crate::secret_store::{load_stored_secrets, SecretStoreError};
use crate::store::{self, StoreError, StoreOptions};
use crate::triggers::cron::CronScheduler;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// How to run the service.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The folder of `.braid` files.
    pub workflows: PathBuf,
    /// The store URL.
    pub db: String,
    /// Where to listen.
    pub listen: SocketAddr,
    /// With a token, `/api` requires it as a bearer token.
    pub api_token: Option<String>,
    /// The executor's lease on claimed steps.
    pub lease: Duration,
    /// How long running attempts may take to finish after a stop is asked for.
    pub grace: Duration,
    /// The largest webhook body accepted, in bytes.
    pub max_body: usize,
    /// How often the workflow folder is looked at for changes.
    pub reload_every: Duration,
    /// Database connections this process keeps open ([`StoreOptions::max_connections`]):
    /// with several processes, their sum must stay under the server's `max_connections`.
    pub db_connections: u32,
}

impl ServeConfig {
    /// The defaults for `workflows`, `db` and `listen`.
    pub fn new(workflows: PathBuf, db: String, listen: SocketAddr) -> Self {
        ServeConfig {
            workflows,
            db,
            listen,
            api_token: None,
            lease: Duration::from_secs(30),
            grace: Duration::from_secs(30),
            max_body: 1024 * 1024,
            reload_every: Duration::from_secs(1),
            db_connections: StoreOptions::default().max_connections,
        }
    }
}

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Listening beyond this machine without an API token would expose the API.
    #[error("refusing to listen on {0} without BRAID_API_TOKEN: set a token to serve beyond this machine (or listen on 127.0.0.1)")]
    Insecure(SocketAddr),
    /// The store could not be opened.
    #[error("opening the store: {0}")]
    Store(#[from] StoreError),
    /// The stored secrets could not be read (a missing or wrong `BRAID_SECRET_KEY`).
    #[error("loading the stored secrets: {0}")]
    Secrets(#[from] SecretStoreError),
    /// The workflow folder could not be read.
    #[error("loading workflows: {0}")]
    Load(#[from] braid_stdlib::compile::LoadError),
    /// The address could not be bound, or serving failed.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// Runs the service until `shutdown` completes.
pub async fn serve(
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    if !config.listen.ip().is_loopback() && config.api_token.is_none() {
        return Err(ServeError::Insecure(config.listen));
    }
    let options = StoreOptions {
        max_connections: config.db_connections,
        ..StoreOptions::default()
    };
    let store = store::open(&config.db, &options).await?;
    let stored_secrets = load_stored_secrets(store.as_ref(), &Sealer::from_env()).await?;
    let engine = Engine::new(
        store.clone(),
        Arc::new(SystemClock),
        stored_secrets,
        ExecutorConfig {
            lease: config.lease,
            ..ExecutorConfig::default()
        },
    );
    let cron = Arc::new(CronScheduler::new(engine.clone()));
    let state = Arc::new(ApiState {
        engine: engine.clone(),
        problems: RwLock::new(Vec::new()),
        token: config.api_token.clone(),
        max_body: config.max_body,
        cron: Some(cron.clone()),
    });
    let loader = Arc::new(Mutex::new(WorkflowLoader::new(config.workflows.clone())));
    if let Some(loaded) = reload(&loader, &engine).await? {
        apply(&state, &loaded);
    }

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: config.listen,
        source,
    })?;
    tracing::info!(%addr, db = %store::redact_url(&config.db), workflows = %config.workflows.display(), "braid serve is listening");

    let (stop, stopped) = watch::channel(false);
    let executor = tokio::spawn(engine.clone().run(stopped.clone(), config.grace));
    let scheduler = tokio::spawn(cron.run(stopped.clone()));
    let reloader = tokio::spawn(watch_folder(
        loader,
        state.clone(),
        config.reload_every,
        stopped,
    ));
    let served = axum::serve(listener, api::router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    tracing::info!("stopping: no new work is taken; running attempts may finish");
    let _ = stop.send(true);
    let _ = reloader.await;
    let _ = scheduler.await;
    let _ = executor.await;
    store.close().await;
    served.map_err(|source| ServeError::Listen { addr, source })
}

/// Reloads the folder if it changed; the engine serves the result.
async fn reload(
    loader: &Arc<Mutex<WorkflowLoader>>,
    engine: &Arc<Engine>,
) -> Result<Option<Loaded>, ServeError> {
    let loader = loader.clone();
    let secrets = engine.secrets.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let mut loader = loader.lock().unwrap_or_else(|e| e.into_inner());
        loader.reload(&secrets).map(|l| l.cloned())
    })
    .await
    .map_err(|e| {
        ServeError::Load(braid_stdlib::compile::LoadError::Io {
            path: PathBuf::new(),
            source: std::io::Error::other(e.to_string()),
        })
    })??;
    if let Some(loaded) = &loaded {
        engine.serve_workflows(loaded.plans.values().cloned());
    }
    Ok(loaded)
}

/// Logs a load's outcome and shows its problems in `/api/workflows`.
fn apply(state: &ApiState, loaded: &Loaded) {
    let names: Vec<&str> = loaded.plans.keys().map(String::as_str).collect();
    tracing::info!(workflows = ?names, "serving {} workflow(s)", names.len());
    for problem in &loaded.problems {
        tracing::warn!(file = %problem.file, workflow = ?problem.workflow, serving_previous = problem.serving_previous, "{}", problem.message);
    }
    state.set_problems(loaded.problems.clone());
}

/// Looks at the folder every `every` until `stopped`, reloading what changed.
async fn watch_folder(
    loader: Arc<Mutex<WorkflowLoader>>,
    state: Arc<ApiState>,
    every: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopped.changed() => return,
        }
        match reload(&loader, &state.engine).await {
            Ok(Some(loaded)) => apply(&state, &loaded),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "reloading workflows failed; the previous ones stay")
            }
        }
    }
}
