//! The gateway: HTTP/JSON for dashboards in front of the gRPC services.
//! Errors are RFC 9457 problem details; every request is a span that joins
//! the caller's `traceparent`, and the trace continues into the services.

pub mod api;
pub mod config;
pub mod federation;
pub mod limits;
pub mod open311;
pub mod problem;
pub mod routes;

use axum::Router;
use axum::routing::{any, get};
pub use config::Config;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub const NAME: &str = "gateway";

/// Counts and times every request by route template (kit's metrics, served
/// on the admin port): the table's routes name themselves (`MatchedRoute`),
/// the fixed ones are their own templates.
async fn red(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let fixed = match request.uri().path() {
        path @ (routes::HEALTH
        | "/api/v1/openapi.json"
        | "/open311/v2/discovery.json"
        | "/open311/v2/services.json"
        | "/open311/v2/requests.json") => Some(path.to_string()),
        path if path.starts_with("/open311/v2/requests/") => Some("/open311/v2/requests/{file}".into()),
        path if path.starts_with("/open311/v2/services/") => Some("/open311/v2/services/{file}".into()),
        "/api/v1/federation/peers" => Some("/api/v1/federation/peers".into()),
        path if path.starts_with("/api/v1/federation/peers/") => Some("/api/v1/federation/peers/{peer}/experts".into()),
        _ => None,
    };
    let response = next.run(request).await;
    let template = fixed
        .as_deref()
        .or_else(|| response.extensions().get::<api::MatchedRoute>().map(|r| r.0))
        .unwrap_or("(no route)");
    let route = format!("{method} {template}");
    kit::metrics::record_http(NAME, &route, response.status().as_u16(), started.elapsed());
    response
}

pub fn router(
    api: api::Api,
    federation: federation::client::Http,
    limits: Arc<limits::Limits>,
    config: &Config,
) -> Router {
    let origins: Vec<http::HeaderValue> = config
        .cors
        .allowed_origins
        .iter()
        .filter_map(|o| http::HeaderValue::from_str(o).ok())
        .collect();
    let cors = tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::AllowOrigin::list(origins))
        .allow_methods(tower_http::cors::Any)
        .allow_headers([
            http::header::AUTHORIZATION,
            http::header::CONTENT_TYPE,
            http::HeaderName::from_static("traceparent"),
        ])
        .expose_headers([
            http::header::RETRY_AFTER,
            http::HeaderName::from_static("x-request-id"),
            http::HeaderName::from_static("x-next-page-token"),
        ]);
    let open311 = Router::new()
        .route("/open311/v2/discovery.json", get(open311::discovery))
        .route("/open311/v2/services.json", get(open311::services))
        .route("/open311/v2/services/{file}", get(open311::service_definition))
        .route(
            "/open311/v2/requests.json",
            get(open311::get_requests).post(open311::post_request),
        )
        .route("/open311/v2/requests/{file}", get(open311::get_request))
        .with_state(api.upstreams().clone());
    let peers = Router::new()
        .route("/api/v1/federation/peers", get(federation::client::list_peers))
        .route(
            "/api/v1/federation/peers/{peer}/experts",
            get(federation::client::peer_experts),
        )
        .with_state(federation);
    let guarded: Router = Router::new()
        .route("/api/v1/openapi.json", get(api::openapi_json))
        .route("/api/v1/{*path}", any(api::dispatch))
        .with_state(api)
        .merge(open311)
        .merge(peers)
        .fallback(routes::not_found)
        .layer(axum::middleware::from_fn_with_state(limits, limits::limit))
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(cors)
        .layer(axum::middleware::from_fn(red))
        .layer(
            tower::ServiceBuilder::new()
                .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                    http::StatusCode::GATEWAY_TIMEOUT,
                    Duration::from_millis(config.server.request_timeout_ms),
                ))
                .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
                    config.server.concurrency_limit,
                ))
                .layer(axum::extract::DefaultBodyLimit::max(config.server.max_message_bytes)),
        );
    // Health answers from here, outside the rate limits, the concurrency
    // limit and the timeout: a gateway under load (or a client over its
    // limit, all probes sharing the kubelet's address) must not fail its
    // probes and be restarted for it.
    let health: Router = Router::new()
        .route(routes::HEALTH, get(routes::healthz))
        .layer(axum::middleware::from_fn(red));
    health.merge(guarded).layer(
        tower::ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(TraceLayer::new_for_http().make_span_with(http_span)),
    )
}

