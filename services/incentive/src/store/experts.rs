//! City expert-team proposals: per specialty, the ranked candidates; an
//! admin strikes some and confirms the rest.

use crate::domain::Tenths;
use chrono::{DateTime, Utc};
use kit::ServiceResult;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, Order, Query};

#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub specialty: String,
    pub professional_id: String,
    pub rank: i32,
    pub stars: i32,
    pub points: Tenths,
    pub struck: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub id: String,
    pub year: i32,
    /// "proposed" or "confirmed".
    pub state: String,
    pub proposed_by: String,
    pub confirmed_by: String,
    pub created_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub candidates: Vec<Candidate>,
}

pub async fn insert(db: &impl ConnectionTrait, p: &Proposal) -> ServiceResult<()> {
    let insert = Query::insert()
        .into_table("expert_proposals")
        .columns(["id", "year", "state", "proposed_by", "created_at"])
        .values_panic([
            p.id.clone().into(),
            p.year.into(),
            p.state.clone().into(),
            p.proposed_by.clone().into(),
            p.created_at.into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    if p.candidates.is_empty() {
        return Ok(());
    }
    let mut insert = Query::insert()
        .into_table("expert_candidates")
        .columns([
            "proposal_id",
            "specialty",
            "professional_id",
            "rank",
            "stars",
            "points",
            "struck",
        ])
        .to_owned();
    for c in &p.candidates {
        insert.values_panic([
            p.id.clone().into(),
            c.specialty.clone().into(),
            c.professional_id.clone().into(),
            c.rank.into(),
            c.stars.into(),
            c.points.into(),
            c.struck.into(),
        ]);
    }
    db.execute(&insert).await?;
    Ok(())
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> ServiceResult<Option<Proposal>> {
    let select = Query::select()
        .column(Asterisk)
        .from("expert_proposals")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    let Some(r) = db.query_one(&select).await? else {
        return Ok(None);
    };
    let candidates = Query::select()
        .column(Asterisk)
        .from("expert_candidates")
        .and_where(Expr::col("proposal_id").eq(id))
        .order_by("specialty", Order::Asc)
        .order_by("rank", Order::Asc)
        .to_owned();
    let candidates = db
        .query_all(&candidates)
        .await?
        .iter()
        .map(|c| {
            Ok(Candidate {
                specialty: c.try_get("", "specialty")?,
                professional_id: c.try_get("", "professional_id")?,
                rank: c.try_get("", "rank")?,
                stars: c.try_get("", "stars")?,
                points: c.try_get("", "points")?,
                struck: c.try_get("", "struck")?,
            })
        })
        .collect::<ServiceResult<Vec<_>>>()?;
    Ok(Some(Proposal {
        id: r.try_get("", "id")?,
        year: r.try_get("", "year")?,
        state: r.try_get("", "state")?,
        proposed_by: r.try_get("", "proposed_by")?,
        confirmed_by: r.try_get("", "confirmed_by")?,
        created_at: r.try_get("", "created_at")?,
        confirmed_at: r.try_get("", "confirmed_at")?,
        candidates,
    }))
}

/// Confirms a proposed proposal, striking `struck`; false when it was not
/// (or no longer) in the proposed state.
pub async fn confirm(
    db: &impl ConnectionTrait,
    id: &str,
    struck: &[String],
    actor: &str,
    now: DateTime<Utc>,
) -> ServiceResult<bool> {
    let update = Query::update()
        .table("expert_proposals")
        .value("state", "confirmed")
        .value("confirmed_by", actor)
        .value("confirmed_at", now)
        .and_where(Expr::col("id").eq(id))
        .and_where(Expr::col("state").eq("proposed"))
        .to_owned();
    if db.execute(&update).await?.rows_affected() != 1 {
        return Ok(false);
    }
    if !struck.is_empty() {
        let update = Query::update()
            .table("expert_candidates")
            .value("struck", true)
            .and_where(Expr::col("proposal_id").eq(id))
            .and_where(Expr::col("professional_id").is_in(struck.iter().map(String::as_str)))
            .to_owned();
        db.execute(&update).await?;
    }
    Ok(true)
}
