//! Prometheus metrics of a process, served on each service's admin port
//! (`server.admin_port`, `GET /metrics`): per-RPC rate, errors and latency
//! (RED), recorded by [`RedLayer`] in kit's server stack. The registry is
//! per process: `sanshi dev` runs every service in one, and the `service`
//! label tells them apart.

use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Default)]
struct Rpc {
    /// Calls per gRPC status code name.
    codes: BTreeMap<String, u64>,
    /// Cumulative counts per bucket, then the sum and count of durations.
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// (service, method) → figures.
fn registry() -> &'static Mutex<BTreeMap<(String, String), Rpc>> {
    static REGISTRY: OnceLock<Mutex<BTreeMap<(String, String), Rpc>>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

/// Records one call of `method` on `service` that ended with `code` after `took`.
pub fn record_rpc(service: &str, method: &str, code: &str, took: Duration) {
    let mut map = registry().lock().unwrap_or_else(|p| p.into_inner());
    let rpc = map.entry((service.to_string(), method.to_string())).or_default();
    *rpc.codes.entry(code.to_string()).or_default() += 1;
    let seconds = took.as_secs_f64();
    for (i, bound) in BUCKETS.iter().enumerate() {
        if seconds <= *bound {
            rpc.buckets[i] += 1;
        }
    }
    rpc.sum += seconds;
    rpc.count += 1;
}

/// The metrics in Prometheus' text exposition format.
pub fn render() -> String {
    let map = registry().lock().unwrap_or_else(|p| p.into_inner());
    let mut out = String::new();
    out.push_str("# HELP sanshi_rpc_requests_total gRPC calls served, by status code.\n");
    out.push_str("# TYPE sanshi_rpc_requests_total counter\n");
    for ((service, method), rpc) in map.iter() {
        for (code, n) in &rpc.codes {
            let _ = writeln!(
                out,
                "sanshi_rpc_requests_total{{service=\"{service}\",method=\"{method}\",code=\"{code}\"}} {n}"
            );
        }
    }
    out.push_str("# HELP sanshi_rpc_duration_seconds Time to answer a gRPC call.\n");
    out.push_str("# TYPE sanshi_rpc_duration_seconds histogram\n");
    for ((service, method), rpc) in map.iter() {
        let labels = format!("service=\"{service}\",method=\"{method}\"");
        for (bound, n) in BUCKETS.iter().zip(rpc.buckets) {
            let _ = writeln!(out, "sanshi_rpc_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "sanshi_rpc_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
            rpc.count
        );
        let _ = writeln!(out, "sanshi_rpc_duration_seconds_sum{{{labels}}} {}", rpc.sum);
        let _ = writeln!(out, "sanshi_rpc_duration_seconds_count{{{labels}}} {}", rpc.count);
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

/// Serves `GET /metrics` on `listener` until the process ends.
pub fn serve(listener: tokio::net::TcpListener) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(|| async { ([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], render()) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
}

#[cfg(test)]
mod tests {
    #[test]
    fn calls_are_counted_by_code_and_timed() {
        let method = "/sanshi.test.v1.Test/Unit";
        super::record_rpc("unit", method, "Ok", std::time::Duration::from_millis(3));
        super::record_rpc("unit", method, "InvalidArgument", std::time::Duration::from_millis(70));
        let text = super::render();
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
}
