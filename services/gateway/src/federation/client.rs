//! Calling other provinces' platforms, for our dashboards: one TLS channel
//! per peer (our certificate as the client's, the peer's CA as the only
//! trust), a deadline per attempt, retries of these idempotent reads, and a
//! circuit breaker per peer so that a dead peer answers at once instead of
//! holding a dashboard up.
//!
//! HTTP: `GET /api/v1/federation/peers` and
//! `GET /api/v1/federation/peers/{peer}/experts`, for any signed-in account.

use super::breaker::Breaker;
use super::peers::{Operation, Peers};
use crate::problem::ApiError;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use kit::ServiceError;
use sanshi_proto::federation::v1 as pb;
use sanshi_proto::federation::v1::federation_service_client::FederationServiceClient;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Status};

/// How calls to peers behave.
#[derive(Debug, Clone)]
pub struct Policy {
    pub timeout: Duration,
    pub attempts: u32,
    pub breaker_failures: u32,
    pub breaker_cooldown: Duration,
}

struct PeerClient {
    channel: Channel,
    breaker: Mutex<Breaker>,
}

/// The peers we call (those with a URL).
pub struct Clients {
    peers: Arc<Peers>,
    clients: HashMap<String, PeerClient>,
    policy: Policy,
}

/// Codes after which another attempt may succeed, and which count against the peer.
fn transient(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted | Code::Unknown
    )
}

impl Clients {
    /// Channels to every peer with a URL, presenting `identity`; none when it is None.
    pub fn new(peers: Arc<Peers>, identity: Option<Identity>, policy: Policy) -> anyhow::Result<Clients> {
        let mut clients = HashMap::new();
        if let Some(identity) = identity {
            for peer in peers.all().iter().filter(|p| !p.url.is_empty()) {
                let tls = ClientTlsConfig::new()
                    .ca_certificate(Certificate::from_pem(&peer.ca_pem))
                    .identity(identity.clone())
                    .domain_name(peer.server_name.clone());
                let channel = Endpoint::from_shared(peer.url.clone())?
                    .tls_config(tls)?
                    .connect_timeout(policy.timeout)
                    .timeout(policy.timeout)
                    .tcp_nodelay(true)
                    .connect_lazy();
                clients.insert(
                    peer.name.clone(),
                    PeerClient {
                        channel,
                        breaker: Mutex::default(),
                    },
                );
            }
        }
        Ok(Clients { peers, clients, policy })
    }

    fn breaker_open(&self, name: &str) -> bool {
        self.clients.get(name).is_some_and(|c| {
            c.breaker
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_open(Instant::now())
        })
    }

    /// Calls `peer` with `call`, under the deadline, retries and breaker.
    pub async fn call<T, F, Fut>(&self, name: &str, operation: Operation, call: F) -> Result<T, Status>
    where
        F: Fn(FederationServiceClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let client = self
            .clients
            .get(name)
            .ok_or_else(|| Status::from(ServiceError::not_found("对接平台", name)))?;
        let count = |outcome: &str| {
            kit::metrics::add(
                "sanshi_federation_outbound_total",
                &[("peer", name), ("operation", operation.as_str()), ("outcome", outcome)],
                1.0,
            )
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            if !client
                .breaker
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .try_acquire(Instant::now())
            {
                count("breaker_open");
                return Err(Status::unavailable("对方平台暂时无法访问，请稍后再试"));
            }
            let outcome = tokio::time::timeout(
                self.policy.timeout,
                call(FederationServiceClient::new(client.channel.clone())),
            )
            .await
            .unwrap_or_else(|_| Err(Status::deadline_exceeded("对方平台响应超时")));
            match outcome {
                Ok(response) => {
                    client.breaker.lock().unwrap_or_else(|p| p.into_inner()).succeeded();
                    kit::metrics::set("sanshi_federation_breaker_open", &[("peer", name)], 0.0);
                    count("ok");
                    return Ok(response.into_inner());
                }
                Err(status) if transient(status.code()) => {
                    let opened = client.breaker.lock().unwrap_or_else(|p| p.into_inner()).failed(
                        Instant::now(),
                        self.policy.breaker_failures,
                        self.policy.breaker_cooldown,
                    );
                    if opened {
                        kit::metrics::set("sanshi_federation_breaker_open", &[("peer", name)], 1.0);
                        tracing::warn!(peer = name, "federation breaker opened");
                    }
                    tracing::warn!(peer = name, attempt, code = ?status.code(), "federation call failed");
                    if attempt >= self.policy.attempts || opened {
                        count("error");
                        return Err(Status::unavailable("对方平台暂时无法访问，请稍后再试"));
                    }
                    tokio::time::sleep(Duration::from_millis(100 << attempt.min(5))).await;
                }
                Err(status) => {
                    // The peer answered: it is up, and the answer stands.
                    client.breaker.lock().unwrap_or_else(|p| p.into_inner()).succeeded();
                    count("error");
                    return Err(status);
                }
            }
        }
    }
}

