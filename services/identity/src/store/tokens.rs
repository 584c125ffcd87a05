//! Refresh tokens and login failures. Failures are kept per lockout bucket
//! (`domain::lockout::AttemptKey::bucket`: account kind, name and source).

use super::entities::{login_failure, refresh_token};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

pub async fn insert_refresh(
    db: &impl ConnectionTrait,
    token_hash: String,
    family_id: String,
    account_id: String,
    expires_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    refresh_token::ActiveModel {
        token_hash: Set(token_hash),
        family_id: Set(family_id),
        account_id: Set(account_id),
        expires_at: Set(expires_at),
        used_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await
    .map(|_| ())
}

pub async fn find_refresh(db: &impl ConnectionTrait, token_hash: &str) -> Result<Option<refresh_token::Model>, DbErr> {
    refresh_token::Entity::find_by_id(token_hash.to_string()).one(db).await
}

/// Spends a live token. False when it was already spent or revoked (by a
/// concurrent request too): the caller treats that as reuse.
pub async fn spend_refresh(db: &impl ConnectionTrait, token_hash: &str) -> Result<bool, DbErr> {
    let result = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(Utc::now()))
        .filter(refresh_token::Column::TokenHash.eq(token_hash))
        .filter(refresh_token::Column::UsedAt.is_null())
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Refuses, in every service within seconds, the access tokens of `key`
/// (`kit::auth::Revocations::key`) issued up to now.
pub async fn revoke_access(db: &impl ConnectionTrait, key: &str) -> Result<(), DbErr> {
    let now = Utc::now();
    let insert = sea_orm::sea_query::Query::insert()
        .into_table("token_revocations")
        .columns(["key_hash", "refused_until", "created_at"])
        .values_panic([key.into(), now.timestamp().into(), now.into()])
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

/// Revocations after `after_seq` (0: those of the last hour), oldest first.
pub async fn revocations(
    db: &impl ConnectionTrait,
    after_seq: i64,
    limit: u64,
) -> Result<Vec<(i64, String, i64)>, DbErr> {
    use sea_orm::sea_query::{ExprTrait, Order, Query};
    let mut select = Query::select()
        .columns(["seq", "key_hash", "refused_until"])
        .from("token_revocations")
        .and_where(Expr::col("seq").gt(after_seq))
        .order_by("seq", Order::Asc)
        .limit(limit)
        .to_owned();
    if after_seq == 0 {
        let horizon = Utc::now() - chrono::Duration::seconds(kit::auth::REVOCATION_HORIZON_SECS);
        select.and_where(Expr::col("created_at").gt(horizon));
    }
    db.query_all(&select)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("", "seq")?,
                r.try_get("", "key_hash")?,
                r.try_get("", "refused_until")?,
            ))
        })
        .collect()
}

/// Ends a sign-in session: its refresh tokens, and its access tokens everywhere.
pub async fn revoke_family(db: &impl ConnectionTrait, family_id: &str) -> Result<u64, DbErr> {
    revoke_access(db, &kit::auth::Revocations::key("sid", family_id)).await?;
    let result = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(refresh_token::Column::FamilyId.eq(family_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Ends every session of an account: refresh tokens, and access tokens everywhere.
pub async fn revoke_account(db: &impl ConnectionTrait, account_id: &str) -> Result<u64, DbErr> {
    revoke_access(db, &kit::auth::Revocations::key("sub", account_id)).await?;
    let result = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(refresh_token::Column::AccountId.eq(account_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Records a failed attempt on `bucket`, and forgets the bucket's failures
/// from before `forget_before` (the lockout window), which count no more.
pub async fn record_failure(
    db: &impl ConnectionTrait,
    bucket: &str,
    forget_before: DateTime<Utc>,
) -> Result<(), DbErr> {
    login_failure::ActiveModel {
        bucket: Set(bucket.into()),
        failed_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    login_failure::Entity::delete_many()
        .filter(login_failure::Column::Bucket.eq(bucket))
        .filter(login_failure::Column::FailedAt.lte(forget_before))
        .exec(db)
        .await
        .map(|_| ())
}

pub async fn failures_since(
    db: &impl ConnectionTrait,
    bucket: &str,
    since: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, DbErr> {
    Ok(login_failure::Entity::find()
        .filter(login_failure::Column::Bucket.eq(bucket))
        .filter(login_failure::Column::FailedAt.gt(since))
        .all(db)
        .await?
        .into_iter()
        .map(|f| f.failed_at)
        .collect())
}

pub async fn clear_failures(db: &impl ConnectionTrait, bucket: &str) -> Result<(), DbErr> {
    login_failure::Entity::delete_many()
        .filter(login_failure::Column::Bucket.eq(bucket))
        .exec(db)
        .await
        .map(|_| ())
}
