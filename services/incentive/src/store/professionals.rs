//! Qualified professionals as incentive knows them (from qualification's
//! events): names and professions for leaderboards, specialties for the
//! expert team, the home region for star distributions, and standing.

use chrono::{DateTime, Utc};
use kit::ServiceResult;
use kit::db::{from_json, to_json};
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, QueryResult};

#[derive(Debug, Clone, PartialEq)]
pub struct Professional {
    pub account_id: String,
    pub real_name: String,
    /// e.g. "planner" (qualification's Profession without its prefix, lower case).
    pub profession: String,
    pub specialties: Vec<String>,
    /// The first is the home region (its district counts in star distributions).
    pub service_regions: Vec<String>,
    /// "active", "suspended", "revoked" or "expired".
    pub status: String,
}

fn from_row(r: &QueryResult) -> ServiceResult<Professional> {
    Ok(Professional {
        account_id: r.try_get("", "account_id")?,
        real_name: r.try_get("", "real_name")?,
        profession: r.try_get("", "profession")?,
        specialties: from_json(&r.try_get::<String>("", "specialties")?)?,
        service_regions: from_json(&r.try_get::<String>("", "service_regions")?)?,
        status: r.try_get("", "status")?,
    })
}

pub async fn upsert(db: &impl ConnectionTrait, p: &Professional, now: DateTime<Utc>) -> ServiceResult<()> {
    let insert = Query::insert()
        .into_table("professionals")
        .columns([
            "account_id",
            "real_name",
            "profession",
            "specialties",
            "service_regions",
            "status",
            "updated_at",
        ])
        .values_panic([
            p.account_id.clone().into(),
            p.real_name.clone().into(),
            p.profession.clone().into(),
            to_json(&p.specialties)?.into(),
            to_json(&p.service_regions)?.into(),
            p.status.clone().into(),
            now.into(),
        ])
        .on_conflict(
            OnConflict::column("account_id")
                .update_columns([
                    "real_name",
                    "profession",
                    "specialties",
                    "service_regions",
                    "status",
                    "updated_at",
                ])
                .to_owned(),
        )
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

/// [`upsert`] for many professionals, many rows per statement (bulk loads).
pub async fn upsert_many(
    db: &impl ConnectionTrait,
    professionals: &[Professional],
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    let size = |p: &Professional| 160 + p.real_name.len() + 40 * (p.specialties.len() + p.service_regions.len());
    for chunk in kit::db::chunks_by_width(professionals, 7, size) {
        let mut insert = Query::insert();
        insert.into_table("professionals").columns([
            "account_id",
            "real_name",
            "profession",
            "specialties",
            "service_regions",
            "status",
            "updated_at",
        ]);
        for p in chunk {
            insert.values_panic([
                p.account_id.clone().into(),
                p.real_name.clone().into(),
                p.profession.clone().into(),
                to_json(&p.specialties)?.into(),
                to_json(&p.service_regions)?.into(),
                p.status.clone().into(),
                now.into(),
            ]);
        }
        insert.on_conflict(
            OnConflict::column("account_id")
                .update_columns([
                    "real_name",
                    "profession",
                    "specialties",
                    "service_regions",
                    "status",
                    "updated_at",
                ])
                .to_owned(),
        );
        db.execute(&insert).await?;
    }
    Ok(())
}

/// Sets a professional's status; false when incentive does not know them.
pub async fn set_status(
    db: &impl ConnectionTrait,
    account_id: &str,
    status: &str,
    now: DateTime<Utc>,
) -> ServiceResult<bool> {
    let update = Query::update()
        .table("professionals")
        .value("status", status)
        .value("updated_at", now)
        .and_where(Expr::col("account_id").eq(account_id))
        .to_owned();
    Ok(db.execute(&update).await?.rows_affected() == 1)
}

/// Records that the professional's qualification lapsed in `year`.
pub async fn record_lapse(db: &impl ConnectionTrait, account_id: &str, year: i32, reason: &str) -> ServiceResult<()> {
    let insert = Query::insert()
        .into_table("standing_lapses")
        .columns(["professional_id", "year", "reason"])
        .values_panic([
            account_id.into(),
            year.into(),
            reason.chars().take(500).collect::<String>().into(),
        ])
        .on_conflict(OnConflict::columns(["professional_id", "year"]).do_nothing().to_owned())
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

pub async fn find(db: &impl ConnectionTrait, account_id: &str) -> ServiceResult<Option<Professional>> {
    let select = Query::select()
        .column(Asterisk)
        .from("professionals")
        .and_where(Expr::col("account_id").eq(account_id))
        .to_owned();
    db.query_one(&select).await?.as_ref().map(from_row).transpose()
}

/// Every active professional.
pub async fn active(db: &impl ConnectionTrait) -> ServiceResult<Vec<Professional>> {
    let select = Query::select()
        .column(Asterisk)
        .from("professionals")
        .and_where(Expr::col("status").eq("active"))
        .order_by("account_id", sea_orm::sea_query::Order::Asc)
        .to_owned();
    db.query_all(&select).await?.iter().map(from_row).collect()
}
