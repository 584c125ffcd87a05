//! Service records, their history and their ratings.

use super::{from_json, prefix, to_json};
use crate::domain::record::Content;
use crate::domain::workflow::State;
use chrono::{DateTime, Utc};
use kit::{ServiceError, ServiceResult};
use sea_orm::sea_query::{Asterisk, Condition, Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};

#[derive(Debug, Clone)]
pub struct Record {
    pub id: String,
    pub match_id: String,
    pub professional_id: String,
    pub community_code: String,
    pub state: State,
    pub version: i32,
    pub content: Content,
    pub far_check_in: bool,
    pub check_in_distance_km: f64,
    pub distance_km: f64,
    pub distance_method: String,
    pub dispute_reason: String,
    pub pending_amendment: Option<Content>,
    pub amendment_reason: String,
    pub community_rating: i32,
    pub community_comment: String,
    pub submitted_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub rating_closes_at: Option<DateTime<Utc>>,
    pub scored_at: Option<DateTime<Utc>>,
    pub request_id: String,
    pub request_hash: String,
}

fn from_row(row: &QueryResult) -> ServiceResult<Record> {
    let state: String = row.try_get("", "state")?;
    let pending: Option<String> = row.try_get("", "pending_amendment")?;
    Ok(Record {
        id: row.try_get("", "id")?,
        match_id: row.try_get("", "match_id")?,
        professional_id: row.try_get("", "professional_id")?,
        community_code: row.try_get("", "community_code")?,
        state: State::parse(&state).ok_or_else(|| ServiceError::internal(anyhow::anyhow!("unknown state {state}")))?,
        version: row.try_get("", "version")?,
        content: from_json(&row.try_get::<String>("", "content")?)?,
        far_check_in: row.try_get("", "far_check_in")?,
        check_in_distance_km: row.try_get("", "check_in_distance_km")?,
        distance_km: row.try_get("", "distance_km")?,
        distance_method: row.try_get("", "distance_method")?,
        dispute_reason: row.try_get("", "dispute_reason")?,
        pending_amendment: pending.map(|p| from_json(&p)).transpose()?,
        amendment_reason: row.try_get("", "amendment_reason")?,
        community_rating: row.try_get("", "community_rating")?,
        community_comment: row.try_get("", "community_comment")?,
        submitted_at: row.try_get("", "submitted_at")?,
        confirmed_at: row.try_get("", "confirmed_at")?,
        rating_closes_at: row.try_get("", "rating_closes_at")?,
        scored_at: row.try_get("", "scored_at")?,
        request_id: row.try_get("", "request_id")?,
        request_hash: row.try_get("", "request_hash")?,
    })
}

pub async fn insert(db: &impl ConnectionTrait, r: &Record) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table("records")
        .columns([
            "id",
            "match_id",
            "professional_id",
            "community_code",
            "state",
            "version",
            "content",
            "start_at",
            "end_at",
            "far_check_in",
            "check_in_distance_km",
            "distance_km",
            "distance_method",
            "dispute_reason",
            "amendment_reason",
            "community_comment",
            "submitted_at",
            "updated_at",
            "request_id",
            "request_hash",
        ])
        .values_panic([
            r.id.clone().into(),
            r.match_id.clone().into(),
            r.professional_id.clone().into(),
            r.community_code.clone().into(),
            r.state.as_str().into(),
            r.version.into(),
            to_json(&r.content)?.into(),
            r.content.start.into(),
            r.content.end.into(),
            r.far_check_in.into(),
            r.check_in_distance_km.into(),
            r.distance_km.into(),
            r.distance_method.clone().into(),
            r.dispute_reason.clone().into(),
            r.amendment_reason.clone().into(),
            r.community_comment.clone().into(),
            r.submitted_at.into(),
            r.submitted_at.into(),
            r.request_id.clone().into(),
            r.request_hash.clone().into(),
        ])
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

