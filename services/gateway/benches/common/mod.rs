//! What the gateway's benchmarks share: a closed-loop load and its figures.
#![allow(dead_code)]

use std::time::{Duration, Instant};

pub struct Measurement {
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub latencies_us: Vec<u64>,
}

impl Measurement {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile(&self, p: f64) -> u64 {
        let index = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us.get(index).copied().unwrap_or(0)
    }

    pub fn report(&self, name: &str) {
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
pub async fn closed_loop<F, Fut>(concurrency: usize, duration: Duration, one: F) -> Measurement
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

pub fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}
