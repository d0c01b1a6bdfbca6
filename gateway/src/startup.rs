//! Building and running the gateway.
//!
//! `Application::build` opens the store, loads TLS material and binds the listener (port 0
//! in tests, so each test gets its own server); `run_until_stopped` accepts connections
//! until the shutdown signal. Each TLS connection is served by hyper with the client
//! certificate's fingerprint attached to every request made on it; from there the axum router
//! in [`crate::routes`] takes over. When `flight_listen` is configured, Arrow Flight SQL
//! ([`crate::flight`]) is served beside it on its own port and stops with it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::config::Config;
use crate::pki;
use crate::store::Store;
use crate::tls::{self, ClientCertificate};
use tongban_catalog::query::{QueryEngine, QueryLimits};
use tongban_schemas::BaseLibrary;

/// State shared by every request handler.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The metadata store.
    pub store: Store,
    /// The configuration read at start-up.
    pub config: Arc<Config>,
    /// Serialises publications so snapshot versions are assigned one at a time.
    pub publish_lock: Arc<tokio::sync::Mutex<()>>,
    /// The governed query engine.
    pub engine: Arc<QueryEngine>,
    /// Per-department query concurrency.
    pub concurrency: Arc<crate::query::Concurrency>,
    /// Threads that plan queries.
    pub planners: Arc<crate::query::Planners>,
    /// The audit log.
    pub ledger: crate::ledger::Ledger,
    /// Where audit entries go: the log above.
    pub recorder: crate::audit::Recorder,
    /// Anomaly flags' memory.
    pub alerts: Arc<crate::alerts::Alerts>,
    /// E-licences: keys, status lists, registry, verifier.
    pub licences: Arc<crate::licences::Licences>,
    /// Matters (事项) and their required materials.
    pub matters: Arc<crate::matters::Matters>,
    /// The key that signs resolution evidence.
    pub evidence: Arc<crate::matters::EvidenceSigner>,
}

impl AppState {
    /// Makes the newest snapshot of every published library queryable.
    pub async fn load_snapshots(&self) -> Result<(), StartupError> {
        for resource in self.store.list_resources().await? {
            if let Some(s) = &resource.latest {
                self.engine
                    .set_snapshot(
                        resource.definition.base_library,
                        s.version,
                        &self.config.data_dir.join(&s.path),
                    )
                    .await
                    .map_err(|e| StartupError::Engine(e.to_string()))?;
            }
        }
        Ok(())
    }

    /// Makes current any snapshot newer than the one the engine serves: one another
    /// replica, or the `publish` command, published. Returns the libraries switched.
    pub async fn follow_snapshots(&self) -> Result<Vec<BaseLibrary>, StartupError> {
        let serving = self.engine.versions();
        let mut switched = Vec::new();
        for resource in self.store.list_resources().await? {
            let library = resource.definition.base_library;
            if let Some(s) = &resource.latest
                && serving.get(&library).is_none_or(|v| *v < s.version)
            {
                self.engine
                    .set_snapshot(library, s.version, &self.config.data_dir.join(&s.path))
                    .await
                    .map_err(|e| StartupError::Engine(e.to_string()))?;
                switched.push(library);
            }
        }
        Ok(switched)
    }
}

/// Keeps a replica's in-memory state in step with the shared store until the server stops.
/// Also swaps in a renewed server certificate when its files change.
async fn follow(
    state: AppState,
    certificate: Arc<tls::ServerCertificate>,
    mut stopped: watch::Receiver<bool>,
) {
    let period = Duration::from_secs(state.config.store.follow_seconds.max(1));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => return,
        }
        match state.follow_snapshots().await {
            Ok(switched) => {
                for library in switched {
                    tracing::info!(%library, "now serving a snapshot published elsewhere");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot check for new snapshots"),
        }
        if let Err(e) = state.licences.refresh().await {
            tracing::warn!(error = %e, "cannot refresh licence keys and status lists");
        }
        match certificate.reload_if_changed() {
            Ok(true) => tracing::info!("server certificate reloaded"),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the changed server certificate does not load; the previous one stays in service")
            }
        }
    }
}

/// Failures while starting.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// TLS material is missing or invalid.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The store cannot be opened.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The query engine cannot start.
    #[error("query engine: {0}")]
    Engine(String),
    /// The e-licence keys or status lists cannot be loaded.
    #[error("e-licences: {0}")]
    Licences(String),
    /// The matter definitions or the evidence key cannot be loaded.
    #[error("matters: {0}")]
    Matters(String),
    /// The audit log cannot start (keys unreadable, stored log inconsistent).
    #[error("audit log: {0}")]
    Audit(String),
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A gateway ready to serve.
pub struct Application {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    state: AppState,
    addr: SocketAddr,
    flight: Option<(TcpListener, TlsAcceptor, SocketAddr)>,
    certificate: Arc<tls::ServerCertificate>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("addr", &self.addr)
            .field("flight_addr", &self.flight_addr())
            .finish_non_exhaustive()
    }
}

