//! HTTP routes. Each handler calls a service over gRPC, forwarding the
//! caller's bearer token; trace context travels through kit's channel.

use crate::problem::{ApiError, ApiJson};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use sanshi_proto::identity::v1 as pb;
use sanshi_proto::identity::v1::account_service_client::AccountServiceClient;
use sanshi_proto::identity::v1::auth_service_client::AuthServiceClient;
use serde::{Deserialize, Serialize};

#[derive(Clone)]
pub struct Upstreams {
    pub identity: kit::grpc::TracedChannel,
}

#[derive(Deserialize)]
pub struct LoginBody {
    pub username: String,
    pub password: String,
}

#[derive(Deserialize)]
pub struct RegisterBody {
    pub username: String,
    pub display_name: String,
    pub phone: String,
    pub password: String,
    pub community_code: String,
}

#[derive(Deserialize)]
pub struct RefreshBody {
    pub refresh_token: String,
}

#[derive(Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: String,
    pub expires_in: i64,
}

impl From<Option<pb::TokenPair>> for TokenResponse {
    fn from(pair: Option<pb::TokenPair>) -> Self {
        let pair = pair.unwrap_or_default();
        Self {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            token_type: pair.token_type,
            expires_in: pair.expires_in,
        }
    }
}

#[derive(Serialize)]
pub struct RoleView {
    pub role: String,
    pub region_code: String,
}

#[derive(Serialize)]
pub struct AccountView {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub phone: String,
    pub status: &'static str,
    pub region_code: String,
    pub roles: Vec<RoleView>,
}

impl From<pb::Account> for AccountView {
    fn from(a: pb::Account) -> Self {
        Self {
            id: a.id,
            username: a.username,
            display_name: a.display_name,
            phone: a.phone,
            status: match pb::AccountStatus::try_from(a.status) {
                Ok(pb::AccountStatus::Active) => "active",
                _ => "disabled",
            },
            region_code: a.region_code,
            roles: a
                .roles
                .into_iter()
                .map(|g| RoleView {
                    role: kit::auth::Role::from_proto(g.role)
                        .map(|r| r.as_str())
                        .unwrap_or("unknown")
                        .to_string(),
                    region_code: g.region_code,
                })
                .collect(),
        }
    }
}

/// The bearer token of the request, or 401.
fn bearer(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::from(kit::ServiceError::unauthenticated()))
}

pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

pub async fn login(
    State(up): State<Upstreams>,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Json<TokenResponse>, ApiError> {
    let response = AuthServiceClient::new(up.identity)
        .login(pb::LoginRequest {
            username: body.username,
            password: body.password,
        })
        .await?;
    Ok(Json(response.into_inner().tokens.into()))
}

pub async fn refresh(
    State(up): State<Upstreams>,
    ApiJson(body): ApiJson<RefreshBody>,
) -> Result<Json<TokenResponse>, ApiError> {
    let response = AuthServiceClient::new(up.identity)
        .refresh_token(pb::RefreshTokenRequest {
            refresh_token: body.refresh_token,
        })
        .await?;
    Ok(Json(response.into_inner().tokens.into()))
}

pub async fn logout(
    State(up): State<Upstreams>,
    ApiJson(body): ApiJson<RefreshBody>,
) -> Result<http::StatusCode, ApiError> {
    AuthServiceClient::new(up.identity)
        .logout(pb::LogoutRequest {
            refresh_token: body.refresh_token,
        })
        .await?;
    Ok(http::StatusCode::NO_CONTENT)
}

pub async fn register(
    State(up): State<Upstreams>,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<(http::StatusCode, Json<AccountView>), ApiError> {
    let request = pb::RegisterAccountRequest {
        username: body.username,
        display_name: body.display_name,
        phone: body.phone,
        password: body.password,
        community_code: body.community_code,
    };
    let account = AccountServiceClient::new(up.identity)
        .register_account(request)
        .await?
        .into_inner();
    Ok((http::StatusCode::CREATED, Json(account.into())))
}

pub async fn me(State(up): State<Upstreams>, headers: HeaderMap) -> Result<Json<AccountView>, ApiError> {
    let token = bearer(&headers)?;
    let account = AccountServiceClient::new(up.identity)
        .get_account(kit::grpc::with_token(pb::GetAccountRequest { id: "me".into() }, &token))
        .await?
        .into_inner();
    Ok(Json(account.into()))
}

pub async fn not_found() -> ApiError {
    ApiError::from(tonic::Status::not_found("没有这个接口"))
}
