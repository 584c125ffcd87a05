//! Prometheus metrics of a process, served on each service's admin port
//! (`server.admin_port`, `GET /metrics`):
//! - per-RPC rate, errors and latency (RED), recorded by [`RedLayer`] in
//!   kit's server stack;
//! - the series of [`FAMILIES`]: counters and gauges set where things happen
//!   ([`add`], [`set`]), and gauges read from a service's database when
//!   scraped ([`watch_database`]: pool use, outbox backlog and age).
//!
//! The registry is per process: `sanshi dev` runs every service in one, and
//! the `service` label tells them apart. See `docs/operations.md` for what
//! each series means to an operator.

use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Counts and latencies of one operation (an RPC method or an HTTP route).
#[derive(Default)]
struct Figures {
    /// Calls per outcome (gRPC status code name, or HTTP status).
    codes: BTreeMap<String, u64>,
    /// Cumulative counts per bucket, then the sum and count of durations.
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// Every series besides the RPC ones: name, type, help. Setting or adding
/// to a name not listed here is a bug (and a debug assertion).
pub const FAMILIES: &[(&str, &str, &str)] = &[
    (
        "sanshi_db_pool_connections",
        "gauge",
        "Connections of the service's database pool, by state (idle, in_use).",
    ),
    ("sanshi_db_pool_max_connections", "gauge", "The database pool's limit."),
    (
        "sanshi_outbox_backlog_events",
        "gauge",
        "Committed outbox events not yet numbered for the event stream.",
    ),
    (
        "sanshi_outbox_oldest_unpublished_age_seconds",
        "gauge",
        "Age of the oldest outbox event not yet numbered for the stream (0 when none).",
    ),
    (
        "sanshi_consumer_lag_events",
        "gauge",
        "The producer's last sequence minus the consumer's cursor, as of the last event received.",
    ),
    (
        "sanshi_consumer_cursor",
        "gauge",
        "The last sequence a consumer has applied.",
    ),
    (
        "sanshi_consumer_failures_total",
        "counter",
        "Failed attempts to apply an event (each is retried after a backoff).",
    ),
    (
        "sanshi_notification_deliveries_total",
        "counter",
        "Webhook and e-mail delivery attempts, by channel and outcome (delivered, retry, dead).",
    ),
    (
        "sanshi_login_failures_total",
        "counter",
        "Logins refused for wrong credentials, by account kind.",
    ),
    (
        "sanshi_login_lockouts_total",
        "counter",
        "Logins refused because too many failed before (lockout), by account kind.",
    ),
    (
        "sanshi_federation_calls_total",
        "counter",
        "Calls by other provinces' platforms on the federation port, by peer, operation and gRPC code.",
    ),
    (
        "sanshi_federation_outbound_total",
        "counter",
        "Calls to other provinces' platforms, by peer, operation and outcome (ok, error, breaker_open).",
    ),
    (
        "sanshi_federation_breaker_open",
        "gauge",
        "1 while the circuit breaker to a peer is open (calls fail fast), else 0.",
    ),
];

type Series = BTreeMap<&'static str, BTreeMap<String, f64>>;

fn series() -> &'static Mutex<Series> {
    static SERIES: OnceLock<Mutex<Series>> = OnceLock::new();
    SERIES.get_or_init(Mutex::default)
}