/// Inserts records as they stand now (confirmed, rated, scored …), many
/// rows per statement (bulk loads; [`insert`] and [`update`] are the way one
/// record goes through its workflow).
pub async fn insert_many(db: &impl ConnectionTrait, records: &[Record]) -> Result<(), DbErr> {
    let size = |r: &Record| {
        512 + r.content.summary.len()
            + r.distance_method.len()
            + r.community_comment.len()
            + r.request_id.len()
            + 64 * (r.content.participants.len() + r.content.need_ids.len() + r.content.attachment_ids.len())
    };
    for chunk in kit::db::chunks_by_width(records, 25, size) {
        let mut insert = Query::insert();
        insert.into_table("records").columns([
            "id",
            "match_id",
            "professional_id",
            "community_code",
            "state",
            "version",
            "content",
            "start_at",
            "end_at",
            "far_check_in",
            "check_in_distance_km",
            "distance_km",
            "distance_method",
            "dispute_reason",
            "pending_amendment",
            "amendment_reason",
            "community_rating",
            "community_comment",
            "submitted_at",
            "confirmed_at",
            "rating_closes_at",
            "scored_at",
            "updated_at",
            "request_id",
            "request_hash",
        ]);
        for r in chunk {
            let pending = r.pending_amendment.as_ref().map(to_json).transpose()?;
            let updated_at = r.scored_at.or(r.confirmed_at).unwrap_or(r.submitted_at);
            insert.values_panic([
                r.id.clone().into(),
                r.match_id.clone().into(),
                r.professional_id.clone().into(),
                r.community_code.clone().into(),
                r.state.as_str().into(),
                r.version.into(),
                to_json(&r.content)?.into(),
                r.content.start.into(),
                r.content.end.into(),
                r.far_check_in.into(),
                r.check_in_distance_km.into(),
                r.distance_km.into(),
                r.distance_method.clone().into(),
                r.dispute_reason.clone().into(),
                pending.into(),
                r.amendment_reason.clone().into(),
                r.community_rating.into(),
                r.community_comment.clone().into(),
                r.submitted_at.into(),
                r.confirmed_at.into(),
                r.rating_closes_at.into(),
                r.scored_at.into(),
                updated_at.into(),
                r.request_id.clone().into(),
                r.request_hash.clone().into(),
            ]);
        }
        db.execute(&insert).await?;
    }
    Ok(())
}

/// Writes the mutable part if the record is still at `expected` (state and
/// version), so that a concurrent change is detected rather than overwritten.
pub async fn update(db: &impl ConnectionTrait, r: &Record, expected: (State, i32)) -> Result<bool, DbErr> {
    let pending = r.pending_amendment.as_ref().map(to_json).transpose()?;
    let update = Query::update()
        .table("records")
        .value("state", r.state.as_str())
        .value("version", r.version)
        .value("content", to_json(&r.content)?)
        .value("start_at", r.content.start)
        .value("end_at", r.content.end)
        .value("far_check_in", r.far_check_in)
        .value("check_in_distance_km", r.check_in_distance_km)
        .value("distance_km", r.distance_km)
        .value("distance_method", r.distance_method.clone())
        .value("dispute_reason", r.dispute_reason.clone())
        .value("pending_amendment", pending)
        .value("amendment_reason", r.amendment_reason.clone())
        .value("community_rating", r.community_rating)
        .value("community_comment", r.community_comment.clone())
        .value("confirmed_at", r.confirmed_at)
        .value("rating_closes_at", r.rating_closes_at)
        .value("scored_at", r.scored_at)
        .value("updated_at", Utc::now())
        .and_where(Expr::col("id").eq(r.id.clone()))
        .and_where(Expr::col("state").eq(expected.0.as_str()))
        .and_where(Expr::col("version").eq(expected.1))
        .to_owned();
    Ok(db.execute(&update).await?.rows_affected() == 1)
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> ServiceResult<Option<Record>> {
    let select = Query::select()
        .column(Asterisk)
        .from("records")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    db.query_one(&select).await?.as_ref().map(from_row).transpose()
}

pub async fn find_by_request(
    db: &impl ConnectionTrait,
    professional: &str,
    request_id: &str,
) -> ServiceResult<Option<Record>> {
    let select = Query::select()
        .column(Asterisk)
        .from("records")
        .and_where(Expr::col("professional_id").eq(professional))
        .and_where(Expr::col("request_id").eq(request_id))
        .to_owned();
    db.query_one(&select).await?.as_ref().map(from_row).transpose()
}

/// The professional's other records' visit times (for overlap checks).
pub async fn times_of(
    db: &impl ConnectionTrait,
    professional: &str,
    except: &str,
) -> ServiceResult<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
    let select = Query::select()
        .columns(["start_at", "end_at"])
        .from("records")
        .and_where(Expr::col("professional_id").eq(professional))
        .and_where(Expr::col("id").ne(except))
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("", "start_at")?, r.try_get("", "end_at")?)))
        .collect()
}

#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub community_prefixes: Vec<String>,
    pub own_professional: Option<String>,
    pub region: String,
    pub professional: String,
    pub state: Option<State>,
    pub far_only: bool,
}

