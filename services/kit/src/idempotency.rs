//! Idempotency keys: a write that carries a client-chosen key (`request_id`)
//! stores its response under that key in the same transaction as the write,
//! so a retry returns the first response instead of applying twice.
//!
//! Responses often hold personal data (an application's ID number and
//! phone, a resident's words), so they are stored sealed with the service's
//! PII key, and forgotten after a retention period (default 7 days,
//! `database.idempotency_ttl_secs`): a lookup ignores older ones and a sweep
//! deletes them.

use crate::pii::PiiCipher;
use crate::{ServiceError, ServiceResult};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DbErr};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use std::time::Duration;

const TABLE: &str = "idempotency_keys";

/// How long a remembered response answers retries, unless configured.
pub const DEFAULT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

const SWEEP_INTERVAL: Duration = Duration::from_secs(3600);

/// A service's remembered responses: sealed at rest, expiring after `ttl`.
#[derive(Clone, Debug)]
pub struct Idempotency {
    cipher: PiiCipher,
    ttl: chrono::Duration,
}

impl Idempotency {
    pub fn new(cipher: PiiCipher, ttl: Duration) -> Self {
        Self {
            cipher,
            ttl: chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX),
        }
    }

    fn cutoff(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
            .checked_sub_signed(self.ttl)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
    }

    /// The response of an earlier request with the same scope and key, if it
    /// is still remembered.
    pub async fn lookup(&self, db: &impl ConnectionTrait, scope: &str, key: &str) -> ServiceResult<Option<Vec<u8>>> {
        let select = Query::select()
            .column("response")
            .from(TABLE)
            .and_where(Expr::col("scope").eq(scope))
            .and_where(Expr::col("key").eq(key))
            .and_where(Expr::col("created_at").gte(self.cutoff()))
            .to_owned();
        let Some(row) = db.query_one(&select).await? else {
            return Ok(None);
        };
        let sealed: Vec<u8> = row.try_get("", "response")?;
        self.cipher.open(&sealed).map(Some).map_err(ServiceError::internal)
    }

    /// Records the response of a request, sealed; call inside the write's
    /// transaction. An expired entry under the same key makes way.
    pub async fn remember(
        &self,
        db: &impl ConnectionTrait,
        scope: &str,
        key: &str,
        response: &[u8],
    ) -> ServiceResult<()> {
        let expired = Query::delete()
            .from_table(TABLE)
            .and_where(Expr::col("scope").eq(scope))
            .and_where(Expr::col("key").eq(key))
            .and_where(Expr::col("created_at").lt(self.cutoff()))
            .to_owned();
        db.execute(&expired).await?;
        let insert = Query::insert()
            .into_table(TABLE)
            .columns(["scope", "key", "response", "created_at"])
            .values_panic([
                scope.into(),
                key.into(),
                self.cipher.seal(response).into(),
                chrono::Utc::now().into(),
            ])
            .to_owned();
        db.execute(&insert).await?;
        Ok(())
    }

    /// Deletes expired responses; returns how many.
    pub async fn sweep(&self, db: &impl ConnectionTrait) -> Result<u64, DbErr> {
        let expired = Query::delete()
            .from_table(TABLE)
            .and_where(Expr::col("created_at").lt(self.cutoff()))
            .to_owned();
        Ok(db.execute(&expired).await?.rows_affected())
    }

    /// Sweeps hourly until the service's event log closes (at shutdown).
    pub fn spawn_sweeper(&self, db: sea_orm::DatabaseConnection, events: std::sync::Arc<crate::events::EventLog>) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
            loop {
                ticks.tick().await;
                if events.is_closed() {
                    return;
                }
                match this.sweep(&db).await {
                    Ok(0) => {}
                    Ok(deleted) => tracing::info!(deleted, "expired idempotency keys swept"),
                    Err(error) => tracing::warn!(error = %error, "idempotency sweep failed"),
                }
            }
        });
    }

    /// Runs a write once per `request_id` (empty: no idempotency): a retry
    /// gets the first response. `write` returns its response and the open
    /// transaction it wrote in; the response is remembered in that
    /// transaction, which is then committed.
    pub async fn once<M, F, Fut>(
        &self,
        db: &sea_orm::DatabaseConnection,
        scope: String,
        request_id: &str,
        write: F,
    ) -> ServiceResult<M>
    where
        M: prost::Message + Default,
        F: FnOnce() -> Fut,
        Fut: Future<Output = ServiceResult<(M, sea_orm::DatabaseTransaction)>>,
    {
        validate_key(request_id).map_err(|e| ServiceError::invalid("request_id", e))?;
        if !request_id.is_empty()
            && let Some(stored) = self.lookup(db, &scope, request_id).await?
        {
            return M::decode(stored.as_slice()).map_err(ServiceError::internal);
        }
        let (response, txn) = write().await?;
        if !request_id.is_empty() {
            self.remember(&txn, &scope, request_id, &response.encode_to_vec())
                .await?;
        }
        txn.commit().await?;
        Ok(response)
    }
}

/// Validates a client's idempotency key: empty (no idempotency) or 1–128 printable ASCII characters.
pub fn validate_key(key: &str) -> Result<(), &'static str> {
    if key.len() > 128 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        Err("request_id 应为不超过 128 个可见 ASCII 字符")
    } else {
        Ok(())
    }
}

pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(m20261122_000001_kit_idempotency::Migration)]
}

mod m20261122_000001_kit_idempotency {
    use super::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261122_000001_kit_idempotency"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.create_table(
                Table::create()
                    .table(TABLE)
                    .col(string_len("scope", 128))
                    .col(string_len("key", 128))
                    .col(blob("response"))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("scope").col("key"))
                    .to_owned(),
            )
            .await
        }
    }
}
