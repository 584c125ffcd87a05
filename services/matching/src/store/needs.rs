use super::{from_json, prefix, to_json};
use crate::domain::need::{NeedAction, NeedState};
use chrono::{DateTime, Utc};
use kit::{ServiceError, ServiceResult};
use sea_orm::sea_query::{Asterisk, Condition, Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct Need {
    pub id: String,
    pub community_code: String,
    pub category_code: String,
    pub description: String,
    pub location: Option<(f64, f64)>,
    pub address: String,
    pub media_urls: Vec<String>,
    pub contact_consent: bool,
    pub submitter_id: String,
    pub state: NeedState,
    pub status_note: String,
    pub agency_responsible: String,
    pub professional_id: String,
    pub team_id: String,
    pub duplicate_of: String,
    pub requested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expected_at: DateTime<Utc>,
    pub satisfaction: i32,
    pub evaluation_comment: String,
    /// Federation needs only (empty otherwise).
    pub origin: Origin,
}

/// Where a federation need comes from: the peer platform, its community and
/// what it asked for. Empty for residents' needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Origin {
    pub peer: String,
    /// The peer's idempotency key of its request.
    pub request_id: String,
    pub community_code: String,
    pub community_name: String,
    pub title: String,
    pub profession: String,
    pub specialty: String,
}

#[derive(Debug, Clone)]
pub struct StatusChange {
    pub from: NeedState,
    pub to: NeedState,
    pub action: Option<NeedAction>,
    pub note: String,
    pub actor_id: String,
    pub at: DateTime<Utc>,
}

fn state(s: &str) -> ServiceResult<NeedState> {
    NeedState::parse(s).ok_or_else(|| ServiceError::internal(anyhow::anyhow!("unknown need state {s}")))
}

fn from_row(row: &QueryResult) -> ServiceResult<Need> {
    let lon: Option<f64> = row.try_get("", "lon")?;
    let lat: Option<f64> = row.try_get("", "lat")?;
    Ok(Need {
        id: row.try_get("", "id")?,
        community_code: row.try_get("", "community_code")?,
        category_code: row.try_get("", "category_code")?,
        description: row.try_get("", "description")?,
        location: lon.zip(lat),
        address: row.try_get("", "address")?,
        media_urls: from_json(&row.try_get::<String>("", "media_urls")?)?,
        contact_consent: row.try_get("", "contact_consent")?,
        submitter_id: row.try_get("", "submitter_id")?,
        state: state(&row.try_get::<String>("", "state")?)?,
        status_note: row.try_get("", "status_note")?,
        agency_responsible: row.try_get("", "agency_responsible")?,
        professional_id: row.try_get("", "professional_id")?,
        team_id: row.try_get("", "team_id")?,
        duplicate_of: row.try_get("", "duplicate_of")?,
        requested_at: row.try_get("", "requested_at")?,
        updated_at: row.try_get("", "updated_at")?,
        expected_at: row.try_get("", "expected_at")?,
        satisfaction: row.try_get("", "satisfaction")?,
        evaluation_comment: row.try_get("", "evaluation_comment")?,
        origin: Origin {
            peer: row.try_get("", "origin_peer")?,
            request_id: row.try_get("", "origin_request_id")?,
            community_code: row.try_get("", "origin_community_code")?,
            community_name: row.try_get("", "origin_community_name")?,
            title: row.try_get("", "title")?,
            profession: row.try_get("", "wanted_profession")?,
            specialty: row.try_get("", "wanted_specialty")?,
        },
    })
}

pub async fn insert(db: &impl ConnectionTrait, n: &Need) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table("needs")
        .columns([
            "id",
            "community_code",
            "category_code",
            "description",
            "lon",
            "lat",
            "address",
            "media_urls",
            "contact_consent",
            "submitter_id",
            "state",
            "status_note",
            "agency_responsible",
            "requested_at",
            "updated_at",
            "expected_at",
            "evaluation_comment",
            "origin_peer",
            "origin_request_id",
            "origin_community_code",
            "origin_community_name",
            "title",
            "wanted_profession",
            "wanted_specialty",
        ])
        .values_panic([
            n.id.clone().into(),
            n.community_code.clone().into(),
            n.category_code.clone().into(),
            n.description.clone().into(),
            n.location.map(|l| l.0).into(),
            n.location.map(|l| l.1).into(),
            n.address.clone().into(),
            to_json(&n.media_urls)?.into(),
            n.contact_consent.into(),
            n.submitter_id.clone().into(),
            n.state.as_str().into(),
            n.status_note.clone().into(),
            n.agency_responsible.clone().into(),
            n.requested_at.into(),
            n.updated_at.into(),
            n.expected_at.into(),
            n.evaluation_comment.clone().into(),
            n.origin.peer.clone().into(),
            n.origin.request_id.clone().into(),
            n.origin.community_code.clone().into(),
            n.origin.community_name.clone().into(),
            n.origin.title.clone().into(),
            n.origin.profession.clone().into(),
            n.origin.specialty.clone().into(),
        ])
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

