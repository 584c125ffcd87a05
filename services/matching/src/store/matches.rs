use super::prefix;
use crate::domain::lifecycle::{MatchState, Side};
use chrono::{DateTime, Utc};
use kit::{ServiceError, ServiceResult};
use sea_orm::sea_query::{Asterisk, Condition, Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct Match {
    pub id: String,
    pub community_code: String,
    pub professional_id: String,
    pub initiated_by: Side,
    pub state: MatchState,
    pub message: String,
    pub created_by: String,
    pub distance_km: f64,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub responded_at: Option<DateTime<Utc>>,
    pub response_secs: Option<i64>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: String,
    pub ended_by: Option<Side>,
    pub assignment_id: String,
}

fn from_row(row: &QueryResult) -> ServiceResult<Match> {
    let state: String = row.try_get("", "state")?;
    let initiated: String = row.try_get("", "initiated_by")?;
    let ended_by: String = row.try_get("", "ended_by")?;
    let bad = |what: &str, v: &str| ServiceError::internal(anyhow::anyhow!("unknown {what} {v}"));
    Ok(Match {
        id: row.try_get("", "id")?,
        community_code: row.try_get("", "community_code")?,
        professional_id: row.try_get("", "professional_id")?,
        initiated_by: Side::parse(&initiated).ok_or_else(|| bad("side", &initiated))?,
        state: MatchState::parse(&state).ok_or_else(|| bad("state", &state))?,
        message: row.try_get("", "message")?,
        created_by: row.try_get("", "created_by")?,
        distance_km: row.try_get("", "distance_km")?,
        created_at: row.try_get("", "created_at")?,
        expires_at: row.try_get("", "expires_at")?,
        responded_at: row.try_get("", "responded_at")?,
        response_secs: row.try_get("", "response_secs")?,
        confirmed_at: row.try_get("", "confirmed_at")?,
        ended_at: row.try_get("", "ended_at")?,
        end_reason: row.try_get("", "end_reason")?,
        ended_by: Side::parse(&ended_by),
        assignment_id: row.try_get("", "assignment_id")?,
    })
}

pub async fn insert(db: &impl ConnectionTrait, m: &Match) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table("matches")
        .columns([
            "id",
            "community_code",
            "professional_id",
            "initiated_by",
            "state",
            "message",
            "created_by",
            "distance_km",
            "created_at",
            "expires_at",
            "assignment_id",
            "updated_at",
        ])
        .values_panic([
            m.id.clone().into(),
            m.community_code.clone().into(),
            m.professional_id.clone().into(),
            m.initiated_by.as_str().into(),
            m.state.as_str().into(),
            m.message.clone().into(),
            m.created_by.clone().into(),
            m.distance_km.into(),
            m.created_at.into(),
            m.expires_at.into(),
            m.assignment_id.clone().into(),
            m.created_at.into(),
        ])
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

/// Inserts matches with their whole history so far (answered, confirmed,
/// ended), many rows per statement (bulk loads; [`insert`] and [`update`]
/// are the way one proposal goes through its life).
pub async fn insert_many(db: &impl ConnectionTrait, matches: &[Match]) -> Result<(), DbErr> {
    let size = |m: &Match| 320 + m.message.len() + m.end_reason.len();
    for chunk in kit::db::chunks_by_width(matches, 18, size) {
        let mut insert = Query::insert();
        insert.into_table("matches").columns([
            "id",
            "community_code",
            "professional_id",
            "initiated_by",
            "state",
            "message",
            "created_by",
            "distance_km",
            "created_at",
            "expires_at",
            "responded_at",
            "response_secs",
            "confirmed_at",
            "ended_at",
            "end_reason",
            "ended_by",
            "assignment_id",
            "updated_at",
        ]);
        for m in chunk {
            let updated_at = m.ended_at.or(m.confirmed_at).or(m.responded_at).unwrap_or(m.created_at);
            insert.values_panic([
                m.id.clone().into(),
                m.community_code.clone().into(),
                m.professional_id.clone().into(),
                m.initiated_by.as_str().into(),
                m.state.as_str().into(),
                m.message.clone().into(),
                m.created_by.clone().into(),
                m.distance_km.into(),
                m.created_at.into(),
                m.expires_at.into(),
                m.responded_at.into(),
                m.response_secs.into(),
                m.confirmed_at.into(),
                m.ended_at.into(),
                m.end_reason.clone().into(),
                m.ended_by.map(Side::as_str).unwrap_or("").into(),
                m.assignment_id.clone().into(),
                updated_at.into(),
            ]);
        }
        db.execute(&insert).await?;
    }
    Ok(())
}

/// Writes the mutable part of a match, only if it is still in `expected`
/// state (so that a concurrent change is detected, not overwritten).
pub async fn update(db: &impl ConnectionTrait, m: &Match, expected: MatchState) -> Result<bool, DbErr> {
    let update = Query::update()
        .table("matches")
        .value("state", m.state.as_str())
        .value("responded_at", m.responded_at)
        .value("response_secs", m.response_secs)
        .value("confirmed_at", m.confirmed_at)
        .value("ended_at", m.ended_at)
        .value("end_reason", m.end_reason.clone())
        .value("ended_by", m.ended_by.map(Side::as_str).unwrap_or(""))
        .value("updated_at", Utc::now())
        .and_where(Expr::col("id").eq(m.id.clone()))
        .and_where(Expr::col("state").eq(expected.as_str()))
        .to_owned();
    Ok(db.execute(&update).await?.rows_affected() == 1)
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> ServiceResult<Option<Match>> {
    let select = Query::select()
        .column(Asterisk)
        .from("matches")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    db.query_one(&select).await?.as_ref().map(from_row).transpose()
}

/// The pending, active or suspended match of a pair, if any.
pub async fn open_for_pair(
    db: &impl ConnectionTrait,
    community: &str,
    professional: &str,
) -> ServiceResult<Option<Match>> {
    let open: Vec<&str> = [MatchState::Pending, MatchState::Active, MatchState::Suspended]
        .iter()
        .map(|s| s.as_str())
        .collect();
    let select = Query::select()
        .column(Asterisk)
        .from("matches")
        .and_where(Expr::col("community_code").eq(community))
        .and_where(Expr::col("professional_id").eq(professional))
        .and_where(Expr::col("state").is_in(open))
        .limit(1)
        .to_owned();
    db.query_one(&select).await?.as_ref().map(from_row).transpose()
}

#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Community code prefixes the caller sees ("" is everything).
    pub community_prefixes: Vec<String>,
    /// The caller's own matches as a professional, seen in addition.
    pub own_professional: Option<String>,
    pub region: String,
    pub professional: String,
    pub state: Option<MatchState>,
}

pub async fn list(db: &impl ConnectionTrait, filter: &Filter, offset: u64, size: u64) -> ServiceResult<Vec<Match>> {
    let mut visible = Condition::any();
    for p in &filter.community_prefixes {
        visible = visible.add(prefix("community_code", p));
    }
    if let Some(own) = &filter.own_professional {
        visible = visible.add(Expr::col("professional_id").eq(own.clone()));
    }
    if filter.community_prefixes.is_empty() && filter.own_professional.is_none() {
        visible = visible.add(Expr::value(false));
    }
    let mut select = Query::select()
        .column(Asterisk)
        .from("matches")
        .cond_where(visible)
        .and_where(prefix("community_code", &filter.region))
        .order_by("created_at", Order::Desc)
        .order_by("id", Order::Desc)
        .limit(size + 1)
        .offset(offset)
        .to_owned();
    if !filter.professional.is_empty() {
        select.and_where(Expr::col("professional_id").eq(filter.professional.clone()));
    }
    if let Some(state) = filter.state {
        select.and_where(Expr::col("state").eq(state.as_str()));
    }
    db.query_all(&select).await?.iter().map(from_row).collect()
}

/// Every match of a professional in one of `states`.
pub async fn of_professional(db: &impl ConnectionTrait, id: &str, states: &[MatchState]) -> ServiceResult<Vec<Match>> {
    let select = Query::select()
        .column(Asterisk)
        .from("matches")
        .and_where(Expr::col("professional_id").eq(id))
        .and_where(Expr::col("state").is_in(states.iter().map(|s| s.as_str())))
        .order_by("created_at", Order::Asc)
        .to_owned();
    db.query_all(&select).await?.iter().map(from_row).collect()
}

/// Active matches per key (`professional_id` or `community_code`).
pub async fn active_counts(
    db: &impl ConnectionTrait,
    key: &'static str,
    ids: &[String],
) -> ServiceResult<HashMap<String, i32>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let select = Query::select()
            .column(key)
            .expr(Expr::cust("COUNT(*)"))
            .from("matches")
            .and_where(Expr::col("state").eq(MatchState::Active.as_str()))
            .and_where(Expr::col(key).is_in(chunk.iter().cloned()))
            .group_by_col(key)
            .to_owned();
        for row in db.query_all(&select).await? {
            out.insert(
                row.try_get_by_index::<String>(0)?,
                row.try_get_by_index::<i64>(1)? as i32,
            );
        }
    }
    Ok(out)
}

