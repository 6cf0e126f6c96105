//! Building the application (storage, state, listeners) and serving it.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Router;
use axum_server::tls_rustls::RustlsConfig;
use axum_server::Handle;
use vigil_config::Settings;
use vigil_core::runtime::{CancellationToken, Runtime};
use vigil_store::db::DbOptions;
use vigil_store::{open_blob_store, Database};

use crate::metrics::{BuildLabels, Metrics};
use crate::state::AppState;
use crate::{metrics_router, router, tls};

/// A built, bound, not yet serving Vigil.
pub struct Application {
    state: AppState,
    main: TcpListener,
    metrics: Option<TcpListener>,
    redirect: Option<TcpListener>,
    tls: Option<RustlsConfig>,
}

fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr).with_context(|| {
        format!("cannot listen on {addr} ({what}); is another process using it? choose another with --listen or the config")
    })?;
    listener
        .set_nonblocking(true)
        .context("configuring the listener")?;
    Ok(listener)
}

impl Application {
    /// Opens the database (migrating when configured), the blob store, and binds every
    /// listener. Port 0 picks a free port; see [`Application::local_addr`].
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        vigil_core::maintenance::secure_data_dir(&settings)?;
        let url = settings.database_url();
        let db = Database::connect(
            &url,
            &DbOptions {
                max_connections: settings.database.max_connections,
                busy_timeout: Duration::from_millis(settings.database.busy_timeout_ms),
            },
        )
        .await
        .context("opening the database")?;
        db.prepare_schema(settings.database.auto_migrate)
            .await
            .context("checking the database schema")?;
        let blobs = open_blob_store(&settings)
            .await
            .context("opening the blob store")?;

        let events = vigil_core::events::EventBus::open(
            db.clone(),
            vigil_core::events::BusOptions::from_settings(&settings),
        )
        .await
        .context("opening the event bus")?;
        let mut identity =
            crate::auth::Identity::new(&settings, &db).context("setting up identity and access")?;
        // Every audit record is published as an event, and the events that change what a
        // credential may do (from any instance) drop it from the auth cache.
        identity.audit =
            identity
                .audit
                .with_observer(Arc::new(vigil_core::events::AuditPublisher::new(
                    events.clone(),
                )));
        let auth_cache = Arc::new(crate::auth::cache::AuthCache::new(Duration::from_secs(
            settings.auth.cache_secs,
        )));
        let cache = auth_cache.clone();
        events.on_event(Arc::new(move |event| cache.on_event(event)));
        let identity = Arc::new(identity);

        let rate_limits = Arc::new(
            crate::ratelimits::RateLimits::from_settings(&settings)
                .context("setting up rate limiting")?,
        );

        let vision = if settings.vision.enabled {
            let s = settings.clone();
            let service =
                tokio::task::spawn_blocking(move || vigil_core::vision::VisionService::load(&s))
                    .await
                    .context("loading the face models")?
                    .context(
                        "loading the face models (set vision.models_dir, or vision.enabled = false to run without them)",
                    )?;
            Some(Arc::new(service))
        } else {
            tracing::info!("vision engine disabled (vision.enabled = false)");
            None
        };

