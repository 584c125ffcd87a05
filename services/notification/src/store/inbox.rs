//! The in-app inbox, and the daily digests' bookkeeping: a low-priority
//! notification for someone who chose the digest waits ("waiting") until
//! their next digest bundles it ("bundled"). A digest is itself a
//! notification, of channel "digest", which the inbox does not list.

use crate::domain::templates::Draft;
use chrono::{DateTime, Utc};
use kit::ServiceResult;
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, OnConflict, Order, Query};
use sea_orm::{ConnectionTrait, QueryResult};

#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub id: String,
    pub recipient_id: String,
    pub category: String,
    pub title: String,
    pub body: String,
    pub channel: String,
    pub source_event_id: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

fn from_row(r: &QueryResult) -> ServiceResult<Notification> {
    Ok(Notification {
        id: r.try_get("", "id")?,
        recipient_id: r.try_get("", "recipient_id")?,
        category: r.try_get("", "category")?,
        title: r.try_get("", "title")?,
        body: r.try_get("", "body")?,
        channel: r.try_get("", "channel")?,
        source_event_id: r.try_get("", "source_event_id")?,
        created_at: r.try_get("", "created_at")?,
        read_at: r.try_get("", "read_at")?,
    })
}

/// Stores the in-app notification of `draft` for event `event_id` unless
/// that recipient has it already; returns its id when it was stored.
pub async fn deliver(
    db: &impl ConnectionTrait,
    event_id: &str,
    draft: &Draft,
    now: DateTime<Utc>,
) -> ServiceResult<Option<String>> {
    store(db, event_id, draft, "in_app", "", now).await
}

/// Stores a notification of `channel` ("in_app" or "digest") with digest
/// state `digest`, once per (source, recipient); returns its id when stored.
pub async fn store(
    db: &impl ConnectionTrait,
    source: &str,
    draft: &Draft,
    channel: &str,
    digest: &str,
    now: DateTime<Utc>,
) -> ServiceResult<Option<String>> {
    let id = uuid::Uuid::now_v7().to_string();
    let insert = Query::insert()
        .into_table("notifications")
        .columns([
            "id",
            "recipient_id",
            "category",
            "title",
            "body",
            "channel",
            "source_event_id",
            "created_at",
            "digest",
        ])
        .values_panic([
            id.clone().into(),
            draft.recipient.clone().into(),
            draft.category.into(),
            draft.title.clone().into(),
            draft.body.clone().into(),
            channel.into(),
            source.into(),
            now.into(),
            digest.into(),
        ])
        .on_conflict(
            OnConflict::columns(["source_event_id", "recipient_id"])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    Ok((db.execute(&insert).await?.rows_affected() == 1).then_some(id))
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> ServiceResult<Option<Notification>> {
    let select = Query::select()
        .column(Asterisk)
        .from("notifications")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    db.query_one(&select).await?.as_ref().map(from_row).transpose()
}

/// The inbox of `recipients` (a person and the organisations they work
/// for), newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    recipients: &[String],
    unread_only: bool,
    offset: u64,
    limit: u64,
) -> ServiceResult<Vec<Notification>> {
    let mut select = Query::select()
        .column(Asterisk)
        .from("notifications")
        .and_where(Expr::col("recipient_id").is_in(recipients.iter().map(String::as_str)))
        .and_where(Expr::col("channel").eq("in_app"))
        .order_by("created_at", Order::Desc)
        .order_by("id", Order::Desc)
        .limit(limit)
        .offset(offset)
        .to_owned();
    if unread_only {
        select.and_where(Expr::col("read_at").is_null());
    }
    db.query_all(&select).await?.iter().map(from_row).collect()
}

pub async fn unread(db: &impl ConnectionTrait, recipients: &[String]) -> ServiceResult<i64> {
    let select = Query::select()
        .expr(Expr::cust("CAST(COUNT(*) AS BIGINT)"))
        .from("notifications")
        .and_where(Expr::col("recipient_id").is_in(recipients.iter().map(String::as_str)))
        .and_where(Expr::col("channel").eq("in_app"))
        .and_where(Expr::col("read_at").is_null())
        .to_owned();
    Ok(match db.query_one(&select).await? {
        Some(r) => r.try_get_by_index(0)?,
        None => 0,
    })
}

/// Marks notifications of `recipients` read (`ids` None: all of them).
pub async fn mark_read(
    db: &impl ConnectionTrait,
    recipients: &[String],
    ids: Option<&[String]>,
    now: DateTime<Utc>,
) -> ServiceResult<u64> {
    let mut update = Query::update()
        .table("notifications")
        .value("read_at", now)
        .and_where(Expr::col("recipient_id").is_in(recipients.iter().map(String::as_str)))
        .and_where(Expr::col("read_at").is_null())
        .to_owned();
    if let Some(ids) = ids {
        update.and_where(Expr::col("id").is_in(ids.iter().map(String::as_str)));
    }
    Ok(db.execute(&update).await?.rows_affected())
}

/// People with notifications waiting for a digest.
pub async fn waiting_recipients(db: &impl ConnectionTrait) -> ServiceResult<Vec<String>> {
    let select = Query::select()
        .distinct()
        .column("recipient_id")
        .from("notifications")
        .and_where(Expr::col("digest").eq("waiting"))
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|r| Ok(r.try_get("", "recipient_id")?))
        .collect()
}

/// A person's notifications waiting for a digest, oldest first.
pub async fn waiting(db: &impl ConnectionTrait, recipient: &str) -> ServiceResult<Vec<Notification>> {
    let select = Query::select()
        .column(Asterisk)
        .from("notifications")
        .and_where(Expr::col("recipient_id").eq(recipient))
        .and_where(Expr::col("digest").eq("waiting"))
        .order_by("created_at", Order::Asc)
        .order_by("id", Order::Asc)
        .to_owned();
    db.query_all(&select).await?.iter().map(from_row).collect()
}

/// Marks waiting notifications bundled into a digest.
pub async fn bundle(db: &impl ConnectionTrait, ids: &[String]) -> ServiceResult<()> {
    for chunk in ids.chunks(500) {
        let update = Query::update()
            .table("notifications")
            .value("digest", "bundled")
            .and_where(Expr::col("id").is_in(chunk.iter().map(String::as_str)))
            .and_where(Expr::col("digest").eq("waiting"))
            .to_owned();
        db.execute(&update).await?;
    }
    Ok(())
}
