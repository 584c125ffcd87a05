//! One call that serves a service: gRPC health (NOT_SERVING until the
//! service says it is ready, and again on shutdown), reflection, auth, tower
//! layers (timeout, global concurrency limit with load shedding, request id,
//! readiness gate), a tracing span per RPC that joins the caller's trace, and
//! graceful shutdown that drains in-flight calls.

use crate::auth::{AuthLayer, Verifier};
use crate::config::ServerConfig;
use crate::telemetry;
use futures::future::BoxFuture;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

/// The gRPC services one process serves, with their names for health.
#[derive(Default)]
pub struct Services {
    routes: RoutesBuilder,
    names: Vec<&'static str>,
}

impl Services {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with<S>(mut self, service: S) -> Self
    where
        S: tower::Service<http::Request<tonic::body::Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.names.push(S::NAME);
        self.routes.add_service(service);
        self
    }
}

/// A running server. Call [`Running::set_ready`] once migrations are done.
pub struct Running {
    pub local_addr: SocketAddr,
    /// Where `GET /metrics` is served, when `server.admin_port` is set.
    pub admin_addr: Option<SocketAddr>,
    name: &'static str,
    health: HealthReporter,
    names: Vec<&'static str>,
    ready: Arc<AtomicBool>,
    shutdown_started: tokio::sync::watch::Receiver<bool>,
    grace: Duration,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Running {
    pub async fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
        set_status(&self.health, &self.names, ServingStatus::Serving).await;
        tracing::info!(service = self.name, addr = %self.local_addr, "serving");
    }

    /// Pings the database every `probe_interval_ms`: after `probe_failures`
    /// failed pings in a row health turns NOT_SERVING (Kubernetes stops
    /// routing to the pod) and a successful ping turns it SERVING again, once
    /// the service is ready. Ends at shutdown.
    pub fn watch_database(&self, db: sea_orm::DatabaseConnection, config: &crate::config::DatabaseConfig) {
        let (health, names, ready, name) = (self.health.clone(), self.names.clone(), self.ready.clone(), self.name);
        let mut stopped = self.shutdown_started.clone();
        let interval = Duration::from_millis(config.probe_interval_ms);
        let limit = config.probe_failures;
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let (mut failures, mut serving) = (0u32, true);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = stopped.wait_for(|started| *started) => return,
                }
                let reachable = matches!(tokio::time::timeout(interval, db.ping()).await, Ok(Ok(())));
                if reachable {
                    failures = 0;
                    if !serving && ready.load(Ordering::SeqCst) && !*stopped.borrow() {
                        set_status(&health, &names, ServingStatus::Serving).await;
                        tracing::info!(service = name, "database reachable again, serving");
                        serving = true;
                    }
                } else {
                    failures = failures.saturating_add(1);
                    if serving && failures >= limit {
                        set_status(&health, &names, ServingStatus::NotServing).await;
                        tracing::error!(service = name, failures, "database unreachable, not serving");
                        serving = false;
                    }
                }
            }
        });
    }

    /// Waits until the server has stopped: after the shutdown signal, in-flight
    /// calls get `shutdown_grace_ms` to finish before the server is aborted.
    pub async fn wait(self) -> anyhow::Result<()> {
        let Running {
            mut task,
            mut shutdown_started,
            grace,
            name,
            ..
        } = self;
        let grace_over = async {
            let _ = shutdown_started.wait_for(|started| *started).await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            result = &mut task => Ok(result??),
            _ = grace_over => {
                tracing::warn!(service = name, grace_ms = grace.as_millis() as u64, "grace period over, aborting in-flight calls");
                task.abort();
                Ok(())
            }
        }
    }
}