/// Writes the mutable part, only if the need is still in `expected` state.
pub async fn update(db: &impl ConnectionTrait, n: &Need, expected: NeedState) -> Result<bool, DbErr> {
    let update = Query::update()
        .table("needs")
        .value("state", n.state.as_str())
        .value("status_note", n.status_note.clone())
        .value("professional_id", n.professional_id.clone())
        .value("team_id", n.team_id.clone())
        .value("duplicate_of", n.duplicate_of.clone())
        .value("updated_at", n.updated_at)
        .value("satisfaction", n.satisfaction)
        .value("evaluation_comment", n.evaluation_comment.clone())
        .and_where(Expr::col("id").eq(n.id.clone()))
        .and_where(Expr::col("state").eq(expected.as_str()))
        .to_owned();
    Ok(db.execute(&update).await?.rows_affected() == 1)
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> ServiceResult<Option<Need>> {
    let select = Query::select()
        .column(Asterisk)
        .from("needs")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    db.query_one(&select).await?.as_ref().map(from_row).transpose()
}

pub async fn add_history(db: &impl ConnectionTrait, need_id: &str, change: &StatusChange) -> Result<(), DbErr> {
    let next = Query::select()
        .expr(Expr::cust("COALESCE(MAX(seq), 0) + 1"))
        .from("need_history")
        .and_where(Expr::col("need_id").eq(need_id))
        .to_owned();
    let seq: i32 = match db.query_one(&next).await? {
        Some(row) => row
            .try_get_by_index::<i32>(0)
            .or_else(|_| row.try_get_by_index::<i64>(0).map(|v| v as i32))?,
        None => 1,
    };
    let insert = Query::insert()
        .into_table("need_history")
        .columns([
            "need_id",
            "seq",
            "from_state",
            "to_state",
            "action",
            "note",
            "actor_id",
            "at",
        ])
        .values_panic([
            need_id.into(),
            seq.into(),
            change.from.as_str().into(),
            change.to.as_str().into(),
            change.action.map(NeedAction::as_str).unwrap_or("submit").into(),
            change.note.clone().into(),
            change.actor_id.clone().into(),
            change.at.into(),
        ])
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

pub async fn history(db: &impl ConnectionTrait, need_id: &str) -> ServiceResult<Vec<StatusChange>> {
    let select = Query::select()
        .columns(["from_state", "to_state", "action", "note", "actor_id", "at"])
        .from("need_history")
        .and_where(Expr::col("need_id").eq(need_id))
        .order_by("seq", Order::Asc)
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|row| {
            Ok(StatusChange {
                from: state(&row.try_get::<String>("", "from_state")?)?,
                to: state(&row.try_get::<String>("", "to_state")?)?,
                action: NeedAction::parse(&row.try_get::<String>("", "action")?),
                note: row.try_get("", "note")?,
                actor_id: row.try_get("", "actor_id")?,
                at: row.try_get("", "at")?,
            })
        })
        .collect()
}

#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub community_prefixes: Vec<String>,
    /// Needs the caller submitted or is assigned, seen in addition.
    pub submitter: Option<String>,
    pub assignee: Option<String>,
    pub region: String,
    pub state: Option<NeedState>,
    pub category: String,
    pub overdue_at: Option<DateTime<Utc>>,
    pub only_assignee: Option<String>,
    /// Only needs requested at or after this time (public reads).
    pub requested_after: Option<DateTime<Utc>>,
    /// Residents' needs only, not other provinces' support requests.
    pub without_federation: bool,
}

const CLOSED: [&str; 4] = ["resolved", "closed_not_resolved", "duplicate", "not_applicable"];

