//! Authentication and authorization shared by every service.
//!
//! Identity signs short-lived Ed25519 JWTs and publishes its public keys
//! (JWKS). Every other service verifies tokens locally with a [`Verifier`]
//! whose keys come from identity's `GetJwks` RPC, cached and refreshed when an
//! unknown key id appears. [`AuthLayer`] verifies the bearer token of every
//! request and puts the [`Principal`] into the request's extensions; handlers
//! call [`principal`] and [`Principal::require`], which decide region scope
//! with [`Scope::covers`](crate::region::Scope::covers) and nowhere else.

use crate::error::{ServiceError, ServiceResult};
use crate::region::{RegionCode, Scope};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use futures::future::BoxFuture;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, RwLock};

/// Roles, from the most to the least privileged administrator, then the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    CityAdmin,
    DistrictAdmin,
    StreetAdmin,
    CommunityWorker,
    Reviewer,
    Professional,
    Resident,
    Auditor,
    Service,
}

impl Role {
    pub const ALL: [Role; 9] = [
        Role::CityAdmin,
        Role::DistrictAdmin,
        Role::StreetAdmin,
        Role::CommunityWorker,
        Role::Reviewer,
        Role::Professional,
        Role::Resident,
        Role::Auditor,
        Role::Service,
    ];
    pub const ADMINS: [Role; 3] = [Role::CityAdmin, Role::DistrictAdmin, Role::StreetAdmin];
    /// Who acts for a community: its workers and the admins above it.
    pub const COMMUNITY_SIDE: [Role; 4] = [
        Role::CommunityWorker,
        Role::StreetAdmin,
        Role::DistrictAdmin,
        Role::CityAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::CityAdmin => "city_admin",
            Role::DistrictAdmin => "district_admin",
            Role::StreetAdmin => "street_admin",
            Role::CommunityWorker => "community_worker",
            Role::Reviewer => "reviewer",
            Role::Professional => "professional",
            Role::Resident => "resident",
            Role::Auditor => "auditor",
            Role::Service => "service",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Administrative rank: an admin may grant only roles of lower rank.
    /// Non-admin roles share the lowest rank; the service role is outside
    /// the ranking (see [`Principal::rank_covering`]).
    pub fn rank(self) -> u8 {
        match self {
            Role::CityAdmin => 40,
            Role::DistrictAdmin => 30,
            Role::StreetAdmin => 20,
            _ => 10,
        }
    }

    pub fn is_admin(self) -> bool {
        Role::ADMINS.contains(&self)
    }

    /// The protobuf enum value (`sanshi.identity.v1.Role`).
    pub fn to_proto(self) -> i32 {
        use sanshi_proto::identity::v1::Role as P;
        (match self {
            Role::CityAdmin => P::CityAdmin,
            Role::DistrictAdmin => P::DistrictAdmin,
            Role::StreetAdmin => P::StreetAdmin,
            Role::CommunityWorker => P::CommunityWorker,
            Role::Reviewer => P::Reviewer,
            Role::Professional => P::Professional,
            Role::Resident => P::Resident,
            Role::Auditor => P::Auditor,
            Role::Service => P::Service,
        }) as i32
    }

    pub fn from_proto(value: i32) -> Option<Role> {
        use sanshi_proto::identity::v1::Role as P;
        Some(match P::try_from(value).ok()? {
            P::Unspecified => return None,
            P::CityAdmin => Role::CityAdmin,
            P::DistrictAdmin => Role::DistrictAdmin,
            P::StreetAdmin => Role::StreetAdmin,
            P::CommunityWorker => Role::CommunityWorker,
            P::Reviewer => Role::Reviewer,
            P::Professional => Role::Professional,
            P::Resident => Role::Resident,
            P::Auditor => Role::Auditor,
            P::Service => Role::Service,
        })
    }
}

/// One role with its region, as carried in a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleClaim {
    pub role: Role,
    /// Absent only for the service role, whose scope is everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    Person,
    Service,
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// Account id.
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    /// Username, for logs and audit.
    pub name: String,
    pub kind: PrincipalKind,
    pub roles: Vec<RoleClaim>,
    /// The sign-in session (refresh-token family) the token belongs to;
    /// empty for service tokens. Logging out revokes the session's tokens.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sid: String,
}

