//! The append-only audit log. Appends are serialised (an advisory lock on
//! PostgreSQL, the single writer on SQLite) so that each entry chains onto
//! the one before it.

use super::entities::audit_entry;
use crate::domain::audit::{AuditEvent, ChainedEntry, Head, Outcome, chain};
use kit::db::{DbKind, kind};
use sea_orm::ColumnTrait;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

/// An arbitrary constant naming the audit chain's advisory lock.
const AUDIT_LOCK_KEY: i64 = 0x5341_4e53_4849_0001;

/// Appends inside the caller's transaction (the lock lasts until it ends).
pub async fn append(db: &impl ConnectionTrait, key: &[u8], event: AuditEvent) -> Result<ChainedEntry, DbErr> {
    if kind(db) == DbKind::Postgres {
        kit::db::execute(db, &format!("SELECT pg_advisory_xact_lock({AUDIT_LOCK_KEY})")).await?;
    }
    let head = head(db).await?;
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let entry = chain(key, head.as_ref().map(|h| (&h.seq, h.hash.as_str())), at, event);
    audit_entry::ActiveModel {
        seq: Set(entry.seq),
        at: Set(entry.at.clone()),
        actor: Set(entry.event.actor.clone()),
        action: Set(entry.event.action.clone()),
        target: Set(entry.event.target.clone()),
        outcome: Set(entry.event.outcome.as_str().into()),
        detail: Set(entry.event.detail.clone()),
        prev_hash: Set(entry.prev_hash.clone()),
        hash: Set(entry.hash.clone()),
    }
    .insert(db)
    .await?;
    let anchored = Head::of(key, entry.seq, &entry.hash);
    let upsert = Query::insert()
        .into_table("audit_head")
        .columns(["id", "seq", "hash", "mac"])
        .values_panic([
            1.into(),
            entry.seq.into(),
            entry.hash.clone().into(),
            anchored.mac.into(),
        ])
        .on_conflict(
            OnConflict::column("id")
                .update_columns(["seq", "hash", "mac"])
                .to_owned(),
        )
        .to_owned();
    db.execute(&upsert).await?;
    Ok(entry)
}

pub async fn head(db: &impl ConnectionTrait) -> Result<Option<Head>, DbErr> {
    let select = Query::select()
        .columns(["seq", "hash", "mac"])
        .from("audit_head")
        .and_where(Expr::col("id").eq(1))
        .to_owned();
    match db.query_one(&select).await? {
        Some(row) => Ok(Some(Head {
            seq: row.try_get("", "seq")?,
            hash: row.try_get("", "hash")?,
            mac: row.try_get("", "mac")?,
        })),
        None => Ok(None),
    }
}

/// Entries after `after_seq`, oldest first.
pub async fn page(db: &impl ConnectionTrait, after_seq: i64, limit: u64) -> Result<Vec<ChainedEntry>, DbErr> {
    let rows = audit_entry::Entity::find()
        .filter(audit_entry::Column::Seq.gt(after_seq))
        .order_by_asc(audit_entry::Column::Seq)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(to_entry).collect())
}

/// Entries before `before_seq` (all when `None`), newest first.
pub async fn page_desc(
    db: &impl ConnectionTrait,
    before_seq: Option<i64>,
    limit: u64,
) -> Result<Vec<ChainedEntry>, DbErr> {
    let mut query = audit_entry::Entity::find();
    if let Some(before) = before_seq {
        query = query.filter(audit_entry::Column::Seq.lt(before));
    }
    let rows = query
        .order_by_desc(audit_entry::Column::Seq)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(to_entry).collect())
}

fn to_entry(row: audit_entry::Model) -> ChainedEntry {
    // Only tampering can store an unknown outcome; poison the hash so that
    // verification reports the row instead of reading it as another outcome.
    let hash = match Outcome::parse(&row.outcome) {
        Some(_) => row.hash,
        None => format!("unknown outcome {:?}", row.outcome),
    };
    ChainedEntry {
        seq: row.seq,
        at: row.at,
        event: AuditEvent {
            actor: row.actor,
            action: row.action,
            target: row.target,
            outcome: Outcome::parse(&row.outcome).unwrap_or(Outcome::Failure),
            detail: row.detail,
        },
        prev_hash: row.prev_hash,
        hash,
    }
}