pub async fn list(db: &impl ConnectionTrait, f: &Filter, offset: u64, size: u64) -> ServiceResult<Vec<Need>> {
    let mut visible = Condition::any();
    for p in &f.community_prefixes {
        visible = visible.add(prefix("community_code", p));
    }
    if let Some(s) = &f.submitter {
        visible = visible.add(Expr::col("submitter_id").eq(s.clone()));
    }
    if let Some(a) = &f.assignee {
        visible = visible.add(Expr::col("professional_id").eq(a.clone()));
    }
    let mut select = Query::select()
        .column(Asterisk)
        .from("needs")
        .cond_where(visible.add(Expr::value(false)))
        .and_where(prefix("community_code", &f.region))
        .order_by("requested_at", Order::Desc)
        .order_by("id", Order::Desc)
        .limit(size + 1)
        .offset(offset)
        .to_owned();
    if let Some(s) = f.state {
        select.and_where(Expr::col("state").eq(s.as_str()));
    }
    if !f.category.is_empty() {
        select.and_where(Expr::col("category_code").eq(f.category.clone()));
    }
    if let Some(now) = f.overdue_at {
        select
            .and_where(Expr::col("expected_at").lt(now))
            .and_where(Expr::col("state").is_not_in(CLOSED));
    }
    if let Some(a) = &f.only_assignee {
        select.and_where(Expr::col("professional_id").eq(a.clone()));
    }
    if let Some(after) = f.requested_after {
        select.and_where(Expr::col("requested_at").gte(after));
    }
    if f.without_federation {
        select.and_where(Expr::col("origin_peer").eq(""));
    }
    db.query_all(&select).await?.iter().map(from_row).collect()
}

/// Open (not closed) needs per community.
pub async fn open_counts(db: &impl ConnectionTrait, codes: &[String]) -> ServiceResult<HashMap<String, i32>> {
    let mut out = HashMap::new();
    for chunk in codes.chunks(500) {
        let select = Query::select()
            .column("community_code")
            .expr(Expr::cust("COUNT(*)"))
            .from("needs")
            .and_where(Expr::col("state").is_not_in(CLOSED))
            .and_where(Expr::col("community_code").is_in(chunk.iter().cloned()))
            .group_by_col("community_code")
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

/// Categories of a community's open needs (for specialty fit).
pub async fn open_categories(db: &impl ConnectionTrait, code: &str) -> ServiceResult<Vec<String>> {
    let select = Query::select()
        .distinct()
        .column("category_code")
        .from("needs")
        .and_where(Expr::col("community_code").eq(code))
        .and_where(Expr::col("state").is_not_in(CLOSED))
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|r| Ok(r.try_get_by_index::<String>(0)?))
        .collect()
}

/// A federation need of `peer` (None for another peer's or a resident's).
pub async fn find_of_origin(db: &impl ConnectionTrait, peer: &str, id: &str) -> ServiceResult<Option<Need>> {
    Ok(find(db, id)
        .await?
        .filter(|n| !peer.is_empty() && n.origin.peer == peer))
}

/// The status changes of `peer`'s federation needs after `after`, oldest
/// first, each with its need as it stands now.
pub async fn changes_of_origin(
    db: &impl ConnectionTrait,
    peer: &str,
    after: Option<DateTime<Utc>>,
    limit: u64,
) -> ServiceResult<Vec<(Need, StatusChange)>> {
    let peers_needs = Query::select()
        .column("id")
        .from("needs")
        .and_where(Expr::col("origin_peer").eq(peer))
        .to_owned();
    let mut select = Query::select()
        .columns(["need_id", "from_state", "to_state", "action", "note", "actor_id", "at"])
        .from("need_history")
        .and_where(Expr::col("need_id").in_subquery(peers_needs))
        .order_by("at", Order::Asc)
        .order_by("need_id", Order::Asc)
        .order_by("seq", Order::Asc)
        .limit(limit)
        .to_owned();
    if let Some(after) = after {
        select.and_where(Expr::col("at").gt(after));
    }
    let mut needs: HashMap<String, Need> = HashMap::new();
    let mut out = Vec::new();
    for row in db.query_all(&select).await? {
        let need_id: String = row.try_get("", "need_id")?;
        let change = StatusChange {
            from: state(&row.try_get::<String>("", "from_state")?)?,
            to: state(&row.try_get::<String>("", "to_state")?)?,
            action: NeedAction::parse(&row.try_get::<String>("", "action")?),
            note: row.try_get("", "note")?,
            actor_id: row.try_get("", "actor_id")?,
            at: row.try_get("", "at")?,
        };
        if !needs.contains_key(&need_id) {
            let need = find(db, &need_id)
                .await?
                .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("history of a missing need {need_id}")))?;
            needs.insert(need_id.clone(), need);
        }
        out.push((needs[&need_id].clone(), change));
    }
    Ok(out)
}