/// A verified caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub account_id: String,
    pub username: String,
    pub kind: PrincipalKind,
    pub roles: Vec<(Role, Scope)>,
    /// The raw bearer token, so that calls made on the caller's behalf can forward it.
    pub token: String,
}

impl Principal {
    fn from_claims(claims: Claims, token: String) -> Result<Self, AuthError> {
        let mut roles = Vec::with_capacity(claims.roles.len());
        for claim in claims.roles {
            let scope = match (claim.role, claim.region) {
                (Role::Service, None) => Scope::All,
                (_, Some(region)) => Scope::Region(
                    RegionCode::parse(&region).map_err(|_| AuthError::Claims("bad region in role".into()))?,
                ),
                (_, None) => return Err(AuthError::Claims("role without region".into())),
            };
            if claim.role == Role::Service && claims.kind != PrincipalKind::Service {
                return Err(AuthError::Claims("service role on a person".into()));
            }
            roles.push((claim.role, scope));
        }
        Ok(Self {
            account_id: claims.sub,
            username: claims.name,
            kind: claims.kind,
            roles,
            token,
        })
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.iter().any(|(r, _)| *r == role)
    }

    pub fn is_service(&self) -> bool {
        self.kind == PrincipalKind::Service && self.has_role(Role::Service)
    }

    /// Whether one of `roles` held by the caller covers `region`. The
    /// service role covers everything.
    pub fn covers(&self, roles: &[Role], region: &RegionCode) -> bool {
        self.roles
            .iter()
            .any(|(role, scope)| (roles.contains(role) || *role == Role::Service) && scope.covers(region))
    }

    /// Fails with PERMISSION_DENIED unless [`Principal::covers`].
    pub fn require(&self, roles: &[Role], region: &RegionCode) -> ServiceResult<()> {
        if self.covers(roles, region) {
            Ok(())
        } else {
            Err(ServiceError::permission_denied())
        }
    }

    /// Fails unless the caller holds one of `roles` (exactly: the service
    /// role does not stand in for people's roles here).
    pub fn require_any(&self, roles: &[Role]) -> ServiceResult<()> {
        if self.roles.iter().any(|(r, _)| roles.contains(r)) {
            Ok(())
        } else {
            Err(ServiceError::permission_denied())
        }
    }

    pub fn require_service(&self) -> ServiceResult<()> {
        if self.is_service() {
            Ok(())
        } else {
            Err(ServiceError::PermissionDenied("仅限平台内部服务调用".into()))
        }
    }

    /// The highest administrative rank among the caller's admin roles that
    /// cover `region`. Services have none: they do not manage accounts.
    pub fn rank_covering(&self, region: &RegionCode) -> Option<u8> {
        self.roles
            .iter()
            .filter(|(role, _)| role.is_admin())
            .filter(|(_, scope)| scope.covers(region))
            .map(|(role, _)| role.rank())
            .max()
    }

    /// Whether one of `roles` covers the division `code` (false for a malformed code).
    pub fn acts_for(&self, roles: &[Role], code: &str) -> bool {
        RegionCode::parse(code).is_ok_and(|region| self.covers(roles, &region))
    }

    /// The region a request names in `field` (`code`), or when it names none
    /// the caller's own (the first in which they hold one of `roles`); either
    /// way one that one of `roles` covers, else PERMISSION_DENIED.
    pub fn region_or_own(&self, roles: &[Role], field: &str, code: &str) -> ServiceResult<RegionCode> {
        let code = match code.trim() {
            "" => self
                .prefixes(roles)
                .into_iter()
                .find(|p| !p.is_empty())
                .ok_or_else(ServiceError::permission_denied)?,
            named => named.to_string(),
        };
        let region = crate::region::parse_field(field, &code)?;
        self.require(roles, &region)?;
        Ok(region)
    }

    /// The code prefixes of [`Principal::scopes`] ("" for everything): for SQL prefix filters.
    pub fn prefixes(&self, roles: &[Role]) -> Vec<String> {
        self.scopes(roles).iter().map(|s| s.prefix().to_string()).collect()
    }

