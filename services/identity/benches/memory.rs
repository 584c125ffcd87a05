//! Identity's memory around a burst of logins. Run with `scripts/bench-memory`.
//!
//! Starts identity in this process (fresh SQLite file, as in `sanshi dev`),
//! then reports the process's resident set: fresh (the baseline), at its
//! highest during `BENCH_LOGINS` (40) concurrent logins, right after them,
//! and after `BENCH_IDLE_SECONDS` (2) idle; the burst runs `BENCH_ROUNDS`
//! (3) times so that growth across bursts shows. Goals (issue 20): at most
//! 80 MiB after 40 concurrent logins, under 50 MiB idle.

use sanshi_proto::identity::v1 as pb;
use sanshi_proto::identity::v1::auth_service_client::AuthServiceClient;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn resident() -> u64 {
    kit::memory::resident_bytes().expect("resident set size from /proc/self/status")
}

fn main() {
    let logins: usize = env("BENCH_LOGINS", 40);
    let rounds: usize = env("BENCH_ROUNDS", 3);
    let idle = Duration::from_secs(env("BENCH_IDLE_SECONDS", 2));
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
        let channel = tonic::transport::Channel::from_shared(format!("http://{}", identity.local_addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
        tokio::time::sleep(idle).await;
        let fresh = resident();
        println!("identity fresh (baseline): {:.1} MiB", mib(fresh));
        let highest = Arc::new(AtomicU64::new(0));
        let sampler = {
            let highest = highest.clone();
            tokio::spawn(async move {
                loop {
                    highest.fetch_max(resident(), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        };
        for round in 1..=rounds {
            highest.store(0, Ordering::Relaxed);
            let started = std::time::Instant::now();
            let calls: Vec<_> = (0..logins)
                .map(|_| {
                    let mut client = AuthServiceClient::new(channel.clone());
                    tokio::spawn(async move {
                        client
                            .login(pb::LoginRequest {
                                username: "yuzhong".into(),
                                password: identity::testing::PASSWORD.into(),
                            })
                            .await
                            .map(|_| ())
                    })
                })
                .collect();
            let mut failed = 0;
            for call in calls {
                if !matches!(call.await, Ok(Ok(()))) {
                    failed += 1;
                }
            }
            let took = started.elapsed();
            let after = resident();
            tokio::time::sleep(idle).await;
            let rested = resident();
            let peak = highest.load(Ordering::Relaxed).max(after);
            println!(
                "round {round}: {logins} concurrent logins in {:.2} s ({failed} failed): \
                 highest {:.1} MiB ({:.2}x fresh), right after {:.1} MiB, after {} s idle {:.1} MiB ({:.2}x fresh)",
                took.as_secs_f64(),
                mib(peak),
                peak as f64 / fresh as f64,
                mib(after),
                idle.as_secs(),
                mib(rested),
                rested as f64 / fresh as f64,
            );
            assert_eq!(failed, 0, "logins failed");
        }
        sampler.abort();
    });
}