/// How one side answers proposals made to it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ResponseStats {
    pub answered: i32,
    pub expired_unanswered: i32,
    pub mean_hours: f64,
}

/// Response statistics of the answering side: a professional answers
/// communities' invitations; a community answers professionals' applications.
pub async fn response_stats(
    db: &impl ConnectionTrait,
    answering: Side,
    ids: &[String],
) -> ServiceResult<HashMap<String, ResponseStats>> {
    let (key, proposer) = match answering {
        Side::Professional => ("professional_id", Side::Community),
        Side::Community => ("community_code", Side::Professional),
    };
    let mut out: HashMap<String, ResponseStats> = HashMap::new();
    for chunk in ids.chunks(500) {
        let select = Query::select()
            .column(key)
            .expr(Expr::cust("COUNT(response_secs)"))
            .expr(Expr::cust("CAST(COALESCE(SUM(response_secs), 0) AS BIGINT)"))
            .expr(Expr::cust("COUNT(CASE WHEN state = 'expired' THEN 1 END)"))
            .from("matches")
            .and_where(Expr::col("initiated_by").eq(proposer.as_str()))
            .and_where(Expr::col(key).is_in(chunk.iter().cloned()))
            .group_by_col(key)
            .to_owned();
        for row in db.query_all(&select).await? {
            let answered = row.try_get_by_index::<i64>(1)?;
            let total_secs = row.try_get_by_index::<i64>(2)?;
            out.insert(
                row.try_get_by_index::<String>(0)?,
                ResponseStats {
                    answered: answered as i32,
                    expired_unanswered: row.try_get_by_index::<i64>(3)? as i32,
                    mean_hours: if answered > 0 {
                        total_secs as f64 / answered as f64 / 3600.0
                    } else {
                        0.0
                    },
                },
            );
        }
    }
    Ok(out)
}

