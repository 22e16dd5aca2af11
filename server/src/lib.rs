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
            tenant_quotas: auth
                .tenants()
                .iter()
                .map(|t| (t.name.clone(), t.clone()))
                .collect(),
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
///
/// Each connection must send a request's headers within `--header-timeout-ms`, at most
/// `--max-connections` are open at once, and the drain waits at most the longer of the header and
/// body timeouts plus five seconds before it closes what is left (an unanswered request was not
/// applied; its sender retries).
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use tower::ServiceExt;

    handle_file_size_signal();

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
    let config = state.config();
    let header_timeout = Duration::from_millis(config.header_timeout_ms.max(1));
    let drain_deadline =
        Duration::from_millis(config.header_timeout_ms.max(config.body_timeout_ms) + 5_000);
    let connections = Arc::new(tokio::sync::Semaphore::new(config.max_connections.max(1)));
    // HTTP/1 only: hyper's HTTP/2 has no header-read timeout, so connections that sent the h2c
    // preface and then nothing held their slot for good (three of them locked out everyone).
    // Browsers speak HTTP/2 only over TLS, which a proxy in front of this server ends.
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let router = app(state.clone());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or the peer gave up before the accept: wait a
                    // moment rather than spin.
                    tracing::warn!(error = %e, "accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |request| router.clone().oneshot(request));
        // No upgrades (nothing here speaks WebSocket), and `http1_only` holds only without them.
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            // A closed or timed-out connection is the client's business, not an error of ours.
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    state.inner.ready.store(false, Ordering::Relaxed);
    state.inner.closing.send_replace(true);
    tracing::info!("shutting down: no new connections; finishing requests in flight");
    if tokio::time::timeout(drain_deadline, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            after_ms = drain_deadline.as_millis() as u64,
            "connections still open after the drain deadline; closing them"
        );
    }
    maintenance.abort();
    let closing = state.clone();
    tokio::task::spawn_blocking(move || closing.engine().close())
        .await
        .map_err(std::io::Error::other)?;
    tracing::info!("writer stopped; every acknowledged envelope is committed");
    Ok(())
}

/// A file-size limit (`ulimit -f`, systemd's `LimitFSIZE`) must fail the write that passes it,
/// which the store answers with 503 `store_unavailable` and retries, not kill the server:
/// SIGXFSZ's default action ends the process (it did, silently, with exit status 153). With a
/// handler installed (tokio's stays for the life of the process) the write returns EFBIG.
fn handle_file_size_signal() {
    #[cfg(unix)]
    if let Err(e) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(libc::SIGXFSZ))
    {
        tracing::warn!(error = %e, "cannot handle SIGXFSZ: a file-size limit would end the server");
    }
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