/// What the federation HTTP routes need.
#[derive(Clone)]
pub struct Http {
    pub clients: Arc<Clients>,
    pub verifier: Arc<kit::auth::Verifier>,
    pub pool: prost_reflect::DescriptorPool,
}

impl Http {
    async fn signed_in(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let token = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(ServiceError::unauthenticated)?;
        self.verifier
            .verify(token.trim())
            .await
            .map_err(|_| ServiceError::unauthenticated())?;
        Ok(())
    }

    fn json<M: prost::Message>(&self, name: &str, message: &M) -> Result<serde_json::Value, ApiError> {
        let descriptor = self
            .pool
            .get_message_by_name(name)
            .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("no descriptor {name}")))?;
        let dynamic = prost_reflect::DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
            .map_err(|e| ServiceError::internal(anyhow::anyhow!("re-decode {name}: {e}")))?;
        let bytes = crate::api::to_json(&dynamic)?;
        serde_json::from_slice(&bytes).map_err(|e| ApiError::from(ServiceError::internal(anyhow::anyhow!("{e}"))))
    }
}

/// `GET /api/v1/federation/peers`: the configured peers, what they may ask
/// of us, and whether each answers now (a Ping, under the breaker).
pub async fn list_peers(State(http): State<Http>, headers: HeaderMap) -> Result<Response, ApiError> {
    http.signed_in(&headers).await?;
    let peers = http.clients.peers.all().to_vec();
    let pings = futures::future::join_all(peers.iter().map(|peer| {
        let http = http.clone();
        async move {
            if !http.clients.clients.contains_key(&peer.name) {
                return None;
            }
            Some(
                http.clients
                    .call(&peer.name, Operation::Ping, |mut c| async move {
                        c.ping(pb::PingRequest {}).await
                    })
                    .await,
            )
        }
    }))
    .await;
    let mut out = Vec::new();
    for (peer, ping) in peers.iter().zip(pings) {
        let mut allowed: Vec<&str> = peer.allowed.iter().map(|o| o.as_str()).collect();
        allowed.sort_unstable();
        let (status, platform, message) = match ping {
            None => ("not_called", String::new(), String::new()),
            Some(Ok(pong)) => ("up", pong.platform, String::new()),
            Some(Err(e)) => ("down", String::new(), e.message().to_string()),
        };
        out.push(serde_json::json!({
            "name": peer.name,
            "province_code": peer.province_code,
            "allowed_operations": allowed,
            "status": status,
            "platform": platform,
            "message": message,
            "breaker_open": http.clients.breaker_open(&peer.name),
        }));
    }
    Ok(axum::Json(serde_json::json!({ "peers": out })).into_response())
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct ExpertsQuery {
    profession: String,
    specialty: String,
    min_stars: String,
    page_size: String,
    page_token: String,
}

fn number(field: &str, value: &str, range: std::ops::RangeInclusive<i32>, message: &str) -> Result<i32, ServiceError> {
    if value.is_empty() {
        return Ok(0);
    }
    value
        .parse::<i32>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| ServiceError::invalid(field, message))
}

/// `GET /api/v1/federation/peers/{peer}/experts`: a page of the peer's
/// public expert directory (`profession`, `specialty`, `min_stars`,
/// `page_size`, `page_token`).
pub async fn peer_experts(
    State(http): State<Http>,
    Path(peer): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    http.signed_in(&headers).await?;
    let q: ExpertsQuery = serde_urlencoded::from_str(query.as_deref().unwrap_or_default())
        .map_err(|_| ServiceError::invalid("query", "查询参数无效"))?;
    let mut violations = kit::error::Violations::new();
    let profession = match q.profession.as_str() {
        "" => Some(0),
        name => {
            let upper = name.to_ascii_uppercase();
            let full = if upper.starts_with("PROFESSION_") {
                upper
            } else {
                format!("PROFESSION_{upper}")
            };
            pb::Profession::from_str_name(&full).map(|p| p as i32)
        }
    };
    if profession.is_none() {
        violations.add("profession", "专业类别应为 planner、architect、engineer 或 other");
    }
    let min_stars = violations.check(
        "min_stars",
        number("min_stars", &q.min_stars, 0..=5, "星级应为 0 到 5").map_err(|_| "星级应为 0 到 5"),
    );
    let page_size = violations.check(
        "page_size",
        number("page_size", &q.page_size, 0..=100, "每页条数应为 0 到 100").map_err(|_| "每页条数应为 0 到 100"),
    );
    violations.into_result()?;
    let request = pb::SearchExpertsRequest {
        profession: profession.unwrap_or_default(),
        specialty: q.specialty,
        min_stars: min_stars.unwrap_or_default(),
        page_size: page_size.unwrap_or_default(),
        page_token: q.page_token,
    };
    let page = http
        .clients
        .call(&peer, Operation::SearchExperts, |mut c| {
            let request = request.clone();
            async move { c.search_experts(request).await }
        })
        .await?;
    Ok(axum::Json(http.json("sanshi.federation.v1.SearchExpertsResponse", &page)?).into_response())
}