        let metrics = Metrics::new();
        metrics
            .build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").into(),
                database: db.backend().as_str().into(),
                profile: settings.profile.as_str().into(),
            })
            .set(1);

        let tls = match (&settings.tls.cert, &settings.tls.key) {
            (Some(cert), Some(key)) => Some(tls::load(cert, key).await?),
            _ => None,
        };
        let main = bind(settings.server.listen, "main listener")?;
        let metrics_listener = settings
            .server
            .metrics_listen
            .map(|a| bind(a, "metrics listener"))
            .transpose()?;
        let redirect = settings
            .server
            .redirect_listen
            .map(|a| bind(a, "HTTP redirect listener"))
            .transpose()?;

        tracing::info!(
            profile = settings.profile.as_str(),
            database = db.backend().as_str(),
            storage = %blobs.describe(),
            rate_limits = %rate_limits.limiter.describe(),
            rate_limits_enabled = rate_limits.enabled,
            "storage ready"
        );
        let uploads = Arc::new(
            vigil_core::uploads::Uploads::new(db.clone(), blobs.clone(), &settings)
                .with_audit(identity.audit.clone()),
        );
        let health = vigil_core::health::Health::new(db.clone(), blobs.clone())
            .with_rate_limiter(rate_limits.limiter.clone());
        let runtime = Runtime::default();
        let cameras = {
            let mut deps = vigil_core::cameras::CameraDeps::new(
                &settings,
                db.clone(),
                blobs.clone(),
                events.clone(),
                vision.clone(),
                identity.keys.clone(),
                Some(identity.audit.clone()),
                runtime.clone(),
            );
            // The addresses actually bound (a configured port 0 becomes a real one):
            // camera and webhook URLs may never point back at them.
            deps.net.own_listen.extend(
                [Some(&main), metrics_listener.as_ref(), redirect.as_ref()]
                    .into_iter()
                    .flatten()
                    .filter_map(|l| l.local_addr().ok()),
            );
            Arc::new(vigil_core::cameras::Cameras::new(deps))
        };
        let health = health.with_cameras(cameras.clone());
        Ok(Application {
            state: AppState {
                settings: Arc::new(settings),
                db,
                blobs,
                uploads,
                metrics: Arc::new(metrics),
                vision,
                identity,
                rate_limits,
                events,
                auth_cache,
                health,
                started: Instant::now(),
                runtime,
                cameras: Some(cameras),
            },
            main,
            metrics: metrics_listener,
            redirect,
            tls,
        })
    }

    /// On a server with no users yet, issues the one-time first-admin token (valid one
    /// hour; replaces any earlier unused one) and returns the setup link to show the
    /// operator. `None` once any user exists. The link is returned, never logged: log
    /// files outlive the hour and may be read by more people than the console.
    pub async fn bootstrap_link(&self) -> anyhow::Result<Option<String>> {
        let scheme = if self.state.settings.tls.enabled() {
            "https"
        } else {
            "http"
        };
        let fallback = format!("{scheme}://{}", self.local_addr());
        Ok(self.state.identity.bootstrap_link(&fallback).await?)
    }

    /// The main listener's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.main
            .local_addr()
            .unwrap_or_else(|_| self.state.settings.server.listen)
    }

    /// The separate metrics listener's address, if any.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The HTTP→HTTPS redirect listener's address, if any.
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.redirect.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The application state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Starts the background tasks every server runs, through the supervised runtime
    /// (`state.runtime`): the `purge` of ended sessions and spent one-time tokens
    /// (every `auth.purge_interval_secs`), the `denial-flush` of sampled access-denial
    /// counts (every minute), event delivery, event retention and the `readiness` probes
    /// (every `server.readiness_interval_secs`). [`Application::run_until_stopped`] calls it; a
    /// new task is one more `spawn_supervised` here (see `vigil_core::runtime`).
    fn start_tasks(&self) {
        let state = &self.state;
        let (db, lifetimes) = (state.db.clone(), state.identity.lifetimes);
        let interval = Duration::from_secs(state.settings.auth.purge_interval_secs);
        state
            .runtime
            .spawn_supervised("purge", move |stop: CancellationToken| {
                vigil_core::housekeeping::run_purge(db.clone(), lifetimes, interval, stop)
            });
        // Counts of sampled access denials, written once their minute is over.
        let identity = state.identity.clone();
        state
            .runtime
            .spawn_supervised("denial-flush", move |stop: CancellationToken| {
                let identity = identity.clone();
                async move {
                    identity
                        .run_denial_flush(Duration::from_secs(60), stop)
                        .await
                }
            });
        // The event bus: delivery to subscribers (and between instances), and retention.
        let bus = state.events.clone();
        state
            .runtime
            .spawn_supervised("events", move |stop: CancellationToken| {
                let bus = bus.clone();
                async move { Ok(bus.run(stop.cancelled_owned()).await?) }
            });
        let bus = state.events.clone();
        state
            .runtime
            .spawn_supervised("event-retention", move |stop: CancellationToken| {
                let bus = bus.clone();
                async move { Ok(bus.run_retention(stop.cancelled_owned()).await?) }
            });
        if let Some(cameras) = &state.cameras {
            // Enabled cameras start once the server is up; each runs its own worker
            // (restarting its source with back-off), so this task's work is then done.
            let c = cameras.clone();
            state
                .runtime
                .spawn_supervised("cameras", move |_stop: CancellationToken| {
                    let c = c.clone();
                    async move {
                        let started = c.start_enabled().await?;
                        tracing::info!(started, "cameras started");
                        Ok(())
                    }
                });
            // Cameras changed by the CLI or another instance.
            let c = cameras.clone();
            state
                .runtime
                .spawn_supervised("camera-sync", move |stop: CancellationToken| {
                    let c = c.clone();
                    async move { c.run_sync(stop).await }
                });
            // Violations past their camera's retention, pictures included, hourly.
            let c = cameras.clone();
            state.runtime.spawn_supervised(
                "violation-retention",
                move |stop: CancellationToken| {
                    let c = c.clone();
                    async move {
                        let mut tick = tokio::time::interval(Duration::from_secs(3600));
                        loop {
                            tokio::select! {
                                () = stop.cancelled() => return Ok(()),
                                _ = tick.tick() => { c.expire_violations().await?; }
                            }
                        }
                    }
                },
            );
        }
        // `/readyz` answers from these probes' latest result, never probing itself.
        let health = state.health.clone();
        let interval = Duration::from_secs(state.settings.server.readiness_interval_secs);
        state
            .runtime
            .spawn_supervised("readiness", move |stop: CancellationToken| {
                health.clone().run(interval, stop)
            });
    }

    /// Starts the background tasks ([`Application::start_tasks`]) and serves until
    /// `shutdown` resolves. Then stops accepting, cancels the runtime's shutdown token, lets
    /// in-flight requests and background tasks finish (both within
    /// `server.shutdown_grace_secs`), logs any task that did not stop in time, and closes
    /// the database.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let settings = self.state.settings.clone();
        let grace = Duration::from_secs(settings.server.shutdown_grace_secs);
        let header_timeout = Duration::from_secs(settings.server.header_read_timeout_secs);
        let main_addr = self.local_addr();
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let mut handles: Vec<Handle<SocketAddr>> = Vec::new();
        let mut tasks = tokio::task::JoinSet::new();
        let runtime = self.state.runtime.clone();
        self.start_tasks();

        let app = router(self.state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let handle = Handle::new();
        handles.push(handle.clone());
        match self.tls.clone() {
            Some(config) => {
                let mut server = axum_server::from_tcp_rustls(self.main, config.clone())
                    .context("starting the HTTPS listener")?
                    .handle(handle)
                    .first_request_timeout(header_timeout);
                server
                    .http_builder()
                    .http1()
                    .header_read_timeout(header_timeout);
                tasks.spawn(async move { server.serve(app).await });
                if let (Some(cert), Some(key)) =
                    (settings.tls.cert.clone(), settings.tls.key.clone())
                {
                    runtime.spawn_supervised("tls-watcher", move |stop| {
                        let (config, cert, key) = (config.clone(), cert.clone(), key.clone());
                        async move {
                            tls::watch(config, cert, key, stop).await;
                            anyhow::Ok(())
                        }
                    });
                }
            }
            None => {
                let server = plain_server(self.main, handle, header_timeout, "HTTP listener")?;
                tasks.spawn(async move { server.serve(app).await });
            }
        }
        if let Some(listener) = self.metrics {
            let app = metrics_router(self.state.clone())
                .into_make_service_with_connect_info::<SocketAddr>();
            let handle = Handle::new();
            handles.push(handle.clone());
            let server = plain_server(listener, handle, header_timeout, "metrics listener")?;
            tasks.spawn(async move { server.serve(app).await });
        }
        if let Some(listener) = self.redirect {
            let app = redirect_router(main_addr.port()).into_make_service();
            let handle = Handle::new();
            handles.push(handle.clone());
            let server = plain_server(listener, handle, header_timeout, "redirect listener")?;
            tasks.spawn(async move { server.serve(app).await });
        }
        tracing::info!(address = %main_addr, "Vigil listening on {scheme}://{main_addr}");

        tokio::select! {
            _ = shutdown => tracing::info!("shutdown requested; finishing in-flight requests"),
            Some(result) = tasks.join_next() => {
                self.state.events.close();
                // A listener stopped on its own: that is fatal, but still drain the others.
                for h in &handles { h.graceful_shutdown(Some(grace)); }
                runtime.drain(grace).await;
                self.state.db.close().await;
                return match result {
                    Ok(Ok(())) => Err(anyhow::anyhow!("a listener stopped unexpectedly")),
                    Ok(Err(e)) => Err(e).context("a listener failed"),
                    Err(e) => Err(e).context("a listener task failed"),
                };
            }
        }
        // Event streams never finish on their own: end them first, so the drain below
        // waits only for real requests.
        self.state.events.close();
        // Listeners and background tasks drain at the same time, each within the grace.
        for h in &handles {
            h.graceful_shutdown(Some(grace));
        }
        let listeners = async {
            while let Some(result) = tasks.join_next().await {
                if let Ok(Err(e)) = result {
                    tracing::warn!(error = %e, "listener ended with an error during shutdown");
                }
            }
        };
        let (late, ()) = tokio::join!(runtime.drain(grace), listeners);
        if late.is_empty() {
            tracing::info!("background tasks stopped");
        }
        self.state.db.close().await;
        tracing::info!("shutdown complete");
        Ok(())
    }
}