pub async fn list(db: &impl ConnectionTrait, f: &Filter, offset: u64, size: u64) -> ServiceResult<Vec<Record>> {
    let mut visible = Condition::any().add(Expr::value(false));
    for p in &f.community_prefixes {
        visible = visible.add(prefix("community_code", p));
    }
    if let Some(own) = &f.own_professional {
        visible = visible.add(Expr::col("professional_id").eq(own.clone()));
    }
    let mut select = Query::select()
        .column(Asterisk)
        .from("records")
        .cond_where(visible)
        .and_where(prefix("community_code", &f.region))
        .order_by("start_at", Order::Desc)
        .order_by("id", Order::Desc)
        .limit(size + 1)
        .offset(offset)
        .to_owned();
    if !f.professional.is_empty() {
        select.and_where(Expr::col("professional_id").eq(f.professional.clone()));
    }
    if let Some(s) = f.state {
        select.and_where(Expr::col("state").eq(s.as_str()));
    }
    if f.far_only {
        select.and_where(Expr::col("far_check_in").eq(true));
    }
    db.query_all(&select).await?.iter().map(from_row).collect()
}

/// Confirmed records whose rating window has closed.
pub async fn due_for_scoring(db: &impl ConnectionTrait, now: DateTime<Utc>, limit: u64) -> ServiceResult<Vec<Record>> {
    let select = Query::select()
        .column(Asterisk)
        .from("records")
        .and_where(Expr::col("state").eq(State::Confirmed.as_str()))
        .and_where(Expr::col("rating_closes_at").lte(now))
        .order_by("rating_closes_at", Order::Asc)
        .limit(limit)
        .to_owned();
    db.query_all(&select).await?.iter().map(from_row).collect()
}

#[derive(Debug, Clone)]
pub struct Change {
    pub version: i32,
    pub action: &'static str,
    pub actor_id: String,
    pub reason: String,
    pub content: Option<Content>,
    pub at: DateTime<Utc>,
}

pub async fn add_history(db: &impl ConnectionTrait, record_id: &str, c: &Change) -> Result<(), DbErr> {
    let next = Query::select()
        .expr(Expr::cust("CAST(COALESCE(MAX(seq), 0) + 1 AS INTEGER)"))
        .from("record_history")
        .and_where(Expr::col("record_id").eq(record_id))
        .to_owned();
    let seq: i32 = match db.query_one(&next).await? {
        Some(row) => row.try_get_by_index::<i32>(0)?,
        None => 1,
    };
    let content = c.content.as_ref().map(to_json).transpose()?;
    let insert = Query::insert()
        .into_table("record_history")
        .columns([
            "record_id",
            "seq",
            "version",
            "action",
            "actor_id",
            "reason",
            "content",
            "at",
        ])
        .values_panic([
            record_id.into(),
            seq.into(),
            c.version.into(),
            c.action.into(),
            c.actor_id.clone().into(),
            c.reason.clone().into(),
            content.into(),
            c.at.into(),
        ])
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

/// Adds history entries `(record id, seq, change)` whose sequence numbers
/// are known (new records' whole history), many rows per statement (bulk
/// loads; [`add_history`] numbers one entry after the record's last).
pub async fn add_history_many(db: &impl ConnectionTrait, entries: &[(String, i32, Change)]) -> Result<(), DbErr> {
    let size = |(id, _, c): &(String, i32, Change)| {
        96 + id.len() + c.actor_id.len() + c.reason.len() + c.content.as_ref().map_or(0, |c| 512 + c.summary.len())
    };
    for chunk in kit::db::chunks_by_width(entries, 8, size) {
        let mut insert = Query::insert();
        insert.into_table("record_history").columns([
            "record_id",
            "seq",
            "version",
            "action",
            "actor_id",
            "reason",
            "content",
            "at",
        ]);
        for (record_id, seq, c) in chunk {
            let content = c.content.as_ref().map(to_json).transpose()?;
            insert.values_panic([
                record_id.clone().into(),
                (*seq).into(),
                c.version.into(),
                c.action.into(),
                c.actor_id.clone().into(),
                c.reason.clone().into(),
                content.into(),
                c.at.into(),
            ]);
        }
        db.execute(&insert).await?;
    }
    Ok(())
}

pub async fn history(db: &impl ConnectionTrait, record_id: &str) -> ServiceResult<Vec<Change>> {
    let select = Query::select()
        .columns(["version", "action", "actor_id", "reason", "at"])
        .from("record_history")
        .and_where(Expr::col("record_id").eq(record_id))
        .order_by("seq", Order::Asc)
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|r| {
            let action: String = r.try_get("", "action")?;
            Ok(Change {
                version: r.try_get("", "version")?,
                action: ACTIONS.iter().find(|a| **a == action).copied().unwrap_or("unknown"),
                actor_id: r.try_get("", "actor_id")?,
                reason: r.try_get("", "reason")?,
                content: None,
                at: r.try_get("", "at")?,
            })
        })
        .collect()
}

/// Every action a history entry can name.
pub const ACTIONS: [&str; 9] = [
    "submitted",
    "confirmed",
    "disputed",
    "resubmitted",
    "amendment_proposed",
    "amendment_accepted",
    "amendment_rejected",
    "rated",
    "scored",
];