fn http_span(request: &http::Request<axum::body::Body>) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "http",
        otel.name = format!("{} {}", request.method(), request.uri().path()),
        otel.kind = "server",
        sanshi.service = "gateway",
        http.method = %request.method(),
        http.route = request.uri().path(),
        request_id,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    kit::telemetry::adopt_parent(&span, kit::telemetry::extract_context(request.headers()));
    span
}

pub struct Running {
    pub local_addr: SocketAddr,
    /// The admin port (`/metrics`, `/log-level`), when configured.
    pub admin_addr: Option<SocketAddr>,
    /// The federation port (mTLS gRPC for other provinces), when enabled.
    pub federation_addr: Option<SocketAddr>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    federation: Option<tokio::task::JoinHandle<Result<(), tonic::transport::Error>>>,
}

impl Running {
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await??;
        if let Some(federation) = self.federation {
            federation.await??;
        }
        Ok(())
    }
}

pub async fn start(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<Running> {
    let mut channels = std::collections::HashMap::new();
    for (_, package, url) in config.upstreams.all() {
        channels.insert(package.to_string(), kit::grpc::connect_lazy(url)?);
    }
    let mut upstreams = api::rpc::Upstreams::new(channels)?;
    if !config.federation.client_secret.is_empty() {
        upstreams.gateway_tokens = Some(kit::grpc::service_tokens(
            &config.upstreams.identity_url,
            config.federation.client_id.clone(),
            config.federation.client_secret.clone(),
        )?);
    }
    let api = api::Api::new(upstreams.clone())?;
    let keys = kit::auth::jwks_from_url(&config.upstreams.identity_url)?;
    let verifier = Arc::new(kit::auth::Verifier::new(
        &config.auth.issuer,
        &config.auth.audience,
        keys,
    ));
    verifier.follow_revocations(
        kit::auth::revocations_from_url(&config.upstreams.identity_url)?,
        kit::auth::REVOCATION_POLL,
    );
    let limits = Arc::new(limits::Limits::new(&config.limits, verifier.clone()));
    // One shutdown for the HTTP and the federation ports.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let federation = federation::start(
        &config.federation,
        &config.server.host,
        &config.upstreams.identity_url,
        upstreams.clone(),
        until_stopped(stopped.clone()),
    )
    .await?;
    let peers = federation::client::Http {
        clients: federation.clients.clone(),
        verifier,
        pool: upstreams.pool.clone(),
    };
    let listener = tokio::net::TcpListener::bind(config.server.addr())
        .await
        .map_err(|e| anyhow::anyhow!("bind {}: {e}", config.server.addr()))?;
    let local_addr = listener.local_addr()?;
    let admin_addr = kit::metrics::serve_admin(NAME, &config.server).await?;
    let app = router(api, peers, limits, &config).into_make_service_with_connect_info::<SocketAddr>();
    // TCP_NODELAY, as on every gRPC port (`kit::server::incoming`).
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream: &mut tokio::net::TcpStream| {
        let _ = stream.set_nodelay(true);
    });
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                until_stopped(stopped).await;
                tracing::info!(service = NAME, "shutting down, draining in-flight requests");
            })
            .await
    });
    tracing::info!(service = NAME, addr = %local_addr, "listening");
    Ok(Running {
        local_addr,
        admin_addr,
        federation_addr: federation.addr,
        task,
        federation: federation.task,
    })
}

pub async fn serve(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    start(config, shutdown).await?.wait().await
}