/// Stops a running gateway when told to or dropped.
#[derive(Debug)]
pub struct ShutdownHandle {
    sender: watch::Sender<bool>,
}

impl ShutdownHandle {
    /// Asks the gateway to stop accepting connections.
    pub fn stop(&self) {
        let _ = self.sender.send(true);
    }
}

impl Drop for ShutdownHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Application {
    /// Opens the store, loads TLS and binds the listener.
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        let (tls_config, certificate) = tls::server_config(&config.tls)?;
        let store = Store::connect(config.store.url.expose(), config.store.max_connections).await?;
        Self::build_with_store(config, store, tls_config, certificate).await
    }

    async fn build_with_store(
        config: Config,
        store: Store,
        tls_config: Arc<rustls::ServerConfig>,
        certificate: Arc<tls::ServerCertificate>,
    ) -> Result<Application, StartupError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartupError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: config.listen,
            source,
        })?;
        let mut config = config;
        config.listen = addr;
        let flight = match config.flight_listen {
            Some(wanted) => {
                let listener =
                    TcpListener::bind(wanted)
                        .await
                        .map_err(|source| StartupError::Bind {
                            addr: wanted,
                            source,
                        })?;
                let bound = listener.local_addr().map_err(|source| StartupError::Bind {
                    addr: wanted,
                    source,
                })?;
                config.flight_listen = Some(bound);
                Some((
                    listener,
                    TlsAcceptor::from(crate::flight::tls_config(&tls_config)),
                    bound,
                ))
            }
            None => None,
        };
        let limits = QueryLimits {
            memory_bytes: (config.query.memory_mb as usize) << 20,
            batch_size: 8192,
            target_partitions: config.query.target_partitions as usize,
        };
        let engine =
            Arc::new(QueryEngine::new(&limits).map_err(|e| StartupError::Engine(e.to_string()))?);
        if let Some(scheduler) = config.query.scheduler().map_err(StartupError::Engine)? {
            engine
                .use_cluster(&scheduler)
                .await
                .map_err(|e| StartupError::Engine(format!("{e} ({})", e.detail())))?;
            tracing::info!(
                scheduler = engine.scheduler_url().unwrap_or(""),
                "queries run on the Ballista cluster"
            );
        }
        let ledger = start_ledger(&config, &store).await?;
        let licences = Arc::new(
            crate::licences::Licences::load(store.clone(), config.base_url())
                .await
                .map_err(|e| StartupError::Licences(e.to_string()))?,
        );
        let matters = Arc::new(
            crate::matters::Matters::load(&config.matters)
                .map_err(|e| StartupError::Matters(e.to_string()))?,
        );
        let evidence = Arc::new(
            crate::matters::EvidenceSigner::load(
                &config.matters.evidence_key_path(&config.data_dir),
            )
            .map_err(|e| StartupError::Matters(e.to_string()))?,
        );
        let state = AppState {
            matters,
            evidence,
            recorder: crate::audit::Recorder::Ledger(ledger.clone()),
            ledger,
            alerts: Arc::new(crate::alerts::Alerts::default()),
            licences,
            store,
            config: Arc::new(config),
            publish_lock: Arc::new(tokio::sync::Mutex::new(())),
            engine,
            concurrency: Arc::new(crate::query::Concurrency::default()),
            planners: Arc::new(
                crate::query::Planners::start(
                    std::thread::available_parallelism()
                        .map_or(2, |n| n.get())
                        .max(2),
                )
                .map_err(|e| {
                    StartupError::Engine(format!("cannot start the query planner threads: {e}"))
                })?,
            ),
        };
        state.load_snapshots().await?;
        Ok(Application {
            listener,
            acceptor: TlsAcceptor::from(tls_config),
            state,
            addr,
            flight,
            certificate,
        })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound Flight SQL address, when `flight_listen` is configured.
    pub fn flight_addr(&self) -> Option<SocketAddr> {
        self.flight.as_ref().map(|(_, _, addr)| *addr)
    }

    /// The shared state, e.g. for seeding in tests.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until the process is interrupted (Ctrl-C or SIGTERM).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let (handle, stopped) = shutdown_pair();
        tokio::spawn(async move {
            wait_for_signal().await;
            handle.stop();
            // The handle is dropped here too; both paths send the same signal.
        });
        self.serve(stopped).await
    }

    /// Serves in a background task; the returned handle stops it.
    pub fn spawn(self) -> ShutdownHandle {
        let (handle, stopped) = shutdown_pair();
        tokio::spawn(async move {
            if let Err(e) = self.serve(stopped).await {
                tracing::error!(error = %e, "gateway stopped with an error");
            }
        });
        handle
    }

    async fn serve(mut self, mut stopped: watch::Receiver<bool>) -> std::io::Result<()> {
        let flight = self.flight.take().map(|(listener, acceptor, addr)| {
            let serving =
                crate::flight::serve(self.state.clone(), listener, acceptor, stopped.clone());
            tokio::spawn(async move {
                if let Err(e) = serving.await {
                    tracing::error!(%addr, error = %e, "Flight SQL stopped with an error");
                }
            })
        });
        tokio::spawn(follow(
            self.state.clone(),
            Arc::clone(&self.certificate),
            stopped.clone(),
        ));
        let router = crate::routes::router(self.state.clone());
        let limits = &self.state.config.limits;
        let rate = Arc::new(crate::ratelimit::RateLimiter::new(
            limits.requests_per_second,
            limits.request_burst,
        ));
        let handshake = Duration::from_secs(self.state.config.limits.handshake_seconds.max(1));
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        tracing::info!(addr = %self.addr, "gateway listening (HTTPS)");
        loop {
            let (tcp, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and similar: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = stopped.changed() => break,
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = self.acceptor.clone();
            let router = router.clone();
            let rate = Arc::clone(&rate);
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let tls = match tokio::time::timeout(handshake, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
                let client = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .map(|leaf| ClientCertificate {
                        fingerprint: pki::fingerprint(leaf),
                    });
                let started_request = Arc::new(std::sync::atomic::AtomicBool::new(false));
                let seen = Arc::clone(&started_request);
                let service = hyper::service::service_fn(
                    move |mut request: hyper::Request<hyper::body::Incoming>| {
                        seen.store(true, std::sync::atomic::Ordering::Relaxed);
                        if let Some(client) = &client {
                            request.extensions_mut().insert(client.clone());
                        }
                        let limited = rate.admit(peer.ip());
                        let router = router.clone();
                        async move {
                            if !limited {
                                return Ok(axum::response::IntoResponse::into_response(
                                    crate::error::ApiError::TooManyRequests,
                                ));
                            }
                            router.oneshot(request).await
                        }
                    },
                );
                let mut builder = auto::Builder::new(TokioExecutor::new());
                // A client that connects and then sends nothing (or headers a byte at a time)
                // is cut off instead of holding a connection and a task forever.
                builder
                    .http1()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(handshake);
                let connection = watcher.watch(
                    builder
                        .serve_connection_with_upgrades(TokioIo::new(tls), service)
                        .into_owned(),
                );
                tokio::pin!(connection);
                let first_request = async {
                    tokio::time::sleep(handshake).await;
                    if started_request.load(std::sync::atomic::Ordering::Relaxed) {
                        std::future::pending::<()>().await;
                    }
                };
                tokio::select! {
                    ended = &mut connection => {
                        if let Err(e) = ended {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                    }
                    () = first_request => {
                        tracing::debug!(%peer, "no request within the time limit; closed");
                    }
                }
            });
        }
        // Let requests in flight finish, but not forever.
        let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
        if let Some(flight) = flight {
            let _ = tokio::time::timeout(Duration::from_secs(10), flight).await;
        }
        self.state.store.close().await;
        Ok(())
    }
}

