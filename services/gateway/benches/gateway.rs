//! An authenticated read through the gateway (`GET /api/v1/me` with a bearer
//! token: rate limiter verifying the JWT, JSON → gRPC mapping, identity's
//! GetAccount with its own token check and one database read, JSON back)
//! versus a bare tonic server answering the gRPC health check, under the same
//! closed-loop load in the same run. Run with `scripts/bench-gateway`;
//! `BENCH_SECONDS` (10) and `BENCH_CONCURRENCY` (32) tune it.

use std::time::{Duration, Instant};

struct Measurement {
    requests: u64,
    errors: u64,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

impl Measurement {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> u64 {
        let index = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us.get(index).copied().unwrap_or(0)
    }

    fn report(&self, name: &str) {
        println!(
            "{name:<28} {:>9.0} req/s  p50 {:>6} µs  p99 {:>6} µs  ({} requests, {} errors)",
            self.rps(),
            self.percentile(0.50),
            self.percentile(0.99),
            self.requests,
            self.errors
        );
    }
}

/// `concurrency` callers, each calling `one` again as soon as it answers, for `duration`.
async fn closed_loop<F, Fut>(concurrency: usize, duration: Duration, one: F) -> Measurement
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let one = one.clone();
            tokio::spawn(async move {
                let (mut ok, mut errors, mut latencies) = (0u64, 0u64, Vec::new());
                while Instant::now() < deadline {
                    let t0 = Instant::now();
                    if one().await {
                        ok += 1;
                    } else {
                        errors += 1;
                    }
                    latencies.push(t0.elapsed().as_micros() as u64);
                }
                (ok, errors, latencies)
            })
        })
        .collect();
    let mut m = Measurement {
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
    };
    for task in tasks {
        let (ok, errors, latencies) = task.await.unwrap();
        m.requests += ok;
        m.errors += errors;
        m.latencies_us.extend(latencies);
    }
    m.elapsed = started.elapsed();
    m.latencies_us.sort_unstable();
    m
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn main() {
    let seconds = env("BENCH_SECONDS", 10);
    let concurrency = env("BENCH_CONCURRENCY", 32) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/identity.db", dir.path().display());
        let identity = identity::start(identity::testing::config(&url), std::future::pending())
            .await
            .unwrap();
        // Limits far above the load, so that the bench measures serving, not refusing.
        let config: gateway::Config = kit::config::from_toml(
            gateway::config::DEFAULTS,
            &format!(
                "[server]\nhost = \"127.0.0.1\"\nport = 0\n[telemetry]\nlog_format = \"pretty\"\nlog_level = \"error\"\n\
                 [upstreams]\nidentity_url = \"http://{}\"\n\
                 [limits]\nper_principal_per_minute = 100000000\nper_principal_burst = 1000000\n",
                identity.local_addr
            ),
        )
        .unwrap();
        let gateway = gateway::start(config, std::future::pending()).await.unwrap();
        let base = format!("http://{}", gateway.local_addr);
        let http = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().unwrap();
        let tokens: serde_json::Value = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({ "username": "yuzhong", "password": identity::testing::PASSWORD }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = tokens["access_token"].as_str().unwrap().to_string();

        // The baseline: a bare tonic server with the health service only.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let echo_url = format!("http://{}", listener.local_addr().unwrap());
        let (_, health) = tonic_health::server::health_reporter();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(health)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let channel = tonic::transport::Channel::from_shared(echo_url).unwrap().connect().await.unwrap();

        let through_gateway = {
            let (http, url, token) = (http.clone(), format!("{base}/api/v1/me"), token.clone());
            move || {
                let request = http.get(&url).bearer_auth(&token);
                async move {
                    match request.send().await {
                        Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                        _ => false,
                    }
                }
            }
        };
        let echo = {
            let channel = channel.clone();
            move || {
                let mut client = tonic_health::pb::health_client::HealthClient::new(channel.clone());
                async move {
                    client
                        .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
                        .await
                        .is_ok()
                }
            }
        };
        println!("load: {concurrency} concurrent callers, {seconds} s per target");
        let warm_up = Duration::from_secs(1);
        closed_loop(concurrency, warm_up, echo.clone()).await;
        closed_loop(concurrency, warm_up, through_gateway.clone()).await;
        let duration = Duration::from_secs(seconds);
        let bare = closed_loop(concurrency, duration, echo).await;
        let served = closed_loop(concurrency, duration, through_gateway).await;
        bare.report("bare tonic health check");
        served.report("gateway GET /api/v1/me");
        assert_eq!(served.errors, 0, "the gateway answered with errors");
        println!("ratio gateway/echo: {:.2} (goal >= 0.40)", served.rps() / bare.rps());
    });
}
