//! The console's hot paths on dev data, through a running gateway (`sanshi
//! dev`, started by `scripts/bench-console` with its rate limits lifted),
//! against `/healthz` on the same gateway in the same run:
//!
//! - throughput: 32 callers in a closed loop (`BENCH_CONCURRENCY`) for
//!   `BENCH_SECONDS` (5) per path; ratio = the path's rate / `/healthz`'s;
//! - latency of one caller alone: p50 / p99 of 50 sequential calls;
//! - `stats/by-region` for the city: cold (a fresh login, so no figures are
//!   cached for the caller) and cached (the same caller again).
//!
//! `BENCH_URL` (http://127.0.0.1:8080) names the gateway. `BENCH_DATA=national`
//! measures the national data of `sanshi seed-national` instead (its
//! province officials `natl-admin-44`, `natl-reviewer-44`; Guangdong), with
//! by-region also at the province level.

mod common;

use common::{closed_loop, env};
use std::time::{Duration, Instant};

struct Target {
    name: &'static str,
    path: &'static str,
    user: &'static str,
}

/// Paths on the national data: Guangdong's officials, and Chongqing's city
/// admin of the demo accounts (which `sanshi dev` creates on any data).
const NATIONAL: &[Target] = &[
    Target {
        name: "me",
        path: "/api/v1/me",
        user: "natl-admin-44",
    },
    Target {
        name: "communities (50)",
        path: "/api/v1/communities?region_code=44&page_size=50",
        user: "natl-admin-44",
    },
    Target {
        name: "records (50)",
        path: "/api/v1/records?region_code=44&page_size=50",
        user: "natl-admin-44",
    },
    Target {
        name: "records (50, district)",
        path: "/api/v1/records?region_code=440106&page_size=50",
        user: "natl-admin-44",
    },
    Target {
        name: "needs (50)",
        path: "/api/v1/needs?region_code=44&page_size=50",
        user: "natl-admin-44",
    },
    Target {
        name: "applications (50)",
        path: "/api/v1/applications?region_code=44&page_size=50",
        user: "natl-reviewer-44",
    },
    Target {
        name: "leaderboard (province)",
        path: "/api/v1/leaderboards?region_code=44&page_size=20",
        user: "natl-admin-44",
    },
    Target {
        name: "overview (province)",
        path: "/api/v1/stats/overview?region=44",
        user: "natl-admin-44",
    },
];

const DEV: &[Target] = &[
    Target {
        name: "me",
        path: "/api/v1/me",
        user: "yuzhong",
    },
    Target {
        name: "communities (50)",
        path: "/api/v1/communities?region_code=500103&page_size=50",
        user: "yuzhong",
    },
    Target {
        name: "records (50)",
        path: "/api/v1/records?region_code=500103&page_size=50",
        user: "yuzhong",
    },
    Target {
        name: "needs (50)",
        path: "/api/v1/needs?region_code=500103&page_size=50",
        user: "yuzhong",
    },
    Target {
        name: "applications (50)",
        path: "/api/v1/applications?region_code=50&page_size=50",
        user: "reviewer",
    },
    Target {
        name: "leaderboard (city)",
        path: "/api/v1/leaderboards?region_code=50&page_size=20",
        user: "admin",
    },
    Target {
        name: "overview (city, cached)",
        path: "/api/v1/stats/overview?region=50",
        user: "admin",
    },
];

async fn login(http: &reqwest::Client, base: &str, user: &str) -> String {
    let answer: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({ "username": user, "password": "Sanshi2026" }))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login answer");
    answer["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("login of {user}: {answer}"))
        .to_string()
}

/// One GET; whether it answered 2xx (the body read in full).
async fn get(http: &reqwest::Client, url: &str, token: Option<&str>) -> bool {
    let mut request = http.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    match request.send().await {
        Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
        _ => false,
    }
}

/// p50 and p99 in µs of `n` sequential calls by one caller.
async fn alone(http: &reqwest::Client, url: &str, token: Option<&str>, n: usize) -> (u64, u64) {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        assert!(get(http, url, token).await, "GET {url} failed");
        times.push(t0.elapsed().as_micros() as u64);
    }
    times.sort_unstable();
    let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.99))
}

fn main() {
    let seconds = env("BENCH_SECONDS", 5);
    let concurrency = env("BENCH_CONCURRENCY", 32) as usize;
    let base = std::env::var("BENCH_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(concurrency)
            .build()
            .unwrap();
        let duration = Duration::from_secs(seconds);
        println!("load: {concurrency} callers in a closed loop, {seconds} s per path, against {base}");

        let health_url = format!("{base}/healthz");
        let health = {
            let (http, url) = (http.clone(), health_url.clone());
            closed_loop(concurrency, duration, move || {
                let (http, url) = (http.clone(), url.clone());
                async move { get(&http, &url, None).await }
            })
            .await
        };
        health.report("/healthz (baseline)");
        let (p50, p99) = alone(&http, &health_url, None, 50).await;
        println!("{:<28} alone: p50 {p50} µs, p99 {p99} µs", "/healthz (baseline)");

        let national = std::env::var("BENCH_DATA").is_ok_and(|d| d == "national");
        for target in if national { NATIONAL } else { DEV } {
            let token = login(&http, &base, target.user).await;
            let url = format!("{base}{}", target.path);
            // Warm (and check) the path first.
            assert!(get(&http, &url, Some(&token)).await, "GET {url} failed");
            let (p50, p99) = alone(&http, &url, Some(&token), 50).await;
            let loaded = {
                let (http, url, token) = (http.clone(), url.clone(), token.clone());
                closed_loop(concurrency, duration, move || {
                    let (http, url, token) = (http.clone(), url.clone(), token.clone());
                    async move { get(&http, &url, Some(&token)).await }
                })
                .await
            };
            loaded.report(target.name);
            println!(
                "{:<28} alone: p50 {p50} µs, p99 {p99} µs; ratio to /healthz {:.3}",
                target.name,
                loaded.rps() / health.rps()
            );
        }

        // Figures per child region: cold for a fresh caller, then cached.
        let mut by_region = vec![("city 50", "50", "admin")];
        if national {
            by_region.push(("province 44", "44", "natl-admin-44"));
        }
        for (name, region, user) in by_region {
            let url = format!("{base}/api/v1/stats/by-region?region={region}");
            let mut cold = Vec::new();
            for _ in 0..5 {
                let token = login(&http, &base, user).await;
                let t0 = Instant::now();
                assert!(get(&http, &url, Some(&token)).await, "GET {url} failed");
                cold.push(t0.elapsed().as_micros() as u64);
            }
            cold.sort_unstable();
            let token = login(&http, &base, user).await;
            assert!(get(&http, &url, Some(&token)).await);
            let (cached50, cached99) = alone(&http, &url, Some(&token), 50).await;
            println!(
                "stats/by-region ({name}) cold: median {} µs of 5 (goal <= 100 ms); cached: p50 {cached50} µs, p99 {cached99} µs (goal <= 5 ms)",
                cold[2]
            );
        }
    });
}
