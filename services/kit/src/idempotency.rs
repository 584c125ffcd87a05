//! Idempotency keys: a write that carries a client-chosen key (`request_id`)
//! stores its response under that key in the same transaction as the write,
//! so a retry returns the first response instead of applying twice.

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ConnectionTrait, DbErr};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

const TABLE: &str = "idempotency_keys";

/// The stored response of an earlier request with the same scope and key.
pub async fn lookup(db: &impl ConnectionTrait, scope: &str, key: &str) -> Result<Option<Vec<u8>>, DbErr> {
    let select = Query::select()
        .column("response")
        .from(TABLE)
        .and_where(Expr::col("scope").eq(scope))
        .and_where(Expr::col("key").eq(key))
        .to_owned();
    let row = db.query_one(&select).await?;
    row.map(|r| r.try_get::<Vec<u8>>("", "response")).transpose()
}

/// Records the response of a request; call inside the write's transaction.
pub async fn remember(db: &impl ConnectionTrait, scope: &str, key: &str, response: &[u8]) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table(TABLE)
        .columns(["scope", "key", "response", "created_at"])
        .values_panic([
            scope.into(),
            key.into(),
            response.to_vec().into(),
            chrono::Utc::now().into(),
        ])
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

/// Validates a client's idempotency key: empty (no idempotency) or 1–128 printable ASCII characters.
pub fn validate_key(key: &str) -> Result<(), &'static str> {
    if key.len() > 128 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        Err("request_id 应为不超过 128 个可见 ASCII 字符")
    } else {
        Ok(())
    }
}

/// Runs a write once per `request_id` (empty: no idempotency): a retry gets
/// the first response, decoded from where the write stored it. `write`
/// returns its response and the open transaction it wrote in; the response is
/// remembered in that transaction, which is then committed.
pub async fn once<M, F, Fut>(
    db: &sea_orm::DatabaseConnection,
    scope: String,
    request_id: &str,
    write: F,
) -> crate::ServiceResult<M>
where
    M: prost::Message + Default,
    F: FnOnce() -> Fut,
    Fut: Future<Output = crate::ServiceResult<(M, sea_orm::DatabaseTransaction)>>,
{
    use crate::ServiceError;
    validate_key(request_id).map_err(|e| ServiceError::invalid("request_id", e))?;
    if !request_id.is_empty()
        && let Some(stored) = lookup(db, &scope, request_id).await?
    {
        return M::decode(stored.as_slice()).map_err(ServiceError::internal);
    }
    let (response, txn) = write().await?;
    if !request_id.is_empty() {
        remember(&txn, &scope, request_id, &response.encode_to_vec()).await?;
    }
    txn.commit().await?;
    Ok(response)
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
