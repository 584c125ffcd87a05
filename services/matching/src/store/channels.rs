//! Channel keys: a key is stored only as its SHA-256.

use chrono::{DateTime, Utc};
use kit::ServiceResult;
use sea_orm::sea_query::{Asterisk, Condition, Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, QueryResult};

#[derive(Debug, Clone, PartialEq)]
pub struct ChannelKey {
    pub id: String,
    pub name: String,
    pub region_code: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

fn from_row(r: &QueryResult) -> ServiceResult<ChannelKey> {
    Ok(ChannelKey {
        id: r.try_get("", "id")?,
        name: r.try_get("", "name")?,
        region_code: r.try_get("", "region_code")?,
        created_by: r.try_get("", "created_by")?,
        created_at: r.try_get("", "created_at")?,
        revoked_at: r.try_get("", "revoked_at")?,
    })
}

pub async fn insert(db: &impl ConnectionTrait, k: &ChannelKey, key_hash: &str) -> ServiceResult<()> {
    let insert = Query::insert()
        .into_table("channel_keys")
        .columns(["id", "name", "region_code", "key_hash", "created_by", "created_at"])
        .values_panic([
            k.id.clone().into(),
            k.name.clone().into(),
            k.region_code.clone().into(),
            key_hash.into(),
            k.created_by.clone().into(),
            k.created_at.into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

/// The live (not revoked) key with this hash.
pub async fn by_hash(db: &impl ConnectionTrait, key_hash: &str) -> ServiceResult<Option<ChannelKey>> {
    let select = Query::select()
        .column(Asterisk)
        .from("channel_keys")
        .and_where(Expr::col("key_hash").eq(key_hash))
        .and_where(Expr::col("revoked_at").is_null())
        .to_owned();
    db.query_one(&select).await?.as_ref().map(from_row).transpose()
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> ServiceResult<Option<ChannelKey>> {
    let select = Query::select()
        .column(Asterisk)
        .from("channel_keys")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    db.query_one(&select).await?.as_ref().map(from_row).transpose()
}

/// Keys of the regions under `prefixes`, newest first.
pub async fn list(db: &impl ConnectionTrait, prefixes: &[String]) -> ServiceResult<Vec<ChannelKey>> {
    let mut scope = Condition::any();
    for p in prefixes {
        scope = scope.add(kit::db::code_prefix("region_code", p));
    }
    let select = Query::select()
        .column(Asterisk)
        .from("channel_keys")
        .cond_where(scope)
        .order_by("created_at", Order::Desc)
        .to_owned();
    db.query_all(&select).await?.iter().map(from_row).collect()
}

pub async fn revoke(db: &impl ConnectionTrait, id: &str, now: DateTime<Utc>) -> ServiceResult<()> {
    let update = Query::update()
        .table("channel_keys")
        .value("revoked_at", now)
        .and_where(Expr::col("id").eq(id))
        .and_where(Expr::col("revoked_at").is_null())
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}
