//! Webhook endpoints and deliveries: one delivery per (notification,
//! webhook), attempted until delivered or dead.

use chrono::{DateTime, Utc};
use kit::ServiceResult;
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, OnConflict, Order, Query};
use sea_orm::{ConnectionTrait, QueryResult};

#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub id: String,
    pub owner_id: String,
    pub url: String,
    pub secret: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: String,
    pub notification_id: String,
    pub webhook_id: String,
    pub owner_id: String,
    /// "pending", "delivered" or "dead".
    pub state: String,
    pub attempts: i32,
    pub last_error: String,
    pub next_attempt_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn webhook(r: &QueryResult) -> ServiceResult<Webhook> {
    Ok(Webhook {
        id: r.try_get("", "id")?,
        owner_id: r.try_get("", "owner_id")?,
        url: r.try_get("", "url")?,
        secret: r.try_get("", "secret")?,
    })
}

fn delivery(r: &QueryResult) -> ServiceResult<Delivery> {
    Ok(Delivery {
        id: r.try_get("", "id")?,
        notification_id: r.try_get("", "notification_id")?,
        webhook_id: r.try_get("", "webhook_id")?,
        owner_id: r.try_get("", "owner_id")?,
        state: r.try_get("", "state")?,
        attempts: r.try_get("", "attempts")?,
        last_error: r.try_get("", "last_error")?,
        next_attempt_at: r.try_get("", "next_attempt_at")?,
        updated_at: r.try_get("", "updated_at")?,
    })
}

pub async fn add(db: &impl ConnectionTrait, w: &Webhook, now: DateTime<Utc>) -> ServiceResult<()> {
    let insert = Query::insert()
        .into_table("webhooks")
        .columns(["id", "owner_id", "url", "secret", "created_at"])
        .values_panic([
            w.id.clone().into(),
            w.owner_id.clone().into(),
            w.url.clone().into(),
            w.secret.clone().into(),
            now.into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> ServiceResult<Option<Webhook>> {
    let select = Query::select()
        .column(Asterisk)
        .from("webhooks")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    db.query_one(&select).await?.as_ref().map(webhook).transpose()
}

pub async fn of_owner(db: &impl ConnectionTrait, owner: &str) -> ServiceResult<Vec<Webhook>> {
    let select = Query::select()
        .column(Asterisk)
        .from("webhooks")
        .and_where(Expr::col("owner_id").eq(owner))
        .to_owned();
    db.query_all(&select).await?.iter().map(webhook).collect()
}

/// Queues a notification for each of its recipient's webhooks.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    notification_id: &str,
    hooks: &[Webhook],
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    for w in hooks {
        let insert = Query::insert()
            .into_table("deliveries")
            .columns([
                "id",
                "notification_id",
                "webhook_id",
                "owner_id",
                "state",
                "attempts",
                "last_error",
                "next_attempt_at",
                "updated_at",
            ])
            .values_panic([
                uuid::Uuid::now_v7().to_string().into(),
                notification_id.into(),
                w.id.clone().into(),
                w.owner_id.clone().into(),
                "pending".into(),
                0.into(),
                "".into(),
                now.into(),
                now.into(),
            ])
            .on_conflict(
                OnConflict::columns(["notification_id", "webhook_id"])
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        db.execute(&insert).await?;
    }
    Ok(())
}

/// Pending deliveries whose time has come, oldest first.
pub async fn due(db: &impl ConnectionTrait, now: DateTime<Utc>, limit: u64) -> ServiceResult<Vec<Delivery>> {
    let select = Query::select()
        .column(Asterisk)
        .from("deliveries")
        .and_where(Expr::col("state").eq("pending"))
        .and_where(Expr::col("next_attempt_at").lte(now))
        .order_by("next_attempt_at", Order::Asc)
        .limit(limit)
        .to_owned();
    db.query_all(&select).await?.iter().map(delivery).collect()
}

pub async fn find_delivery(db: &impl ConnectionTrait, id: &str) -> ServiceResult<Option<Delivery>> {
    let select = Query::select()
        .column(Asterisk)
        .from("deliveries")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    db.query_one(&select).await?.as_ref().map(delivery).transpose()
}

/// Records an attempt's outcome: `state`, attempts so far, the error (if
/// any) and when to try next.
pub async fn record_attempt(
    db: &impl ConnectionTrait,
    id: &str,
    state: &str,
    attempts: i32,
    error: &str,
    next: DateTime<Utc>,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    let update = Query::update()
        .table("deliveries")
        .value("state", state)
        .value("attempts", attempts)
        .value("last_error", error)
        .value("next_attempt_at", next)
        .value("updated_at", now)
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

/// Deliveries of one owner (None: all), newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    owner: Option<&str>,
    state: Option<&str>,
    offset: u64,
    limit: u64,
) -> ServiceResult<Vec<Delivery>> {
    let mut select = Query::select()
        .column(Asterisk)
        .from("deliveries")
        .order_by("updated_at", Order::Desc)
        .order_by("id", Order::Desc)
        .limit(limit)
        .offset(offset)
        .to_owned();
    if let Some(owner) = owner {
        select.and_where(Expr::col("owner_id").eq(owner));
    }
    if let Some(state) = state {
        select.and_where(Expr::col("state").eq(state));
    }
    db.query_all(&select).await?.iter().map(delivery).collect()
}