/// Marks pending matches past their expiry as expired; returns how many.
pub async fn expire_due(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let update = Query::update()
        .table("matches")
        .value("state", MatchState::Expired.as_str())
        .value("updated_at", now)
        .and_where(Expr::col("state").eq(MatchState::Pending.as_str()))
        .and_where(Expr::col("expires_at").lte(now))
        .to_owned();
    Ok(db.execute(&update).await?.rows_affected())
}

/// `(community, professional)` of the open (pending, active or suspended) matches within `region`.
pub async fn open_pairs_in(db: &impl ConnectionTrait, region: &str) -> ServiceResult<Vec<(String, String)>> {
    pairs_in(
        db,
        region,
        &[MatchState::Pending, MatchState::Active, MatchState::Suspended],
    )
    .await
}

/// `(community, professional)` of the matches within `region` in one of `states`.
pub async fn pairs_in(
    db: &impl ConnectionTrait,
    region: &str,
    states: &[MatchState],
) -> ServiceResult<Vec<(String, String)>> {
    let select = Query::select()
        .columns(["community_code", "professional_id"])
        .from("matches")
        .and_where(prefix("community_code", region))
        .and_where(Expr::col("state").is_in(states.iter().map(|s| s.as_str())))
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|r| Ok((r.try_get_by_index(0)?, r.try_get_by_index(1)?)))
        .collect()
}