/// `name="value"` pairs, values escaped as the exposition format wants.
fn label_text(labels: &[(&str, &str)]) -> String {
    labels
        .iter()
        .map(|(name, value)| {
            let value = value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
            format!("{name}=\"{value}\"")
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn update(name: &'static str, labels: &[(&str, &str)], f: impl FnOnce(&mut f64)) {
    debug_assert!(FAMILIES.iter().any(|(n, _, _)| *n == name), "unlisted metric {name}");
    let mut map = series().lock().unwrap_or_else(|p| p.into_inner());
    f(map.entry(name).or_default().entry(label_text(labels)).or_default());
}

/// Adds `by` to the counter `name` with `labels`.
pub fn add(name: &'static str, labels: &[(&str, &str)], by: f64) {
    update(name, labels, |v| *v += by);
}

/// Sets the gauge `name` with `labels` to `value`.
pub fn set(name: &'static str, labels: &[(&str, &str)], value: f64) {
    update(name, labels, |v| *v = value);
}

type Collector = Box<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

fn collectors() -> &'static Mutex<Vec<std::sync::Arc<Collector>>> {
    static COLLECTORS: OnceLock<Mutex<Vec<std::sync::Arc<Collector>>>> = OnceLock::new();
    COLLECTORS.get_or_init(Mutex::default)
}

/// Runs `collect` before every scrape (at most 2 s of it), to [`set`] gauges
/// that are read rather than counted.
pub fn collect_with(collect: impl Fn() -> BoxFuture<'static, ()> + Send + Sync + 'static) {
    let mut all = collectors().lock().unwrap_or_else(|p| p.into_inner());
    all.push(std::sync::Arc::new(Box::new(collect)));
}

/// Reports `service`'s database at every scrape: its pool's connections and
/// its outbox's backlog (every service's database has kit's outbox).
pub fn watch_database(service: &'static str, db: sea_orm::DatabaseConnection) {
    collect_with(move || {
        let db = db.clone();
        Box::pin(async move {
            let (size, idle, max) = match db.get_database_backend() {
                sea_orm::DbBackend::Postgres => {
                    let pool = db.get_postgres_connection_pool();
                    (pool.size(), pool.num_idle(), pool.options().get_max_connections())
                }
                sea_orm::DbBackend::Sqlite => {
                    let pool = db.get_sqlite_connection_pool();
                    (pool.size(), pool.num_idle(), pool.options().get_max_connections())
                }
                _ => return,
            };
            let idle = idle as u32;
            set(
                "sanshi_db_pool_connections",
                &[("service", service), ("state", "idle")],
                f64::from(idle),
            );
            let in_use = size.saturating_sub(idle);
            set(
                "sanshi_db_pool_connections",
                &[("service", service), ("state", "in_use")],
                f64::from(in_use),
            );
            set(
                "sanshi_db_pool_max_connections",
                &[("service", service)],
                f64::from(max),
            );
            match crate::events::outbox_backlog(&db).await {
                Ok((events, oldest)) => {
                    let age = oldest.map_or(0.0, |t| {
                        (chrono::Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0
                    });
                    set("sanshi_outbox_backlog_events", &[("service", service)], events as f64);
                    set(
                        "sanshi_outbox_oldest_unpublished_age_seconds",
                        &[("service", service)],
                        age,
                    );
                }
                Err(error) => tracing::warn!(service, error = %error, "reading the outbox backlog failed"),
            }
        })
    });
}

/// Which requests a RED figure counts: gRPC calls of the services, or HTTP
/// requests of the gateway (by route template, never by raw path).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Rpc,
    Http,
}

impl Kind {
    /// Family prefix, the label naming the operation, the label naming the outcome, and help texts.
    fn names(self) -> (&'static str, &'static str, &'static str, &'static str, &'static str) {
        match self {
            Kind::Rpc => (
                "sanshi_rpc",
                "method",
                "code",
                "gRPC calls served, by status code.",
                "Time to answer a gRPC call.",
            ),
            Kind::Http => (
                "sanshi_http",
                "route",
                "status",
                "HTTP requests served by the gateway, by route template and status.",
                "Time to answer an HTTP request.",
            ),
        }
    }
}

/// (kind, service, operation) → figures.
type RedFigures = BTreeMap<(Kind, String, String), Figures>;

fn registry() -> &'static Mutex<RedFigures> {
    static REGISTRY: OnceLock<Mutex<RedFigures>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

fn record(kind: Kind, service: &str, operation: &str, outcome: &str, took: Duration) {
    let mut map = registry().lock().unwrap_or_else(|p| p.into_inner());
    let figures = map
        .entry((kind, service.to_string(), operation.to_string()))
        .or_default();
    *figures.codes.entry(outcome.to_string()).or_default() += 1;
    let seconds = took.as_secs_f64();
    for (i, bound) in BUCKETS.iter().enumerate() {
        if seconds <= *bound {
            figures.buckets[i] += 1;
        }
    }
    figures.sum += seconds;
    figures.count += 1;
}

/// Records one call of `method` on `service` that ended with `code` after `took`.
pub fn record_rpc(service: &str, method: &str, code: &str, took: Duration) {
    record(Kind::Rpc, service, method, code, took);
}

/// Records one HTTP request of `service` (the gateway) on `route` (a
/// template such as `GET /api/v1/records/{id}`) answered with `status`.
pub fn record_http(service: &str, route: &str, status: u16, took: Duration) {
    record(Kind::Http, service, route, &status.to_string(), took);
}

/// The metrics in Prometheus' text exposition format, after running the
/// collectors.
pub async fn render() -> String {
    let all: Vec<_> = collectors().lock().unwrap_or_else(|p| p.into_inner()).clone();
    let runs = all
        .iter()
        .map(|collect| tokio::time::timeout(Duration::from_secs(2), collect()));
    let timed_out = futures::future::join_all(runs)
        .await
        .iter()
        .filter(|r| r.is_err())
        .count();
    if timed_out > 0 {
        tracing::warn!(timed_out, "metrics collectors took over 2 s");
    }
    let mut out = render_rpcs();
    let map = series().lock().unwrap_or_else(|p| p.into_inner());
    for (name, kind, help) in FAMILIES {
        let Some(values) = map.get(name) else { continue };
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in values {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
    out
}

fn render_rpcs() -> String {
    let map = registry().lock().unwrap_or_else(|p| p.into_inner());
    let mut out = String::new();
    for kind in [Kind::Rpc, Kind::Http] {
        let (family, operation, outcome, count_help, time_help) = kind.names();
        let of_kind: Vec<_> = map.iter().filter(|((k, _, _), _)| *k == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# HELP {family}_requests_total {count_help}");
        let _ = writeln!(out, "# TYPE {family}_requests_total counter");
        for ((_, service, name), figures) in &of_kind {
            let labels = label_text(&[("service", service), (operation, name)]);
            for (code, n) in &figures.codes {
                let _ = writeln!(out, "{family}_requests_total{{{labels},{outcome}=\"{code}\"}} {n}");
            }
        }
        let _ = writeln!(out, "# HELP {family}_duration_seconds {time_help}");
        let _ = writeln!(out, "# TYPE {family}_duration_seconds histogram");
        for ((_, service, name), figures) in &of_kind {
            let labels = label_text(&[("service", service), (operation, name)]);
            for (bound, n) in BUCKETS.iter().zip(figures.buckets) {
                let _ = writeln!(out, "{family}_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}");
            }
            let _ = writeln!(
                out,
                "{family}_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                figures.count
            );
            let _ = writeln!(out, "{family}_duration_seconds_sum{{{labels}}} {}", figures.sum);
            let _ = writeln!(out, "{family}_duration_seconds_count{{{labels}}} {}", figures.count);
        }
    }
    out
}

/// Records every call's method, status code and duration for `service`.
#[derive(Clone)]
pub struct RedLayer {
    pub service: &'static str,
}

impl<S> tower::Layer<S> for RedLayer {
    type Service = Red<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Red {
            inner,
            service: self.service,
        }
    }
}

#[derive(Clone)]
pub struct Red<S> {
    inner: S,
    service: &'static str,
}

impl<S, B, R> tower::Service<http::Request<B>> for Red<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
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
        let method = request.uri().path().to_string();
        let service = self.service;
        let started = Instant::now();
        let call = self.inner.call(request);
        Box::pin(async move {
            let result = call.await;
            // A refused call answers at once with its status in the headers;
            // a unary call that succeeded sends OK in its trailers.
            let code = match &result {
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok())
                    .map(|c| format!("{:?}", tonic::Code::from_i32(c)))
                    .unwrap_or_else(|| "Ok".into()),
                Err(_) => "Unavailable".into(),
            };
            if !method.starts_with("/grpc.") {
                record_rpc(service, &method, &code, started.elapsed());
            }
            result
        })
    }
}

/// Binds `config.admin_port` (when set; 0 picks a free port) on the
/// service's host and serves it there (see [`serve`]); returns the address.
pub async fn serve_admin(
    service: &str,
    config: &crate::config::ServerConfig,
) -> anyhow::Result<Option<std::net::SocketAddr>> {
    let Some(port) = config.admin_port else {
        return Ok(None);
    };
    let admin = tokio::net::TcpListener::bind(std::net::SocketAddr::new(config.addr().ip(), port))
        .await
        .map_err(|e| anyhow::anyhow!("bind admin port {port}: {e}"))?;
    let addr = admin.local_addr()?;
    serve(admin, config.admin_token.clone());
    tracing::info!(service, addr = %addr, "admin port: /metrics, /log-level");
    Ok(Some(addr))
}

/// Whether a caller may change the log level: with the configured token
/// (compared in constant time), or without one from loopback only.
fn may_change_log_level(
    token: Option<&crate::config::Secret>,
    peer: std::net::SocketAddr,
    authorization: Option<&str>,
) -> bool {
    match token {
        Some(token) => authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .is_some_and(|given| constant_time_eq(given.trim().as_bytes(), token.expose().as_bytes())),
        None => peer.ip().is_loopback() || peer.ip().to_canonical().is_loopback(),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serves the admin port on `listener` until the process ends:
/// `GET /metrics` and `GET /log-level` for anyone who reaches the port (the
/// network policy admits the metrics scraper), and `PUT /log-level` (the
/// body is an `EnvFilter` directive such as `info,incentive=debug`; it
/// applies to the whole process) with `Authorization: Bearer <admin_token>`,
/// or from loopback when no token is configured.
pub fn serve(listener: tokio::net::TcpListener, admin_token: Option<crate::config::Secret>) {
    use axum::extract::ConnectInfo;
    use axum::http::{HeaderMap, StatusCode};
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(|| async {
                (
                    [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    render().await,
                )
            }),
        )
        .route(
            "/log-level",
            axum::routing::get(|| async {
                match crate::telemetry::log_level() {
                    Some(level) => (StatusCode::OK, level + "\n"),
                    None => (StatusCode::NOT_FOUND, "logging is not set up by this process\n".into()),
                }
            })
            .put(
                move |ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>, headers: HeaderMap, body: String| async move {
                    let authorization = headers
                        .get(http::header::AUTHORIZATION)
                        .and_then(|v| v.to_str().ok());
                    if !may_change_log_level(admin_token.as_ref(), peer, authorization) {
                        tracing::warn!(target: "sanshi::audit", peer = %peer, "log level change refused");
                        let why = if admin_token.is_some() {
                            "a valid bearer token (server.admin_token) is required\n"
                        } else {
                            "only loopback may change the log level unless server.admin_token is set\n"
                        };
                        return (StatusCode::UNAUTHORIZED, why.to_string());
                    }
                    match crate::telemetry::set_log_level(&body) {
                        Ok(level) => {
                            tracing::info!(target: "sanshi::audit", peer = %peer, level = %level, "log level changed");
                            (StatusCode::OK, level + "\n")
                        }
                        Err(error) => (StatusCode::BAD_REQUEST, error + "\n"),
                    }
                },
            ),
        );
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_log_level_needs_the_token_or_loopback() {
        use crate::config::Secret;
        let local: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mapped: std::net::SocketAddr = "[::ffff:127.0.0.1]:9".parse().unwrap();
        let remote: std::net::SocketAddr = "10.1.2.3:9".parse().unwrap();
        assert!(super::may_change_log_level(None, local, None));
        assert!(super::may_change_log_level(None, mapped, None));
        assert!(!super::may_change_log_level(None, remote, None));
        let token = Secret::new("0123456789abcdef");
        assert!(super::may_change_log_level(
            Some(&token),
            remote,
            Some("Bearer 0123456789abcdef")
        ));
        assert!(!super::may_change_log_level(
            Some(&token),
            remote,
            Some("Bearer 0123456789abcdeX")
        ));
        assert!(
            !super::may_change_log_level(Some(&token), local, None),
            "the token is required once set"
        );
        assert!(!super::may_change_log_level(
            Some(&token),
            remote,
            Some("0123456789abcdef")
        ));
    }

    #[test]
    fn calls_are_counted_by_code_and_timed() {
        let method = "/sanshi.test.v1.Test/Unit";
        super::record_rpc("unit", method, "Ok", std::time::Duration::from_millis(3));
        super::record_rpc("unit", method, "InvalidArgument", std::time::Duration::from_millis(70));
        let text = super::render_rpcs();
        assert!(text.contains(&format!(
            "sanshi_rpc_requests_total{{service=\"unit\",method=\"{method}\",code=\"InvalidArgument\"}} 1"
        )));
        assert!(text.contains(&format!(
            "sanshi_rpc_duration_seconds_bucket{{service=\"unit\",method=\"{method}\",le=\"0.005\"}} 1"
        )));
        assert!(text.contains(&format!(
            "sanshi_rpc_duration_seconds_count{{service=\"unit\",method=\"{method}\"}} 2"
        )));
    }

    /// The alert rules and the dashboard shipped in the Helm chart name only
    /// series that exist (a renamed series would leave an alert that never
    /// fires).
    #[test]
    fn operators_files_name_only_exported_series() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../helm/sanshi/files");
        let mut known: Vec<String> = super::FAMILIES.iter().map(|(name, _, _)| name.to_string()).collect();
        for family in ["sanshi_rpc", "sanshi_http"] {
            known.push(format!("{family}_requests_total"));
            for suffix in ["bucket", "sum", "count"] {
                known.push(format!("{family}_duration_seconds_{suffix}"));
            }
        }
        for file in ["alerts.yaml", "dashboard.json"] {
            let text = std::fs::read_to_string(root.join(file)).unwrap();
            let mut named = 0;
            for (at, _) in text.match_indices("sanshi_") {
                let name: String = text[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                // Grafana's uid and such are not series.
                if name.ends_with('_') || !text[at + name.len()..].starts_with(['{', '[', ')', ' ']) {
                    continue;
                }
                assert!(known.contains(&name), "{file} names {name}, which is not exported");
                named += 1;
            }
            assert!(named >= 6, "{file}: {named} series");
        }
    }

    #[tokio::test]
    async fn counters_and_gauges_render_with_help_and_escaped_labels() {
        super::add(
            "sanshi_login_failures_total",
            &[("service", "unit"), ("kind", "person")],
            1.0,
        );
        super::add(
            "sanshi_login_failures_total",
            &[("service", "unit"), ("kind", "person")],
            2.0,
        );
        super::set("sanshi_consumer_cursor", &[("consumer", "a\"b")], 7.0);
        super::set("sanshi_consumer_cursor", &[("consumer", "a\"b")], 9.0);
        let text = super::render().await;
        assert!(text.contains("# TYPE sanshi_login_failures_total counter"), "{text}");
        assert!(
            text.contains("sanshi_login_failures_total{service=\"unit\",kind=\"person\"} 3"),
            "{text}"
        );
        assert!(text.contains("sanshi_consumer_cursor{consumer=\"a\\\"b\"} 9"), "{text}");
    }
}
