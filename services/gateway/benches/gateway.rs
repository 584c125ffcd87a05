//! An authenticated read through the gateway (`GET /api/v1/me` with a bearer
//! token: rate limiter verifying the JWT, JSON → gRPC mapping, identity's
//! GetAccount with its own token check and one database read, JSON back)
//! versus a bare tonic server answering the gRPC health check, under the same
//! closed-loop load in the same run. Run with `scripts/bench-gateway`;
//! `BENCH_SECONDS` (10) and `BENCH_CONCURRENCY` (32) tune it.

use std::time::Duration;

mod common;

use common::{closed_loop, env};

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