async fn set_status(health: &HealthReporter, names: &[&'static str], status: ServingStatus) {
    health.set_service_status("", status).await;
    for name in names {
        health.set_service_status(*name, status).await;
    }
}

/// Binds `config.host:config.port` (port 0 picks a free one) and serves
/// `services`, plus health, reflection and the event stream when given.
pub async fn start(
    name: &'static str,
    config: &ServerConfig,
    verifier: Arc<Verifier>,
    services: Services,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    crate::memory::return_large_blocks();
    let listener = TcpListener::bind(config.addr())
        .await
        .map_err(|e| anyhow::anyhow!("bind {}: {e}", config.addr()))?;
    let local_addr = listener.local_addr()?;

    let (health, health_service) = tonic_health::server::health_reporter();
    let Services { mut routes, names } = services;
    set_status(&health, &names, ServingStatus::NotServing).await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(sanshi_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(sanshi_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    routes.add_service(health_service);
    routes.add_service(reflection_v1);
    routes.add_service(reflection_v1alpha);

    let ready = Arc::new(AtomicBool::new(false));
    let layers = ServiceBuilder::new()
        .layer(crate::metrics::RedLayer { service: name })
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(LoadShedLayer::new())
        .layer(GlobalConcurrencyLimitLayer::new(config.concurrency_limit))
        .layer(ReadinessGateLayer { ready: ready.clone() })
        .layer(AuthLayer::new(verifier))
        .into_inner();

    let (started_tx, shutdown_started) = tokio::sync::watch::channel(false);
    let health_on_shutdown = health.clone();
    let names_on_shutdown = names.clone();
    let shutdown = async move {
        shutdown.await;
        tracing::info!(service = name, "shutting down, draining in-flight calls");
        set_status(&health_on_shutdown, &names_on_shutdown, ServingStatus::NotServing).await;
        let _ = started_tx.send(true);
    };

    let server = tonic::transport::Server::builder()
        .timeout(Duration::from_millis(config.request_timeout_ms))
        .max_concurrent_streams(Some(config.concurrency_limit as u32))
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .trace_fn(move |request| rpc_span(name, request))
        .layer(layers)
        .add_routes(routes.routes());
    let task = tokio::spawn(server.serve_with_incoming_shutdown(incoming(listener), shutdown));
    tracing::info!(service = name, addr = %local_addr, "listening");
    let admin_addr = crate::metrics::serve_admin(name, config).await?;
    Ok(Running {
        local_addr,
        admin_addr,
        name,
        health,
        names,
        ready,
        shutdown_started,
        grace: Duration::from_millis(config.shutdown_grace_ms),
        task,
    })
}

/// Accepted connections with TCP_NODELAY set. Without it an answer larger
/// than one segment waits for the client's delayed ACK (Nagle's algorithm):
/// about 40 ms added to every answer over ~1 KB.
pub fn incoming(listener: TcpListener) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use futures::StreamExt as _;
    tokio_stream::wrappers::TcpListenerStream::new(listener).map(|accepted| {
        accepted.inspect(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(error = %error, "tcp_nodelay not set");
            }
        })
    })
}

/// The span of one RPC, with the OpenTelemetry RPC conventions' attributes
/// (`rpc.system`, `rpc.service`, `rpc.method`) and the serving service's
/// name (`sanshi.service`): `sanshi dev` runs every service in one process,
/// whose spans share one `service.name`.
pub fn rpc_span(service: &'static str, request: &http::Request<()>) -> tracing::Span {
    let path = request.uri().path();
    let (rpc_service, rpc_method) = path.trim_start_matches('/').split_once('/').unwrap_or((path, ""));
    let span = tracing::info_span!(
        "rpc",
        otel.name = path.trim_start_matches('/'),
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = rpc_service,
        rpc.method = rpc_method,
        sanshi.service = service,
        request_id = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
        account_id = tracing::field::Empty,
    );
    telemetry::adopt_parent(&span, telemetry::extract_context(request.headers()));
    span
}

/// Refuses every RPC but health and reflection with UNAVAILABLE until the
/// service is ready (migrations applied).
#[derive(Clone)]
struct ReadinessGateLayer {
    ready: Arc<AtomicBool>,
}

impl<S> tower::Layer<S> for ReadinessGateLayer {
    type Service = ReadinessGate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ReadinessGate {
            inner,
            ready: self.ready.clone(),
        }
    }
}

#[derive(Clone)]
struct ReadinessGate<S> {
    inner: S,
    ready: Arc<AtomicBool>,
}

impl<S, B> tower::Service<http::Request<B>> for ReadinessGate<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        let always_open = path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.");
        if self.ready.load(Ordering::SeqCst) || always_open {
            Box::pin(self.inner.call(request))
        } else {
            let response = tonic::Status::unavailable("服务正在启动，请稍后重试").into_http();
            Box::pin(async move { Ok(response) })
        }
    }
}

/// Resolves on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => futures::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = futures::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