    /// The scopes in which the caller holds one of `roles`.
    pub fn scopes(&self, roles: &[Role]) -> Vec<Scope> {
        self.roles
            .iter()
            .filter(|(r, _)| roles.contains(r) || *r == Role::Service)
            .map(|(_, s)| s.clone())
            .collect()
    }
}

/// The verified caller of a request, owned, or UNAUTHENTICATED.
pub fn caller<T>(request: &tonic::Request<T>) -> ServiceResult<Principal> {
    principal(request).cloned()
}

/// The verified caller of a request, or UNAUTHENTICATED.
pub fn principal<T>(request: &tonic::Request<T>) -> ServiceResult<&Principal> {
    request
        .extensions()
        .get::<Principal>()
        .ok_or_else(ServiceError::unauthenticated)
}

/// Why a token was refused. Logged, never shown beyond "please log in again".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("token is malformed")]
    Malformed,
    #[error("algorithm is not EdDSA")]
    Algorithm,
    #[error("token has no key id")]
    MissingKeyId,
    #[error("unknown key id")]
    UnknownKey,
    #[error("signature does not verify")]
    Signature,
    #[error("token expired")]
    Expired,
    #[error("wrong issuer")]
    Issuer,
    #[error("wrong audience")]
    Audience,
    #[error("missing claim {0}")]
    MissingClaim(String),
    #[error("invalid claims: {0}")]
    Claims(String),
    #[error("token revoked")]
    Revoked,
}

impl From<AuthError> for ServiceError {
    fn from(error: AuthError) -> Self {
        tracing::info!(reason = %error, "token rejected");
        match error {
            AuthError::Expired => ServiceError::Unauthenticated("登录已过期，请重新登录".into()),
            AuthError::Revoked => {
                ServiceError::Unauthenticated("登录已失效（已退出、改密、停用或权限变更），请重新登录".into())
            }
            _ => ServiceError::Unauthenticated("登录凭证无效，请重新登录".into()),
        }
    }
}

/// A public key as published in the JWKS (OKP / Ed25519).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    pub kid: String,
    /// base64url of the 32-byte public key.
    pub x: String,
}

impl PublicJwk {
    pub fn to_proto(&self) -> sanshi_proto::identity::v1::Jwk {
        sanshi_proto::identity::v1::Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            kid: self.kid.clone(),
            x: self.x.clone(),
            alg: "EdDSA".into(),
            r#use: "sig".into(),
        }
    }
}

/// Where a verifier gets its keys.
pub type KeySource = Arc<dyn Fn() -> BoxFuture<'static, anyhow::Result<Vec<PublicJwk>>> + Send + Sync>;

/// A key source that asks identity's `GetJwks` RPC.
pub fn jwks_from_identity(channel: tonic::transport::Channel) -> KeySource {
    let channel = tonic::service::interceptor::InterceptedService::new(channel, crate::grpc::TraceInterceptor);
    Arc::new(move || {
        let mut client = sanshi_proto::identity::v1::auth_service_client::AuthServiceClient::new(channel.clone());
        Box::pin(async move {
            let keys = client
                .get_jwks(sanshi_proto::identity::v1::GetJwksRequest {})
                .await?
                .into_inner()
                .keys;
            Ok(keys
                .into_iter()
                .filter(|k| k.kty == "OKP" && k.crv == "Ed25519")
                .map(|k| PublicJwk { kid: k.kid, x: k.x })
                .collect())
        })
    })
}

/// A key source that asks identity at `url` (`http://identity:50051`), connecting lazily.
pub fn jwks_from_url(url: &str) -> anyhow::Result<KeySource> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy();
    Ok(jwks_from_identity(channel))
}

/// A key source with fixed keys (tests, benchmarks).
pub fn static_keys(keys: Vec<PublicJwk>) -> KeySource {
    Arc::new(move || {
        let keys = keys.clone();
        Box::pin(async move { Ok(keys) })
    })
}