/// The record's rating code, if one was issued.
pub async fn rating_code_of(
    db: &impl ConnectionTrait,
    record_id: &str,
) -> ServiceResult<Option<(String, DateTime<Utc>)>> {
    let select = Query::select()
        .columns(["code", "expires_at"])
        .from("rating_codes")
        .and_where(Expr::col("record_id").eq(record_id))
        .to_owned();
    match db.query_one(&select).await? {
        Some(r) => Ok(Some((r.try_get("", "code")?, r.try_get("", "expires_at")?))),
        None => Ok(None),
    }
}

pub async fn insert_rating_code(
    db: &impl ConnectionTrait,
    record_id: &str,
    code: &str,
    expires: DateTime<Utc>,
) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table("rating_codes")
        .columns(["code", "record_id", "expires_at"])
        .values_panic([code.into(), record_id.into(), expires.into()])
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

pub async fn record_of_code(db: &impl ConnectionTrait, code: &str) -> ServiceResult<Option<(String, DateTime<Utc>)>> {
    let select = Query::select()
        .columns(["record_id", "expires_at"])
        .from("rating_codes")
        .and_where(Expr::col("code").eq(code))
        .to_owned();
    match db.query_one(&select).await? {
        Some(r) => Ok(Some((r.try_get("", "record_id")?, r.try_get("", "expires_at")?))),
        None => Ok(None),
    }
}

/// Records a resident's rating; false if this contact already rated the record.
pub async fn add_resident_rating(
    db: &impl ConnectionTrait,
    record_id: &str,
    contact_hash: &str,
    rating: i32,
    comment: &str,
) -> Result<bool, DbErr> {
    let insert = Query::insert()
        .into_table("resident_ratings")
        .columns(["record_id", "contact_hash", "rating", "comment", "at"])
        .values_panic([
            record_id.into(),
            contact_hash.into(),
            rating.into(),
            comment.into(),
            Utc::now().into(),
        ])
        .on_conflict(
            sea_orm::sea_query::OnConflict::columns(["record_id", "contact_hash"])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    Ok(db.execute(&insert).await?.rows_affected() == 1)
}

/// Count and mean of residents' ratings of a record.
pub async fn resident_ratings(db: &impl ConnectionTrait, record_id: &str) -> ServiceResult<(i32, f64)> {
    let ids = [record_id.to_string()];
    Ok(resident_ratings_of(db, &ids)
        .await?
        .remove(record_id)
        .unwrap_or((0, 0.0)))
}

/// Residents' ratings of each of `record_ids` that has any: `(count,
/// average)`, in one query (a page of records).
pub async fn resident_ratings_of(
    db: &impl ConnectionTrait,
    record_ids: &[String],
) -> ServiceResult<std::collections::HashMap<String, (i32, f64)>> {
    let mut out = std::collections::HashMap::new();
    if record_ids.is_empty() {
        return Ok(out);
    }
    let select = Query::select()
        .column("record_id")
        .expr(Expr::cust("CAST(COUNT(*) AS BIGINT)"))
        .expr(Expr::cust("CAST(COALESCE(SUM(rating), 0) AS BIGINT)"))
        .from("resident_ratings")
        .and_where(Expr::col("record_id").is_in(record_ids.iter().cloned()))
        .group_by_col("record_id")
        .to_owned();
    for row in db.query_all(&select).await? {
        let (count, sum) = (row.try_get_by_index::<i64>(1)?, row.try_get_by_index::<i64>(2)?);
        if count > 0 {
            out.insert(
                row.try_get_by_index::<String>(0)?,
                (count as i32, sum as f64 / count as f64),
            );
        }
    }
    Ok(out)
}

/// Service types a district added to the standard list.
pub async fn district_service_types(db: &impl ConnectionTrait, district: &str) -> ServiceResult<Vec<(String, String)>> {
    let select = Query::select()
        .columns(["code", "name"])
        .from("service_types")
        .and_where(Expr::col("district_code").eq(district))
        .order_by("code", Order::Asc)
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("", "code")?, r.try_get("", "name")?)))
        .collect()
}

/// Adds a district service type; false if the district already has that code.
pub async fn add_service_type(
    db: &impl ConnectionTrait,
    district: &str,
    code: &str,
    name: &str,
) -> Result<bool, DbErr> {
    let insert = Query::insert()
        .into_table("service_types")
        .columns(["district_code", "code", "name"])
        .values_panic([district.into(), code.into(), name.into()])
        .on_conflict(
            sea_orm::sea_query::OnConflict::columns(["district_code", "code"])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    Ok(db.execute(&insert).await?.rows_affected() == 1)
}