/// A plain-HTTP server on `listener` with the slow-client timeouts applied.
fn plain_server(
    listener: TcpListener,
    handle: Handle<SocketAddr>,
    header_timeout: Duration,
    what: &str,
) -> anyhow::Result<axum_server::Server<SocketAddr>> {
    let mut server = axum_server::from_tcp(listener)
        .with_context(|| format!("starting the {what}"))?
        .handle(handle)
        .first_request_timeout(header_timeout);
    server
        .http_builder()
        .http1()
        .header_read_timeout(header_timeout);
    Ok(server)
}

/// Plain-HTTP listener that sends every request to the same host and path over HTTPS.
fn redirect_router(https_port: u16) -> Router {
    Router::new().fallback(move |uri: Uri, req: Request| async move {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| {
                h.rsplit_once(':')
                    .map(|(name, _)| name)
                    .unwrap_or(h)
                    .to_string()
            })
            .filter(|h| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b))
            });
        let Some(host) = host else {
            return (StatusCode::BAD_REQUEST, "missing or invalid Host header").into_response();
        };
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let location = if https_port == 443 {
            format!("https://{host}{path}")
        } else {
            format!("https://{host}:{https_port}{path}")
        };
        match HeaderValue::from_str(&location) {
            Ok(v) => (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, v)]).into_response(),
            Err(_) => (StatusCode::BAD_REQUEST, "invalid request target").into_response(),
        }
    })
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send {
    use tokio::signal::unix::{signal, SignalKind};
    // Registered now rather than at first poll: a SIGTERM that arrives while the server
    // is still starting must stop it cleanly, not kill it with the default action.
    let term = signal(SignalKind::terminate()).ok();
    let int = signal(SignalKind::interrupt()).ok();
    async move {
        let wait = |s: Option<tokio::signal::unix::Signal>| async move {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = wait(term) => {},
            _ = wait(int) => {},
        }
    }
}