/// Access tokens revoked before they expire (logout, password change, an
/// account disabled, roles changed): keys are SHA-256 hex of `sub:<account
/// id>` or `sid:<session id>`, each with the time (Unix seconds) up to which
/// tokens issued are refused. Identity lists them; every verifier follows the
/// list ([`Verifier::follow_revocations`]) and refuses such tokens within
/// seconds, instead of at their expiry.
#[derive(Default)]
pub struct Revocations {
    refused_until: std::sync::RwLock<HashMap<String, i64>>,
}

impl Revocations {
    /// The key of a revoked subject (`"sub"`) or session (`"sid"`).
    pub fn key(kind: &str, value: &str) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("{kind}:{value}").as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Adds revocations; a later time for the same key wins.
    pub fn apply(&self, entries: impl IntoIterator<Item = (String, i64)>) {
        let mut map = self.refused_until.write().unwrap_or_else(|p| p.into_inner());
        for (key, until) in entries {
            let entry = map.entry(key).or_insert(until);
            *entry = (*entry).max(until);
        }
        // Tokens live at most an hour (service tokens included): older entries refuse nothing.
        let horizon = chrono::Utc::now().timestamp() - REVOCATION_HORIZON_SECS;
        map.retain(|_, until| *until > horizon);
    }

    /// Whether a token of `subject` in `session`, issued at `issued_at`, is revoked.
    pub fn revoked(&self, subject: &str, session: &str, issued_at: i64) -> bool {
        let map = self.refused_until.read().unwrap_or_else(|p| p.into_inner());
        if map.is_empty() {
            return false;
        }
        let refused = |key: String| map.get(&key).is_some_and(|until| issued_at <= *until);
        refused(Self::key("sub", subject)) || (!session.is_empty() && refused(Self::key("sid", session)))
    }
}

/// How often verifiers ask identity for new revocations: a revoked token is
/// refused everywhere within about this long (the goal is five seconds).
pub const REVOCATION_POLL: Duration = Duration::from_secs(1);

/// How far back revocations matter: longer than any token lives.
pub const REVOCATION_HORIZON_SECS: i64 = 3600;

/// Where a verifier gets revocations: those after a sequence number (0: the
/// recent ones), and the last sequence number seen.
pub type RevocationSource =
    Arc<dyn Fn(i64) -> BoxFuture<'static, anyhow::Result<(Vec<(String, i64)>, i64)>> + Send + Sync>;

/// A revocation source that asks identity's `ListRevocations` RPC at `url`.
pub fn revocations_from_url(url: &str) -> anyhow::Result<RevocationSource> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy();
    let channel = tonic::service::interceptor::InterceptedService::new(channel, crate::grpc::TraceInterceptor);
    Ok(Arc::new(move |after| {
        let mut client = sanshi_proto::identity::v1::auth_service_client::AuthServiceClient::new(channel.clone());
        Box::pin(async move {
            let listed = client
                .list_revocations(sanshi_proto::identity::v1::ListRevocationsRequest { after_sequence: after })
                .await?
                .into_inner();
            let last = listed.revocations.iter().map(|r| r.sequence).max().unwrap_or(after);
            let entries = listed
                .revocations
                .into_iter()
                .map(|r| (r.key_hash, r.refused_until))
                .collect();
            Ok((entries, last))
        })
    }))
}

struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

/// Verifies access tokens against cached public keys.
pub struct Verifier {
    issuer: String,
    audience: String,
    source: KeySource,
    cache: RwLock<KeyCache>,
    /// When recent refreshes happened; bounds how often unknown key ids
    /// (a new key after rotation, or garbage) can make us refetch.
    refresh_log: Mutex<std::collections::VecDeque<Instant>>,
    max_age: Duration,
    max_refreshes_per_second: usize,
    /// Tokens already verified, with their expiry: a dashboard presents the
    /// same token for its whole lifetime, and an Ed25519 check per call is the
    /// largest cost of an authenticated read. Keyed by the whole token, so only
    /// the identical string hits; entries are dropped at expiry.
    verified: std::sync::Mutex<HashMap<String, (Principal, Verified)>>,
    revocations: Revocations,
}

/// What a verified token's claims say beyond its principal.
#[derive(Debug, Clone)]
struct Verified {
    exp: i64,
    iat: i64,
    sid: String,
}

/// Verified tokens remembered at most; past it expired entries are swept,
/// and if none expired the cache starts over.
const VERIFIED_CAPACITY: usize = 10_000;

