//! Rate limiting: a token bucket per authenticated principal (the account a
//! verified bearer token names), per peer IP for anonymous calls, and a
//! tighter one per peer IP for the credential routes (login, register,
//! refresh). Over the limit: 429 with `Retry-After`. Health
//! (`routes::HEALTH`) is answered outside these limits (`crate::router`).

use crate::config::LimitsConfig;
use crate::problem::ApiError;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kit::auth::Verifier;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Buckets by key; each refills at `per_minute` up to `burst`.
pub struct Buckets {
    per_minute: f64,
    burst: f64,
    state: Mutex<HashMap<String, (f64, Instant)>>,
}

/// Buckets kept at most; beyond it, full ones (idle callers) are forgotten.
const MAX_KEYS: usize = 100_000;

impl Buckets {
    pub fn new(per_minute: u32, burst: u32) -> Buckets {
        Buckets {
            per_minute: per_minute as f64,
            burst: burst.max(1) as f64,
            state: Mutex::default(),
        }
    }

    /// Takes one token for `key` at `now`; when there is none, how long until there is.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let rate = self.per_minute / 60.0;
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.len() >= MAX_KEYS {
            let burst = self.burst;
            state.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * rate < burst);
        }
        let (tokens, at) = state.entry(key.to_string()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else if rate > 0.0 {
            Err(Duration::from_secs_f64((1.0 - *tokens) / rate))
        } else {
            Err(Duration::from_secs(60))
        }
    }
}

pub struct Limits {
    pub principals: Buckets,
    pub anonymous: Buckets,
    pub credentials: Buckets,
    pub verifier: Arc<Verifier>,
}

impl Limits {
    pub fn new(config: &LimitsConfig, verifier: Arc<Verifier>) -> Limits {
        Limits {
            principals: Buckets::new(config.per_principal_per_minute, config.per_principal_burst),
            anonymous: Buckets::new(config.per_ip_per_minute, config.per_ip_burst),
            credentials: Buckets::new(config.login_per_ip_per_minute, config.login_per_ip_burst),
            verifier,
        }
    }
}

const CREDENTIAL_ROUTES: [&str; 4] = [
    "/api/v1/auth/login",
    "/api/v1/auth/register",
    "/api/v1/auth/refresh",
    "/api/v1/auth/phone-codes",
];

/// The middleware: admits the request or answers 429.
pub async fn limit(State(limits): State<Arc<Limits>>, request: Request, next: Next) -> Response {
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let now = Instant::now();
    let taken = if CREDENTIAL_ROUTES.contains(&request.uri().path()) {
        limits.credentials.take(&ip, now)
    } else {
        let token = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        // An unverifiable token counts as anonymous; the service will refuse it anyway.
        let principal = match token {
            Some(token) => limits.verifier.verify(token).await.ok(),
            None => None,
        };
        match principal {
            Some(p) => limits.principals.take(&p.account_id, now),
            None => limits.anonymous.take(&ip, now),
        }
    };
    match taken {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            let seconds = wait.as_secs().max(1);
            tracing::info!(retry_after = seconds, "rate limited");
            let mut response = ApiError::from(tonic::Status::resource_exhausted(format!(
                "请求过于频繁，请 {seconds} 秒后再试"
            )))
            .into_response();
            if let Ok(value) = http::HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(http::header::RETRY_AFTER, value);
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_refill_at_their_rate() {
        let b = Buckets::new(60, 2);
        let t0 = Instant::now();
        assert!(b.take("a", t0).is_ok());
        assert!(b.take("a", t0).is_ok());
        let wait = b.take("a", t0).unwrap_err();
        assert_eq!(wait.as_secs_f64().round(), 1.0, "one a second");
        assert!(b.take("b", t0).is_ok(), "another key has its own bucket");
        assert!(b.take("a", t0 + Duration::from_millis(1001)).is_ok());
        assert!(b.take("a", t0 + Duration::from_millis(1002)).is_err());
    }
}
