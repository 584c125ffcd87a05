use chrono::{DateTime, Utc};
use kit::ServiceResult;
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DbErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pair {
    pub community: String,
    pub professional: String,
    pub profession: String,
    pub distance_km: f64,
}

/// A proposal and its objective, stored whole.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Result {
    pub pairs: Vec<Pair>,
    pub communities: i32,
    pub covered: i32,
    pub covered_professions: i32,
    pub total_distance_km: f64,
}

#[derive(Debug, Clone)]
pub struct Assignment {
    pub id: String,
    pub region_code: String,
    pub max_distance_km: f64,
    pub applied: bool,
    pub result: Result,
    pub invitations_sent: i32,
    pub solve_millis: f64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

pub async fn insert(db: &impl ConnectionTrait, a: &Assignment) -> std::result::Result<(), DbErr> {
    let insert = Query::insert()
        .into_table("assignments")
        .columns([
            "id",
            "region_code",
            "max_distance_km",
            "state",
            "result",
            "invitations_sent",
            "solve_millis",
            "created_by",
            "created_at",
        ])
        .values_panic([
            a.id.clone().into(),
            a.region_code.clone().into(),
            a.max_distance_km.into(),
            (if a.applied { "applied" } else { "proposed" }).into(),
            super::to_json(&a.result)?.into(),
            a.invitations_sent.into(),
            a.solve_millis.into(),
            a.created_by.clone().into(),
            a.created_at.into(),
        ])
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

/// Marks a proposal applied; false if it already was (a retried apply).
pub async fn mark_applied(db: &impl ConnectionTrait, id: &str, invitations: i32) -> std::result::Result<bool, DbErr> {
    let update = Query::update()
        .table("assignments")
        .value("state", "applied")
        .value("invitations_sent", invitations)
        .and_where(Expr::col("id").eq(id))
        .and_where(Expr::col("state").eq("proposed"))
        .to_owned();
    Ok(db.execute(&update).await?.rows_affected() == 1)
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> ServiceResult<Option<Assignment>> {
    let select = Query::select()
        .column(Asterisk)
        .from("assignments")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    let Some(row) = db.query_one(&select).await? else {
        return Ok(None);
    };
    let state: String = row.try_get("", "state")?;
    Ok(Some(Assignment {
        id: row.try_get("", "id")?,
        region_code: row.try_get("", "region_code")?,
        max_distance_km: row.try_get("", "max_distance_km")?,
        applied: state == "applied",
        result: super::from_json(&row.try_get::<String>("", "result")?)?,
        invitations_sent: row.try_get("", "invitations_sent")?,
        solve_millis: row.try_get("", "solve_millis")?,
        created_by: row.try_get("", "created_by")?,
        created_at: row.try_get("", "created_at")?,
    }))
}