impl Verifier {
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>, source: KeySource) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            source,
            cache: RwLock::new(KeyCache {
                keys: HashMap::new(),
                fetched_at: None,
            }),
            refresh_log: Mutex::new(std::collections::VecDeque::new()),
            max_age: Duration::from_secs(300),
            max_refreshes_per_second: 10,
            verified: std::sync::Mutex::new(HashMap::new()),
            revocations: Revocations::default(),
        }
    }

    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let now = chrono::Utc::now().timestamp();
        let cached = self.verified_cache().get(token).filter(|(_, v)| v.exp > now).cloned();
        let (principal, verified) = match cached {
            Some(hit) => hit,
            None => {
                let fresh = self.verify_uncached(token).await?;
                let mut cache = self.verified_cache();
                if cache.len() >= VERIFIED_CAPACITY {
                    cache.retain(|_, (_, v)| v.exp > now);
                    if cache.len() >= VERIFIED_CAPACITY {
                        cache.clear();
                    }
                }
                cache.insert(token.to_string(), fresh.clone());
                fresh
            }
        };
        // Checked on every call, cached or not: a revocation applies at once.
        if self
            .revocations
            .revoked(&principal.account_id, &verified.sid, verified.iat)
        {
            return Err(AuthError::Revoked);
        }
        Ok(principal)
    }

    /// The revocations this verifier applies (tests, and identity's own feed).
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// Follows `source` every `interval` for as long as the verifier lives:
    /// tokens revoked in identity are refused here within about `interval`.
    pub fn follow_revocations(self: &Arc<Self>, source: RevocationSource, interval: Duration) {
        let verifier = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut after = 0;
            let mut failing = false;
            loop {
                let Some(live) = verifier.upgrade() else { return };
                match source(after).await {
                    Ok((entries, last)) => {
                        if failing {
                            tracing::info!("revocation list reachable again");
                            failing = false;
                        }
                        live.revocations.apply(entries);
                        after = last;
                    }
                    Err(error) if !failing => {
                        tracing::warn!(error = %error, "revocation list unreachable");
                        failing = true;
                    }
                    Err(_) => {}
                }
                drop(live);
                tokio::time::sleep(interval).await;
            }
        });
    }

    fn verified_cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Principal, Verified)>> {
        // A panic while holding the lock leaves a map that is still valid.
        self.verified.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn verify_uncached(&self, token: &str) -> Result<(Principal, Verified), AuthError> {
        // Pin the algorithm before anything else looks at the token, so that
        // `none`, HMAC or any other algorithm is refused as such.
        let alg = token
            .split('.')
            .next()
            .and_then(|h| B64URL.decode(h).ok())
            .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
            .and_then(|h| h.get("alg").and_then(|a| a.as_str()).map(str::to_string))
            .ok_or(AuthError::Malformed)?;
        if alg != "EdDSA" {
            return Err(AuthError::Algorithm);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        let kid = header.kid.ok_or(AuthError::MissingKeyId)?;
        let key = self.key(&kid).await.ok_or(AuthError::UnknownKey)?;

        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::ExpiredSignature => AuthError::Expired,
                K::InvalidIssuer => AuthError::Issuer,
                K::InvalidAudience => AuthError::Audience,
                K::InvalidSignature => AuthError::Signature,
                K::MissingRequiredClaim(c) => AuthError::MissingClaim(c.clone()),
                K::Json(json) => match json.to_string().split('`').nth(1) {
                    Some(field) if json.to_string().starts_with("missing field") => {
                        AuthError::MissingClaim(field.into())
                    }
                    _ => AuthError::Claims(e.to_string()),
                },
                _ => AuthError::Malformed,
            }
        })?;
        let verified = Verified {
            exp: data.claims.exp,
            iat: data.claims.iat,
            sid: data.claims.sid.clone(),
        };
        Ok((Principal::from_claims(data.claims, token.to_string())?, verified))
    }

    async fn key(&self, kid: &str) -> Option<DecodingKey> {
        let (cached, fresh) = {
            let cache = self.cache.read().await;
            let fresh = cache.fetched_at.is_some_and(|t| t.elapsed() < self.max_age);
            (cache.keys.get(kid).cloned(), fresh)
        };
        match cached {
            Some(key) if fresh => Some(key),
            // A known key past its age: refresh if nobody else is, but never
            // make this caller wait behind another's fetch.
            Some(key) => {
                if let Ok(log) = self.refresh_log.try_lock() {
                    self.refresh_locked(log).await;
                }
                Some(key)
            }
            None => {
                self.refresh().await;
                self.cache.read().await.keys.get(kid).cloned()
            }
        }
    }

    /// Refetches the keys, at most `max_refreshes_per_second` times a
    /// second; on failure the keys already known stay in use.
    pub async fn refresh(&self) {
        let log = self.refresh_log.lock().await;
        self.refresh_locked(log).await;
    }

    async fn refresh_locked(&self, mut log: tokio::sync::MutexGuard<'_, std::collections::VecDeque<Instant>>) {
        while log.front().is_some_and(|t| t.elapsed() > Duration::from_secs(1)) {
            log.pop_front();
        }
        if log.len() >= self.max_refreshes_per_second {
            return;
        }
        log.push_back(Instant::now());
        match (self.source)().await {
            Ok(jwks) => {
                let keys = jwks
                    .into_iter()
                    .filter_map(|k| Some((k.kid.clone(), DecodingKey::from_ed_components(&k.x).ok()?)))
                    .collect();
                *self.cache.write().await = KeyCache {
                    keys,
                    fetched_at: Some(Instant::now()),
                };
            }
            Err(error) => tracing::warn!(error = %error, "jwks refresh failed"),
        }
    }
}