fn shutdown_pair() -> (ShutdownHandle, watch::Receiver<bool>) {
    let (sender, receiver) = watch::channel(false);
    (ShutdownHandle { sender }, receiver)
}

async fn wait_for_signal() {
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
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}

/// Opens the audit log: its keys (created on first start) and its tree.
async fn start_ledger(
    config: &Config,
    store: &Store,
) -> Result<crate::ledger::Ledger, StartupError> {
    let audit = &config.audit;
    let key =
        crate::ledger::heads::SigningKey::load_or_create(&audit.signing_key_path(&config.data_dir))
            .map_err(|e| StartupError::Audit(e.to_string()))?;
    let subject_key = crate::ledger::load_subject_key(&audit.subject_key_path(&config.data_dir))
        .map_err(|e| StartupError::Audit(e.to_string()))?;
    let options = crate::ledger::LedgerOptions {
        head_every_entries: audit.head_every_entries.max(1),
        head_interval: Duration::from_secs(audit.head_interval_seconds.max(1)),
        max_batch: audit.max_batch.max(1),
    };
    let ledger = crate::ledger::Ledger::start(store.clone(), key, subject_key, options)
        .await
        .map_err(|e| StartupError::Audit(e.to_string()))?;
    if audit.retention_days > 0 {
        tokio::spawn(purge_expired(
            ledger.clone(),
            i64::from(audit.retention_days) * 86_400_000,
        ));
    }
    Ok(ledger)
}

/// Removes entry bodies older than the retention period, hourly; leaf hashes stay, so the
/// log still verifies. Stops when the server does.
async fn purge_expired(ledger: crate::ledger::Ledger, keep_ms: i64) {
    let weak = ledger.downgrade();
    drop(ledger);
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let Some(ledger) = weak.upgrade() else { return };
        let before = chrono::Utc::now().timestamp_millis() - keep_ms;
        match ledger.store().purge_log(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "audit entry bodies past retention removed"),
            Err(e) => tracing::error!(error = %e, "audit retention purge failed"),
        }
    }
}
