//! Webhook endpoints and deliveries: one delivery per (notification,
//! webhook) and one per (notification, e-mail), attempted until delivered or
//! dead. A sender claims a delivery with a lease before it sends, so two
//! replicas never send the same one at once.

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
    /// An organisation's webhook: its region; "" for the owner's own.
    pub region_code: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: String,
    pub notification_id: String,
    /// "webhook" or "email".
    pub channel: String,
    /// The webhook's id ("" for e-mail).
    pub webhook_id: String,
    /// The address of an e-mail delivery ("" for a webhook).
    pub email: String,
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
        region_code: r.try_get("", "region_code")?,
    })
}

fn delivery(r: &QueryResult) -> ServiceResult<Delivery> {
    Ok(Delivery {
        id: r.try_get("", "id")?,
        notification_id: r.try_get("", "notification_id")?,
        channel: r.try_get("", "channel")?,
        webhook_id: r.try_get("", "webhook_id")?,
        email: r.try_get("", "email")?,
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
        .columns(["id", "owner_id", "url", "secret", "region_code", "created_at"])
        .values_panic([
            w.id.clone().into(),
            w.owner_id.clone().into(),
            w.url.clone().into(),
            w.secret.clone().into(),
            w.region_code.clone().into(),
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

/// The webhooks that receive `recipient`'s notifications: a person's own,
/// or an organisation's (recipient `region:<code>`).
pub async fn of_recipient(db: &impl ConnectionTrait, recipient: &str) -> ServiceResult<Vec<Webhook>> {
    let mut select = Query::select().column(Asterisk).from("webhooks").to_owned();
    match crate::domain::templates::organisation_region(recipient) {
        Some(region) => select.and_where(Expr::col("region_code").eq(region)),
        None => select
            .and_where(Expr::col("owner_id").eq(recipient))
            .and_where(Expr::col("region_code").eq("")),
    };
    db.query_all(&select).await?.iter().map(webhook).collect()
}

/// Where one delivery goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Webhook { id: String, owner_id: String },
    Email { address: String, owner_id: String },
}

/// Queues a notification for each target, first attempt at `at` (once per
/// (notification, target), however often this runs).
pub async fn enqueue(
    db: &impl ConnectionTrait,
    notification_id: &str,
    targets: &[Target],
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    for t in targets {
        let (channel, webhook_id, email, owner) = match t {
            Target::Webhook { id, owner_id } => ("webhook", id.as_str(), "", owner_id.as_str()),
            Target::Email { address, owner_id } => ("email", "", address.as_str(), owner_id.as_str()),
        };
        let insert = Query::insert()
            .into_table("deliveries")
            .columns([
                "id",
                "notification_id",
                "channel",
                "webhook_id",
                "email",
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
                channel.into(),
                webhook_id.into(),
                email.into(),
                owner.into(),
                "pending".into(),
                0.into(),
                "".into(),
                at.into(),
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

/// Claims up to `limit` pending deliveries whose time has come, oldest
/// first, for `lease` (a claim that is not released by an attempt's outcome
/// lapses, e.g. when its sender dies). Each is claimed by one sender only.
pub async fn claim_due(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    lease: chrono::Duration,
    limit: u64,
) -> ServiceResult<Vec<Delivery>> {
    let unclaimed = || {
        sea_orm::sea_query::Condition::any()
            .add(Expr::col("lease_until").is_null())
            .add(Expr::col("lease_until").lte(now))
    };
    let select = Query::select()
        .column(Asterisk)
        .from("deliveries")
        .and_where(Expr::col("state").eq("pending"))
        .and_where(Expr::col("next_attempt_at").lte(now))
        .cond_where(unclaimed())
        .order_by("next_attempt_at", Order::Asc)
        .limit(limit)
        .to_owned();
    let candidates: Vec<Delivery> = db
        .query_all(&select)
        .await?
        .iter()
        .map(delivery)
        .collect::<Result<_, _>>()?;
    let mut claimed = Vec::with_capacity(candidates.len());
    for d in candidates {
        // The same condition again, atomically: another sender may have claimed it since.
        let update = Query::update()
            .table("deliveries")
            .value("lease_until", now + lease)
            .and_where(Expr::col("id").eq(d.id.as_str()))
            .and_where(Expr::col("state").eq("pending"))
            .cond_where(unclaimed())
            .to_owned();
        if db.execute(&update).await?.rows_affected() == 1 {
            claimed.push(d);
        }
    }
    Ok(claimed)
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
        .value("lease_until", Option::<DateTime<Utc>>::None)
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
