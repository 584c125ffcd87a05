//! The gateway's own routes: health, and the answer to unknown paths. The
//! resource API is table-driven (`crate::api`).

use crate::problem::ApiError;
use axum::Json;

/// The health path (Kubernetes' startup, liveness and readiness probes):
/// never rate-limited, nor queued behind the concurrency limit
/// (`crate::router`).
pub const HEALTH: &str = "/healthz";

pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

pub async fn not_found() -> ApiError {
    ApiError::from(tonic::Status::not_found("没有这个接口"))
}