/// An Ed25519 signing key with its id.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pkcs8_der: Vec<u8>,
    public: [u8; 32],
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.kid)
    }
}

impl SigningKey {
    pub fn generate() -> Self {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let pkcs8_der = key
            .to_pkcs8_der()
            .expect("pkcs8 encoding of a fresh key")
            .as_bytes()
            .to_vec();
        let public = key.verifying_key().to_bytes();
        let kid = crate::pii::hex(&sha2_digest(&public)[..8]);
        Self { kid, pkcs8_der, public }
    }

    pub fn from_pkcs8_der(kid: String, der: &[u8]) -> anyhow::Result<Self> {
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        let key =
            ed25519_dalek::SigningKey::from_pkcs8_der(der).map_err(|e| anyhow::anyhow!("bad signing key: {e}"))?;
        Ok(Self {
            kid,
            pkcs8_der: der.to_vec(),
            public: key.verifying_key().to_bytes(),
        })
    }

    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8_der
    }

    pub fn public_jwk(&self) -> PublicJwk {
        PublicJwk {
            kid: self.kid.clone(),
            x: B64URL.encode(self.public),
        }
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&self.pkcs8_der))
            .expect("signing with a valid Ed25519 key cannot fail")
    }
}

fn sha2_digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// Tower layer that verifies the bearer token of each request. A request
/// without a token passes on with no principal (public RPCs such as Login);
/// a request with a bad token is refused with UNAUTHENTICATED.
#[derive(Clone)]
pub struct AuthLayer {
    verifier: Arc<Verifier>,
}

impl AuthLayer {
    pub fn new(verifier: Arc<Verifier>) -> Self {
        Self { verifier }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    verifier: Arc<Verifier>,
}

impl<S, B> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // Take the service that was driven to readiness, leave a clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            // This block runs inside the RPC's span (its `call` does not), which is
            // made before the request id exists: record the id here.
            if let Some(id) = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()) {
                tracing::Span::current().record("request_id", id);
            }
            let token = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                        .unwrap_or(v)
                        .trim()
                        .to_string()
                });
            if let Some(token) = token {
                match verifier.verify(&token).await {
                    Ok(principal) => {
                        tracing::Span::current().record("account_id", principal.account_id.as_str());
                        request.extensions_mut().insert(principal);
                    }
                    Err(error) => {
                        let status = tonic::Status::from(ServiceError::from(error));
                        return Ok(status.into_http());
                    }
                }
            }
            inner.call(request).await
        })
    }
}

pub mod testing {
    //! Helpers to mint tokens in tests and benchmarks.
    use super::*;

