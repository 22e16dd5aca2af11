//! The edgesketch merge server.
//!
//! Edge workers and browsers POST envelopes (edgesketch's snapshot format) to `/v1/ingest`; the
//! server applies each exactly once, durably (SQLite, group commit, the ledger in the same
//! transaction), answers queries on what it holds, exports raw sketches, streams change events,
//! and serves the dashboard. docs/OPERATIONS.md is the runbook; `/openapi.json` the API.
//!
//! The shape follows axum's testing example: [`app`] builds the router (oneshot tests call it
//! directly) and [`run`] serves it on a listener until a shutdown future resolves, then drains and
//! commits.

pub mod auth;
pub mod config;
pub mod demo;
pub mod engine;
pub mod error;
pub mod metrics;
mod routes;
pub mod store;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use edgesketch::{LedgerConfig, SeriesConfig};
use tokio::net::TcpListener;

use crate::auth::Auth;
use crate::config::ServerConfig;
use crate::engine::{Clock, Engine, EngineConfig};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::store::sqlite::SqliteStore;

pub use routes::app;

/// Everything a request handler needs.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    auth: Auth,
    config: ServerConfig,
    ready: AtomicBool,
    /// Flips to true when shutdown starts: long-lived streams (SSE) end so the drain can finish.
    closing: tokio::sync::watch::Sender<bool>,
}

impl AppState {
    /// Opens the store in `config.data_dir` (checking its integrity) and starts the writer.
    pub fn open(config: ServerConfig, auth: Auth, clock: Clock) -> Result<Self, String> {
        let store = SqliteStore::open(&config.data_dir).map_err(|e| e.to_string())?;
        store
            .check()
            .map_err(|e| format!("{}: {e}", config.data_dir.display()))?;
        Self::with_store(Arc::new(store), config, auth, clock)
    }

    /// Starts the writer over any store.
    pub fn with_store(
        store: Arc<dyn Store>,
        config: ServerConfig,
        auth: Auth,
        clock: Clock,
    ) -> Result<Self, String> {
        let rollup = match config.rollup_bucket_ms {
            0 => None,
            width => Some(
                SeriesConfig::new(
                    width,
                    config.rollup_retention_ms,
                    config.rollup_retention_ms,
                    60_000,
                )
                .map_err(|e| format!("--rollup-bucket-ms / --rollup-retention-ms: {e}"))?,
            ),
        };
        let engine_config = EngineConfig {
            batch_max: config.batch_max,
            batch_wait: Duration::from_millis(config.batch_wait_ms),
            queue: config.queue,
            cache_bytes: config.cache_bytes,
            max_keys_per_tenant: config.max_keys_per_tenant,
            max_bytes_per_tenant: config.max_bytes_per_tenant,
            drift_grace_ms: (config.drift_grace_secs as i64).saturating_mul(1000),
            ledger: LedgerConfig::default(),
            rollup,
        };
        let engine = Engine::start(store, engine_config, Arc::new(Metrics::new()), clock);
        Ok(AppState {
            inner: Arc::new(Inner {
                engine,
                auth,
                config,
                ready: AtomicBool::new(true),
                closing: tokio::sync::watch::channel(false).0,
            }),
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Tenants and tokens.
    pub fn auth(&self) -> &Auth {
        &self.inner.auth
    }

    /// Settings.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// Metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.engine.shared().metrics
    }

    /// Resolves when shutdown starts.
    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    /// Whether `/readyz` says ready (false while draining).
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Relaxed)
    }
}

/// Serves `app(state)` on `listener` until `shutdown` resolves; then stops accepting, lets
/// requests in flight finish (their envelopes are committed), stops the writer and returns.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let maintenance = {
        let state = state.clone();
        let every = Duration::from_secs(state.config().maintenance_secs.max(1));
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                if let Err(e) = state.engine().maintain().await {
                    tracing::warn!(error = %e, "maintenance");
                }
            }
        })
    };
    let draining = state.clone();
    let shutdown = async move {
        shutdown.await;
        draining.inner.ready.store(false, Ordering::Relaxed);
        draining.inner.closing.send_replace(true);
        tracing::info!("shutting down: no new connections; finishing requests in flight");
    };
    let result = axum::serve(listener, app(state.clone()))
        .with_graceful_shutdown(shutdown)
        .await;
    maintenance.abort();
    let closing = state.clone();
    tokio::task::spawn_blocking(move || closing.engine().close())
        .await
        .map_err(std::io::Error::other)?;
    tracing::info!("writer stopped; every acknowledged envelope is committed");
    result
}

/// Resolves on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
