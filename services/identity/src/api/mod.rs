//! gRPC mapping: each service's handlers validate requests, check
//! permissions with `domain`, run `store` queries in a transaction, audit,
//! and map results to protobuf.

pub mod accounts;
pub mod attempts;
pub mod audit;
pub mod auth;
pub mod phone_codes;
pub mod regions;

use crate::domain::audit::{AuditEvent, Outcome};
use crate::domain::lockout::LockoutPolicy;
use crate::store;
use crate::store::accounts::AccountRecord;
use kit::pii::{PhoneNumber, PiiCipher};
use kit::{ServiceError, ServiceResult};
use sanshi_proto::identity::v1 as pb;
use sea_orm::DatabaseConnection;

/// Token lifetimes and names, from config.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: chrono::Duration,
    pub refresh_ttl: chrono::Duration,
    pub service_ttl: chrono::Duration,
}

/// What every handler shares.
pub struct Identity {
    pub db: DatabaseConnection,
    pub cipher: PiiCipher,
    pub idempotency: kit::idempotency::Idempotency,
    pub tokens: TokenSettings,
    pub lockout: LockoutPolicy,
    /// Serialises credential checks per lockout bucket.
    pub attempts: attempts::AttemptGates,
    /// Keys the audit chain's HMAC (derived from `pii.hash_key`).
    pub audit_key: [u8; 32],
    /// The last audit head verified intact (seq, hash): kept outside the
    /// database, so that a head replayed from an older copy is found.
    pub audit_checkpoint: std::sync::Mutex<Option<(i64, String)>>,
    /// The region tree, loaded once migrations have run.
    pub regions: std::sync::Arc<std::sync::OnceLock<crate::domain::region::RegionTree>>,
    /// The outbox's sequencer; told after each commit that published.
    pub events: std::sync::Arc<kit::events::EventLog>,
    /// One-time codes proving a phone number (registration).
    pub phone_codes: phone_codes::PhoneCodes,
}

impl Identity {
    /// Appends to the audit chain inside `txn`.
    pub async fn audit(&self, txn: &impl sea_orm::ConnectionTrait, event: AuditEvent) -> Result<(), sea_orm::DbErr> {
        store::audit::append(txn, &self.audit_key, event).await.map(|_| ())
    }

    /// Records an event in its own transaction: for failures and denials,
    /// whose own transaction (if any) was rolled back. Successful changes
    /// append inside their transaction instead.
    pub async fn audit_standalone(&self, event: AuditEvent) {
        // A transaction of its own: the chain's lock is held until commit.
        let result = async {
            let txn = kit::db::begin(&self.db).await?;
            self.audit(&txn, event.clone()).await?;
            txn.commit().await
        }
        .await;
        if let Err(error) = result {
            tracing::error!(error = %error, action = event.action, "audit append failed");
        }
    }

    /// Audits a failed or denied RPC outcome, then hands the result back.
    pub async fn audit_failure<T>(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        result: ServiceResult<T>,
    ) -> ServiceResult<T> {
        if let Err(error) = &result {
            let outcome = match error {
                ServiceError::PermissionDenied(_) => Some(Outcome::Denied),
                ServiceError::InvalidArgument(_) | ServiceError::NotFound { .. } | ServiceError::Unauthenticated(_) => {
                    None
                }
                _ => Some(Outcome::Failure),
            };
            if let Some(outcome) = outcome {
                if outcome == Outcome::Denied {
                    tracing::warn!(actor, action, target, "permission denied");
                }
                self.audit_standalone(AuditEvent::new(actor, action, target, outcome).with_detail(error.to_string()))
                    .await;
            }
        }
        result
    }

    /// The account as the caller may see it: phone in full only for its holder.
    pub fn account_to_proto(&self, record: &AccountRecord, caller_id: &str) -> pb::Account {
        let a = &record.account;
        let phone = a
            .phone_sealed
            .as_ref()
            .and_then(|sealed| self.cipher.open_string(sealed).ok())
            .map(|plain| match PhoneNumber::parse(&plain) {
                Ok(phone) if caller_id == a.id => phone.as_str().to_string(),
                Ok(phone) => phone.masked(),
                Err(_) => String::new(),
            })
            .unwrap_or_default();
        pb::Account {
            id: a.id.clone(),
            username: a.username.clone(),
            display_name: a.display_name.clone(),
            phone,
            status: match a.status.as_str() {
                "active" => pb::AccountStatus::Active,
                _ => pb::AccountStatus::Disabled,
            } as i32,
            region_code: a.region_code.clone(),
            roles: grants_to_proto(&record.roles),
            create_time: Some(timestamp(a.created_at)),
            update_time: Some(timestamp(a.updated_at)),
        }
    }
}

pub fn grants_to_proto(roles: &[(kit::auth::Role, String)]) -> Vec<pb::RoleGrant> {
    roles
        .iter()
        .map(|(role, region)| pb::RoleGrant {
            role: role.to_proto(),
            region_code: region.clone(),
        })
        .collect()
}

/// The payload of an `AccountCreated` event.
pub fn account_created(record: &AccountRecord) -> pb::AccountCreated {
    pb::AccountCreated {
        account_id: record.account.id.clone(),
        username: record.account.username.clone(),
        display_name: record.account.display_name.clone(),
        region_code: record.account.region_code.clone(),
        roles: grants_to_proto(&record.roles),
    }
}

pub use kit::grpc::timestamp;

/// Page size within `1..=max`, `default` when unset; negative is invalid.
pub fn page_size(requested: i32, default: u64, max: u64) -> ServiceResult<u64> {
    match requested {
        n if n < 0 => Err(ServiceError::invalid("page_size", "page_size 不能为负数")),
        0 => Ok(default),
        n => Ok((n as u64).min(max)),
    }
}

/// Page tokens are opaque to clients: a keyset token of the last key returned.
pub fn encode_page_token(last_key: &str) -> String {
    kit::page::keyset_token(last_key)
}

/// The key a page token resumes after; only keys of the listed kind
/// (`valid`) are taken.
pub fn decode_page_token(token: &str, valid: impl Fn(&str) -> bool) -> ServiceResult<Option<String>> {
    kit::page::keyset_after(token, valid)
}