    pub const ISSUER: &str = "sanshi-test";
    pub const AUDIENCE: &str = "sanshi";

    pub fn claims(sub: &str, kind: PrincipalKind, roles: Vec<RoleClaim>, ttl_secs: i64) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: sub.into(),
            exp: now + ttl_secs,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            name: sub.into(),
            kind,
            roles,
            sid: String::new(),
        }
    }

    pub fn service_claims(name: &str) -> Claims {
        claims(
            name,
            PrincipalKind::Service,
            vec![RoleClaim {
                role: Role::Service,
                region: None,
            }],
            300,
        )
    }

    pub fn person_claims(sub: &str, role: Role, region: &str) -> Claims {
        claims(
            sub,
            PrincipalKind::Person,
            vec![RoleClaim {
                role,
                region: Some(region.into()),
            }],
            300,
        )
    }

    /// A verifier that trusts exactly `key`.
    pub fn verifier(key: &SigningKey) -> Arc<Verifier> {
        Arc::new(Verifier::new(ISSUER, AUDIENCE, static_keys(vec![key.public_jwk()])))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn revocations_refuse_tokens_issued_up_to_their_time() {
        let revocations = super::Revocations::default();
        let now = chrono::Utc::now().timestamp();
        assert!(!revocations.revoked("a1", "s1", now));
        revocations.apply([
            (super::Revocations::key("sub", "a1"), now),
            (super::Revocations::key("sid", "s2"), now),
            // Older than any token lives: dropped.
            (
                super::Revocations::key("sub", "old"),
                now - 2 * super::REVOCATION_HORIZON_SECS,
            ),
        ]);
        assert!(revocations.revoked("a1", "", now - 10), "issued before");
        assert!(revocations.revoked("a1", "s9", now), "issued in the same second");
        assert!(!revocations.revoked("a1", "s9", now + 1), "signed in again later");
        assert!(revocations.revoked("a2", "s2", now), "its session ended");
        assert!(
            !revocations.revoked("a2", "s3", now),
            "another session of the same account"
        );
        assert!(!revocations.revoked("old", "", now - 3 * super::REVOCATION_HORIZON_SECS));
        // A later revocation of the same key wins; an earlier one does not undo it.
        revocations.apply([(super::Revocations::key("sub", "a1"), now - 100)]);
        assert!(revocations.revoked("a1", "", now));
    }

    use super::testing::*;
    use super::*;

    fn region(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap()
    }

    #[tokio::test]
    async fn accepts_a_valid_token() {
        let key = SigningKey::generate();
        let p = verifier(&key)
            .verify(&key.sign(&person_claims("a1", Role::DistrictAdmin, "500103")))
            .await
            .unwrap();
        assert_eq!(p.account_id, "a1");
        assert!(p.covers(&[Role::DistrictAdmin], &region("500103001001")));
        assert!(!p.covers(&[Role::DistrictAdmin], &region("500104")));
        assert!(!p.covers(&[Role::CityAdmin], &region("500103")));
    }

    fn unsigned(header: &str, claims: &Claims) -> String {
        format!(
            "{}.{}.",
            B64URL.encode(header),
            B64URL.encode(serde_json::to_vec(claims).unwrap())
        )
    }

    #[tokio::test]
    async fn rejection_table() {
        let key = SigningKey::generate();
        let other = SigningKey::generate();
        let v = verifier(&key);
        let good = person_claims("a1", Role::Reviewer, "50");

        let mut wrong_aud = good.clone();
        wrong_aud.aud = "other".into();
        let mut wrong_iss = good.clone();
        wrong_iss.iss = "evil".into();
        let mut expired = good.clone();
        expired.exp = chrono::Utc::now().timestamp() - 3600;
        let mut no_exp = serde_json::to_value(&good).unwrap();
        no_exp.as_object_mut().unwrap().remove("exp");
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        let no_exp_token = jsonwebtoken::encode(&header, &no_exp, &EncodingKey::from_ed_der(key.pkcs8_der())).unwrap();
        // Right kid, signed by another key.
        let forged = SigningKey {
            kid: key.kid.clone(),
            ..other.clone()
        };
        let hs256 = jsonwebtoken::encode(
            &Header {
                kid: Some(key.kid.clone()),
                ..Header::new(Algorithm::HS256)
            },
            &good,
            &EncodingKey::from_secret(b"the public key is not a secret"),
        )
        .unwrap();
        let mut service_person = good.clone();
        service_person.roles = vec![RoleClaim {
            role: Role::Service,
            region: None,
        }];

        let cases: Vec<(&str, String, AuthError)> = vec![
            (
                "alg none",
                unsigned(&format!(r#"{{"alg":"none","kid":"{}"}}"#, key.kid), &good),
                AuthError::Algorithm,
            ),
            ("alg hs256", hs256, AuthError::Algorithm),
            ("wrong key, unknown kid", other.sign(&good), AuthError::UnknownKey),
            ("wrong key, same kid", forged.sign(&good), AuthError::Signature),
            ("wrong audience", key.sign(&wrong_aud), AuthError::Audience),
            ("wrong issuer", key.sign(&wrong_iss), AuthError::Issuer),
            ("expired", key.sign(&expired), AuthError::Expired),
            ("missing exp", no_exp_token, AuthError::MissingClaim("exp".into())),
            ("garbage", "not.a.token".into(), AuthError::Malformed),
            (
                "service role on a person",
                key.sign(&service_person),
                AuthError::Claims("service role on a person".into()),
            ),
        ];
        for (name, token, expected) in cases {
            assert_eq!(v.verify(&token).await.unwrap_err(), expected, "{name}");
        }
    }

    #[tokio::test]
    async fn unknown_kid_triggers_a_jwks_refresh() {
        let first = SigningKey::generate();
        let second = SigningKey::generate();
        let published = Arc::new(std::sync::Mutex::new(vec![first.public_jwk()]));
        let source_keys = published.clone();
        let source: KeySource = Arc::new(move || {
            let keys = source_keys.lock().unwrap().clone();
            Box::pin(async move { Ok(keys) })
        });
        let v = Verifier::new(ISSUER, AUDIENCE, source);
        v.verify(&first.sign(&service_claims("svc"))).await.unwrap();
        assert_eq!(
            v.verify(&second.sign(&service_claims("svc"))).await.unwrap_err(),
            AuthError::UnknownKey
        );
        published.lock().unwrap().push(second.public_jwk());
        assert!(
            v.verify(&second.sign(&service_claims("svc")))
                .await
                .unwrap()
                .is_service()
        );
    }

    #[tokio::test]
    async fn cached_tokens_still_expire() {
        let key = SigningKey::generate();
        let v = verifier(&key);
        let mut claims = person_claims("a1", Role::Reviewer, "50");
        claims.exp = chrono::Utc::now().timestamp() + 2;
        let token = key.sign(&claims);
        v.verify(&token).await.unwrap();
        v.verify(&token).await.expect("served from the cache");
        tokio::time::sleep(Duration::from_millis(2100)).await;
        // Past `exp` the cache no longer answers; the full check still allows
        // its 30 s leeway for clock skew, as it does for an uncached token.
        assert!(
            v.verified_cache()
                .get(&token)
                .is_some_and(|(_, v)| v.exp <= chrono::Utc::now().timestamp())
        );
        assert!(v.verify(&token).await.is_ok());
        let mut old = claims.clone();
        old.exp = chrono::Utc::now().timestamp() - 60;
        assert_eq!(v.verify(&key.sign(&old)).await.unwrap_err(), AuthError::Expired);
    }

    #[test]
    fn admin_rank_and_scope() {
        let p = Principal {
            account_id: "s".into(),
            username: "s".into(),
            kind: PrincipalKind::Person,
            roles: vec![(Role::StreetAdmin, Scope::Region(region("500103001")))],
            token: String::new(),
        };
        assert_eq!(p.rank_covering(&region("500103001001")), Some(Role::StreetAdmin.rank()));
        assert_eq!(p.rank_covering(&region("500103002")), None);
        assert!(Role::DistrictAdmin.rank() > Role::StreetAdmin.rank());
        for role in Role::ALL {
            assert_eq!(Role::from_proto(role.to_proto()), Some(role));
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
    }
}
