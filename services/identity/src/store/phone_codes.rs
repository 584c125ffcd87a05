//! One-time phone codes and the sends the limits count. Rows hold keyed
//! hashes only (`domain::phone_code`): never a number, an address or a code.

use super::entities::{phone_code, phone_code_request};
use crate::domain::phone_code::{Purpose, StoredCode};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

/// When codes were sent for `bucket` after `since`.
pub async fn requests_since(
    db: &impl ConnectionTrait,
    bucket: &str,
    since: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, DbErr> {
    Ok(phone_code_request::Entity::find()
        .filter(phone_code_request::Column::Bucket.eq(bucket))
        .filter(phone_code_request::Column::RequestedAt.gt(since))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.requested_at)
        .collect())
}

/// Counts a send against each of `buckets` at `now`.
pub async fn record_request(db: &impl ConnectionTrait, buckets: &[String], now: DateTime<Utc>) -> Result<(), DbErr> {
    for bucket in buckets {
        phone_code_request::ActiveModel {
            bucket: Set(bucket.clone()),
            requested_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// Forgets sends from before `requests_before` (no limit counts them any
/// more) and codes that expired before `codes_before`.
pub async fn forget(
    db: &impl ConnectionTrait,
    requests_before: DateTime<Utc>,
    codes_before: DateTime<Utc>,
) -> Result<(), DbErr> {
    phone_code_request::Entity::delete_many()
        .filter(phone_code_request::Column::RequestedAt.lte(requests_before))
        .exec(db)
        .await?;
    phone_code::Entity::delete_many()
        .filter(phone_code::Column::ExpiresAt.lte(codes_before))
        .exec(db)
        .await
        .map(|_| ())
}

/// Makes `code_mac` the number's live code for `purpose`, replacing any
/// earlier one (which no longer proves anything).
pub async fn replace(
    db: &impl ConnectionTrait,
    phone_hash: &str,
    purpose: Purpose,
    code_mac: String,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    phone_code::Entity::delete_many()
        .filter(phone_code::Column::PhoneHash.eq(phone_hash))
        .filter(phone_code::Column::Purpose.eq(purpose.as_str()))
        .exec(db)
        .await?;
    phone_code::ActiveModel {
        phone_hash: Set(phone_hash.to_string()),
        purpose: Set(purpose.as_str().to_string()),
        code_mac: Set(code_mac),
        attempts: Set(0),
        expires_at: Set(expires_at),
        created_at: Set(now),
    }
    .insert(db)
    .await
    .map(|_| ())
}

/// The number's live code for `purpose`.
pub async fn find(db: &impl ConnectionTrait, phone_hash: &str, purpose: Purpose) -> Result<Option<StoredCode>, DbErr> {
    Ok(
        phone_code::Entity::find_by_id((phone_hash.to_string(), purpose.as_str().to_string()))
            .one(db)
            .await?
            .map(|row| StoredCode {
                mac: row.code_mac,
                expires_at: row.expires_at,
                attempts: row.attempts,
            }),
    )
}

/// Counts a wrong guess against the code stored as `code_mac` (not against
/// a newer code that replaced it meanwhile).
pub async fn count_wrong(
    db: &impl ConnectionTrait,
    phone_hash: &str,
    purpose: Purpose,
    code_mac: &str,
) -> Result<(), DbErr> {
    phone_code::Entity::update_many()
        .col_expr(
            phone_code::Column::Attempts,
            Expr::col(phone_code::Column::Attempts).add(1),
        )
        .filter(phone_code::Column::PhoneHash.eq(phone_hash))
        .filter(phone_code::Column::Purpose.eq(purpose.as_str()))
        .filter(phone_code::Column::CodeMac.eq(code_mac))
        .exec(db)
        .await
        .map(|_| ())
}

/// Spends the code stored as `code_mac` if it is still live at `now` with
/// fewer than `max_attempts` wrong guesses. False when it is not (spent by a
/// concurrent use, replaced, expired or voided meanwhile).
pub async fn spend(
    db: &impl ConnectionTrait,
    phone_hash: &str,
    purpose: Purpose,
    code_mac: &str,
    max_attempts: i32,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = phone_code::Entity::delete_many()
        .filter(phone_code::Column::PhoneHash.eq(phone_hash))
        .filter(phone_code::Column::Purpose.eq(purpose.as_str()))
        .filter(phone_code::Column::CodeMac.eq(code_mac))
        .filter(phone_code::Column::Attempts.lt(max_attempts))
        .filter(phone_code::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}
