//! AuthService: login, rotating refresh tokens with reuse detection, logout,
//! password change, client credentials for services, JWKS and key rotation.

use super::Identity;
use super::attempts::source_of;
use crate::domain::audit::{AuditEvent, Outcome};
use crate::domain::lockout::{AttemptKey, LoginSource, kind_label, locked_until, lockout_message};
use crate::domain::password::{Holder, NewPassword};
use crate::passwords;
use crate::store;
use crate::store::entities::account;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use chrono::Utc;
use kit::auth::{Claims, PrincipalKind, Role, RoleClaim, SigningKey, principal};
use kit::pii::PhoneNumber;
use kit::{ServiceError, ServiceResult};
use rand::RngCore;
use sanshi_proto::identity::v1 as pb;
use sanshi_proto::identity::v1::auth_service_server::AuthService;
use sea_orm::ConnectionTrait;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct Auth {
    pub identity: Arc<Identity>,
}

const WRONG_CREDENTIALS: &str = "用户名或密码错误";

fn token_hash(token: &str) -> String {
    kit::pii::hex(&Sha256::digest(token.as_bytes()))
}

fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    B64URL.encode(bytes)
}

impl Identity {
    async fn signing_key(&self, db: &impl ConnectionTrait) -> ServiceResult<SigningKey> {
        store::keys::current(db, &self.cipher)
            .await
            .map_err(ServiceError::internal)?
            .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("no signing key")))
    }

    /// Signs an access token carrying the account's current roles.
    pub async fn access_token(
        &self,
        db: &impl ConnectionTrait,
        account: &account::Model,
        session: &str,
    ) -> ServiceResult<(String, i64)> {
        let service = account.kind == "service";
        let roles = if service {
            vec![RoleClaim {
                role: Role::Service,
                region: None,
            }]
        } else {
            store::accounts::roles_of(db, &account.id)
                .await?
                .into_iter()
                .map(|(role, region)| RoleClaim {
                    role,
                    region: Some(region),
                })
                .collect()
        };
        let ttl = if service {
            self.tokens.service_ttl
        } else {
            self.tokens.access_ttl
        };
        let now = Utc::now();
        let claims = Claims {
            iss: self.tokens.issuer.clone(),
            aud: self.tokens.audience.clone(),
            sub: account.id.clone(),
            exp: (now + ttl).timestamp(),
            iat: now.timestamp(),
            jti: uuid::Uuid::new_v4().to_string(),
            name: account.username.clone(),
            kind: if service {
                PrincipalKind::Service
            } else {
                PrincipalKind::Person
            },
            roles,
            sid: session.to_string(),
        };
        Ok((self.signing_key(db).await?.sign(&claims), ttl.num_seconds()))
    }

    /// A new access token and a refresh token in `family_id`.
    async fn token_pair(
        &self,
        db: &impl ConnectionTrait,
        account: &account::Model,
        family_id: String,
        refresh_expires_at: chrono::DateTime<Utc>,
    ) -> ServiceResult<pb::TokenPair> {
        let (access_token, expires_in) = self.access_token(db, account, &family_id).await?;
        let refresh_token = new_refresh_token();
        store::tokens::insert_refresh(
            db,
            token_hash(&refresh_token),
            family_id,
            account.id.clone(),
            refresh_expires_at,
        )
        .await?;
        Ok(pb::TokenPair {
            access_token,
            refresh_token,
            token_type: "Bearer".into(),
            expires_in,
        })
    }

    /// How a username appears in the audit log: as itself when the account
    /// exists, otherwise as a keyed hash, so that a password typed into the
    /// username field is never kept.
    fn audit_name(&self, username: &str, exists: bool) -> String {
        if exists {
            username.to_string()
        } else {
            format!("unknown:{}", &self.cipher.lookup_hash("username", username)[..16])
        }
    }

    /// Refuses while `key`'s source has to wait, auditing and counting the
    /// refusal. Failures from other sources play no part: the holder logging
    /// in from elsewhere is never refused because someone guesses here.
    async fn refuse_if_locked(&self, key: &AttemptKey, action: &str, actor: &str) -> ServiceResult<()> {
        let now = Utc::now();
        let failures = store::tokens::failures_since(&self.db, &key.bucket(), now - self.lockout.window).await?;
        let Some(until) = locked_until(self.lockout, &failures, now) else {
            return Ok(());
        };
        let wait = until - now;
        tracing::warn!(
            account = key.account(),
            source = %key.source(),
            action,
            failures = failures.len(),
            retry_after_secs = wait.num_seconds(),
            "login locked out"
        );
        kit::metrics::add("sanshi_login_lockouts_total", &[("kind", kind_label(key.kind()))], 1.0);
        self.audit_standalone(
            AuditEvent::new(actor, action, key.account(), Outcome::Denied).with_detail(format!(
                "locked out: {} failures from {}, retry in {} s",
                failures.len(),
                key.source(),
                wait.num_seconds().max(1)
            )),
        )
        .await;
        Err(ServiceError::ResourceExhausted(lockout_message(wait)))
    }

    /// Counts a wrong password against `key`'s source only.
    async fn record_failed_attempt(&self, key: &AttemptKey) -> ServiceResult<()> {
        let txn = kit::db::begin(&self.db).await?;
        store::tokens::record_failure(&txn, &key.bucket(), Utc::now() - self.lockout.window).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Checks a username and password for an account of `kind`, tried from
    /// `source`. Returns the account and its attempt key, whose failures the
    /// caller clears on success. Attempts on one key take turns, and a
    /// failure is recorded only once the password is known to be wrong:
    /// parallel guesses get no more tries than sequential ones, and correct
    /// logins, however many at once, never count toward a lockout.
    async fn check_credentials(
        &self,
        username: &str,
        password: &str,
        kind: PrincipalKind,
        action: &str,
        source: LoginSource,
    ) -> ServiceResult<(account::Model, AttemptKey)> {
        let wrong = || ServiceError::Unauthenticated(WRONG_CREDENTIALS.into());
        if username.chars().count() > 32 {
            // No account can have such a name (see validate_username).
            return Err(wrong());
        }
        let label = kind_label(kind);
        let account = store::accounts::find_by_username(&self.db, username)
            .await?
            .filter(|a| a.kind == label);
        let target = self.audit_name(username, account.is_some());
        // Keyed by the audited name: what was typed for an unknown account
        // (perhaps a password) is not stored.
        let key = AttemptKey::new(kind, target.clone(), source);
        let turn = self.attempts.turn(&key.bucket()).await;
        self.refuse_if_locked(&key, action, "").await?;
        let ok = passwords::verify(password.to_string(), account.as_ref().map(|a| a.password_hash.clone())).await;
        match account {
            Some(account) if ok => {
                drop(turn);
                if account.status != "active" {
                    self.audit_standalone(
                        AuditEvent::new(&account.id, action, &target, Outcome::Denied).with_detail("account disabled"),
                    )
                    .await;
                    return Err(ServiceError::Unauthenticated("账号已停用".into()));
                }
                Ok((account, key))
            }
            _ => {
                self.record_failed_attempt(&key).await?;
                drop(turn);
                tracing::info!(account = target, source = %key.source(), action, "wrong credentials");
                kit::metrics::add("sanshi_login_failures_total", &[("kind", label)], 1.0);
                self.audit_standalone(
                    AuditEvent::new("", action, &target, Outcome::Failure)
                        .with_detail(format!("wrong credentials from {}", key.source())),
                )
                .await;
                Err(wrong())
            }
        }
    }

    async fn login(&self, req: pb::LoginRequest, source: LoginSource) -> ServiceResult<pb::TokenPair> {
        let mut v = kit::error::Violations::new();
        if req.username.is_empty() {
            v.add("username", "请输入用户名");
        }
        if req.password.is_empty() {
            v.add("password", "请输入密码");
        }
        v.into_result()?;
        let (account, key) = self
            .check_credentials(&req.username, &req.password, PrincipalKind::Person, "login", source)
            .await?;
        let txn = kit::db::begin(&self.db).await?;
        // Clears this source's failures only: a guesser elsewhere stays slowed.
        store::tokens::clear_failures(&txn, &key.bucket()).await?;
        let family = uuid::Uuid::new_v4().to_string();
        let pair = self
            .token_pair(&txn, &account, family, Utc::now() + self.tokens.refresh_ttl)
            .await?;
        self.audit(
            &txn,
            AuditEvent::new(&account.id, "login", &account.username, Outcome::Success),
        )
        .await?;
        txn.commit().await?;
        tracing::info!(account_id = account.id, "login");
        Ok(pair)
    }

    async fn refresh(&self, req: pb::RefreshTokenRequest) -> ServiceResult<pb::TokenPair> {
        if req.refresh_token.is_empty() {
            return Err(ServiceError::invalid("refresh_token", "缺少 refresh_token"));
        }
        let invalid = || ServiceError::Unauthenticated("登录已失效，请重新登录".into());
        let hash = token_hash(&req.refresh_token);
        let token = store::tokens::find_refresh(&self.db, &hash)
            .await?
            .ok_or_else(invalid)?;
        let txn = kit::db::begin(&self.db).await?;
        if token.used_at.is_some() || token.revoked_at.is_some() || !store::tokens::spend_refresh(&txn, &hash).await? {
            // A spent token presented again means it was copied: end every
            // session descended from the same login.
            let revoked = store::tokens::revoke_family(&txn, &token.family_id).await?;
            self.audit(
                &txn,
                AuditEvent::new(
                    &token.account_id,
                    "refresh_token_reuse",
                    &token.family_id,
                    Outcome::Denied,
                )
                .with_detail(format!("revoked {revoked} tokens of the family")),
            )
            .await?;
            txn.commit().await?;
            tracing::warn!(
                account_id = token.account_id,
                family_id = token.family_id,
                "refresh token reuse detected"
            );
            return Err(invalid());
        }
        if token.expires_at < Utc::now() {
            return Err(invalid());
        }
        let account = store::accounts::find(&txn, &token.account_id)
            .await?
            .ok_or_else(invalid)?
            .account;
        if account.status != "active" {
            return Err(ServiceError::Unauthenticated("账号已停用".into()));
        }
        // The new token inherits the family's expiry: rotation never extends a
        // session beyond `refresh_ttl` after its login.
        let pair = self
            .token_pair(&txn, &account, token.family_id.clone(), token.expires_at)
            .await?;
        txn.commit().await?;
        Ok(pair)
    }

    async fn logout(&self, req: pb::LogoutRequest) -> ServiceResult<()> {
        if req.refresh_token.is_empty() {
            return Err(ServiceError::invalid("refresh_token", "缺少 refresh_token"));
        }
        // Logging out twice, or with an unknown token, is not an error.
        if let Some(token) = store::tokens::find_refresh(&self.db, &token_hash(&req.refresh_token)).await? {
            let txn = kit::db::begin(&self.db).await?;
            store::tokens::revoke_family(&txn, &token.family_id).await?;
            self.audit(
                &txn,
                AuditEvent::new(&token.account_id, "logout", &token.account_id, Outcome::Success),
            )
            .await?;
            txn.commit().await?;
        }
        Ok(())
    }

    /// The account's phone number, which its password must not contain;
    /// none when it has none or it cannot be opened.
    fn phone_of(&self, account: &account::Model) -> Option<PhoneNumber> {
        let sealed = account.phone_sealed.as_ref()?;
        let plain = self.cipher.open_string(sealed).ok()?;
        PhoneNumber::parse(&plain).ok()
    }

    async fn change_password(
        &self,
        account_id: &str,
        req: pb::ChangePasswordRequest,
        source: LoginSource,
    ) -> ServiceResult<()> {
        let record = store::accounts::find(&self.db, account_id)
            .await?
            .ok_or_else(ServiceError::unauthenticated)?;
        let phone = self.phone_of(&record.account);
        let holder = Holder {
            username: &record.account.username,
            phone: phone.as_ref(),
        };
        let mut v = kit::error::Violations::new();
        let new_password = v.check("new_password", NewPassword::parse(&req.new_password, holder));
        if req.current_password == req.new_password {
            v.add("new_password", "新密码不能与当前密码相同");
        }
        v.into_result()?;
        let Some(new_password) = new_password else {
            return Err(ServiceError::invalid("new_password", "新密码无效"));
        };
        // A wrong current password counts toward the same lockout as a wrong
        // login from the same source.
        let key = AttemptKey::new(PrincipalKind::Person, record.account.username.clone(), source);
        let bucket = key.bucket();
        let turn = self.attempts.turn(&bucket).await;
        self.refuse_if_locked(&key, "change_password", account_id).await?;
        if !passwords::verify(req.current_password, Some(record.account.password_hash.clone())).await {
            self.record_failed_attempt(&key).await?;
            drop(turn);
            self.audit_standalone(AuditEvent::new(
                account_id,
                "change_password",
                account_id,
                Outcome::Failure,
            ))
            .await;
            return Err(ServiceError::invalid("current_password", "当前密码不正确"));
        }
        drop(turn);
        let new_hash = passwords::hash(new_password.into_string()).await?;
        let txn = kit::db::begin(&self.db).await?;
        let changes = store::accounts::AccountChanges {
            password_hash: Some(new_hash),
            ..Default::default()
        };
        store::accounts::update(&txn, record.account, changes).await?;
        store::tokens::clear_failures(&txn, &bucket).await?;
        // Other sessions keep no refresh token that outlives the old password.
        store::tokens::revoke_account(&txn, account_id).await?;
        self.audit(
            &txn,
            AuditEvent::new(account_id, "change_password", account_id, Outcome::Success),
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    async fn service_token(
        &self,
        req: pb::IssueServiceTokenRequest,
        source: LoginSource,
    ) -> ServiceResult<pb::IssueServiceTokenResponse> {
        let mut v = kit::error::Violations::new();
        if req.client_id.is_empty() {
            v.add("client_id", "缺少 client_id");
        }
        if req.client_secret.is_empty() {
            v.add("client_secret", "缺少 client_secret");
        }
        v.into_result()?;
        let (account, key) = self
            .check_credentials(
                &req.client_id,
                &req.client_secret,
                PrincipalKind::Service,
                "service_token",
                source,
            )
            .await?;
        let txn = kit::db::begin(&self.db).await?;
        store::tokens::clear_failures(&txn, &key.bucket()).await?;
        let (access_token, expires_in) = self.access_token(&txn, &account, "").await?;
        self.audit(
            &txn,
            AuditEvent::new(&account.id, "service_token", &account.username, Outcome::Success),
        )
        .await?;
        txn.commit().await?;
        Ok(pb::IssueServiceTokenResponse {
            access_token,
            expires_in,
        })
    }

    pub async fn jwks(&self) -> ServiceResult<Vec<kit::auth::PublicJwk>> {
        // A retired key stays published while tokens it signed can still be valid.
        let horizon = Utc::now() - self.tokens.access_ttl.max(self.tokens.service_ttl) - chrono::Duration::seconds(60);
        Ok(store::keys::published(&self.db, horizon).await?)
    }

    /// Revocations after `after` (0: the last hour's), for verifiers.
    pub async fn revocations(&self, after: i64) -> ServiceResult<Vec<pb::Revocation>> {
        Ok(store::tokens::revocations(&self.db, after, 1000)
            .await?
            .into_iter()
            .map(|(sequence, key_hash, refused_until)| pb::Revocation {
                sequence,
                key_hash,
                refused_until,
            })
            .collect())
    }

    /// A service token for identity itself (to read other services' event streams).
    pub async fn self_service_token(&self) -> ServiceResult<String> {
        let now = Utc::now();
        let claims = Claims {
            iss: self.tokens.issuer.clone(),
            aud: self.tokens.audience.clone(),
            sub: "identity".into(),
            exp: (now + self.tokens.service_ttl).timestamp(),
            iat: now.timestamp(),
            jti: uuid::Uuid::new_v4().to_string(),
            name: "identity".into(),
            kind: PrincipalKind::Service,
            roles: vec![RoleClaim {
                role: Role::Service,
                region: None,
            }],
            sid: String::new(),
        };
        Ok(self.signing_key(&self.db).await?.sign(&claims))
    }

    /// Makes sure a signing key exists (first start).
    pub async fn ensure_signing_key(&self) -> anyhow::Result<()> {
        if store::keys::current(&self.db, &self.cipher).await?.is_none() {
            let key = SigningKey::generate();
            store::keys::insert(&self.db, &self.cipher, &key).await?;
            tracing::info!(kid = key.kid, "signing key created");
        }
        Ok(())
    }

    async fn rotate_key(&self, actor: &str) -> ServiceResult<String> {
        let key = SigningKey::generate();
        let txn = kit::db::begin(&self.db).await?;
        store::keys::retire_current(&txn).await?;
        store::keys::insert(&txn, &self.cipher, &key).await?;
        self.audit(
            &txn,
            AuditEvent::new(actor, "rotate_signing_key", &key.kid, Outcome::Success),
        )
        .await?;
        txn.commit().await?;
        tracing::info!(kid = key.kid, "signing key rotated");
        Ok(key.kid)
    }
}

#[tonic::async_trait]
impl AuthService for Auth {
    async fn login(&self, request: Request<pb::LoginRequest>) -> Result<Response<pb::LoginResponse>, Status> {
        let source = source_of(&request);
        let tokens = self.identity.login(request.into_inner(), source).await?;
        Ok(Response::new(pb::LoginResponse { tokens: Some(tokens) }))
    }

    async fn refresh_token(
        &self,
        request: Request<pb::RefreshTokenRequest>,
    ) -> Result<Response<pb::RefreshTokenResponse>, Status> {
        let tokens = self.identity.refresh(request.into_inner()).await?;
        Ok(Response::new(pb::RefreshTokenResponse { tokens: Some(tokens) }))
    }

    async fn logout(&self, request: Request<pb::LogoutRequest>) -> Result<Response<pb::LogoutResponse>, Status> {
        self.identity.logout(request.into_inner()).await?;
        Ok(Response::new(pb::LogoutResponse {}))
    }

    async fn change_password(
        &self,
        request: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<pb::ChangePasswordResponse>, Status> {
        let caller = principal(&request)?;
        if caller.kind != PrincipalKind::Person {
            let actor = caller.account_id.clone();
            let denied = Err(ServiceError::PermissionDenied("服务账号不能修改密码".into()));
            return Ok(self
                .identity
                .audit_failure(&actor, "change_password", &actor, denied)
                .await?);
        }
        let account_id = caller.account_id.clone();
        let source = source_of(&request);
        self.identity
            .change_password(&account_id, request.into_inner(), source)
            .await?;
        Ok(Response::new(pb::ChangePasswordResponse {}))
    }

    async fn issue_service_token(
        &self,
        request: Request<pb::IssueServiceTokenRequest>,
    ) -> Result<Response<pb::IssueServiceTokenResponse>, Status> {
        let source = source_of(&request);
        Ok(Response::new(
            self.identity.service_token(request.into_inner(), source).await?,
        ))
    }

    async fn list_revocations(
        &self,
        request: Request<pb::ListRevocationsRequest>,
    ) -> Result<Response<pb::ListRevocationsResponse>, Status> {
        let after = request.into_inner().after_sequence.max(0);
        let revocations = self.identity.revocations(after).await?;
        Ok(Response::new(pb::ListRevocationsResponse { revocations }))
    }

    async fn get_jwks(&self, _request: Request<pb::GetJwksRequest>) -> Result<Response<pb::GetJwksResponse>, Status> {
        let keys = self.identity.jwks().await?.iter().map(|k| k.to_proto()).collect();
        Ok(Response::new(pb::GetJwksResponse { keys }))
    }

    async fn rotate_signing_key(
        &self,
        request: Request<pb::RotateSigningKeyRequest>,
    ) -> Result<Response<pb::RotateSigningKeyResponse>, Status> {
        let caller = principal(&request)?;
        let actor = caller.account_id.clone();
        let allowed = caller.require_any(&[Role::CityAdmin]);
        let kid = match self
            .identity
            .audit_failure(&actor, "rotate_signing_key", "signing_keys", allowed)
            .await
        {
            Ok(()) => self.identity.rotate_key(&actor).await?,
            Err(e) => return Err(e.into()),
        };
        Ok(Response::new(pb::RotateSigningKeyResponse { kid }))
    }

    async fn request_phone_code(
        &self,
        request: Request<pb::RequestPhoneCodeRequest>,
    ) -> Result<Response<pb::RequestPhoneCodeResponse>, Status> {
        // Limited per client address too: the gateway's, as for a login.
        let source = source_of(&request);
        Ok(Response::new(
            self.identity.request_phone_code(request.into_inner(), source).await?,
        ))
    }
}
