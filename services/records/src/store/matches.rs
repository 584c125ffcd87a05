//! The read model of matching's matches and community positions.

use chrono::{DateTime, Utc};
use kit::ServiceResult;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Order, Query};
use sea_orm::{ConnectionTrait, DbErr};

#[derive(Debug, Clone)]
pub struct MatchView {
    pub match_id: String,
    pub professional_id: String,
    pub community_code: String,
    pub profession: String,
    pub professional_location: Option<(f64, f64)>,
    pub state: String,
}

pub async fn upsert(db: &impl ConnectionTrait, m: &MatchView) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table("match_views")
        .columns([
            "match_id",
            "professional_id",
            "community_code",
            "profession",
            "professional_lon",
            "professional_lat",
            "state",
        ])
        .values_panic([
            m.match_id.clone().into(),
            m.professional_id.clone().into(),
            m.community_code.clone().into(),
            m.profession.clone().into(),
            m.professional_location.map(|l| l.0).into(),
            m.professional_location.map(|l| l.1).into(),
            m.state.clone().into(),
        ])
        .on_conflict(
            OnConflict::column("match_id")
                .update_columns(["professional_lon", "professional_lat", "state"])
                .to_owned(),
        )
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

/// [`upsert`] for many matches, many rows per statement (bulk loads).
pub async fn upsert_many(db: &impl ConnectionTrait, views: &[MatchView]) -> Result<(), DbErr> {
    for chunk in kit::db::chunks_by_width(views, 7, |m| 160 + m.profession.len()) {
        let mut insert = Query::insert();
        insert.into_table("match_views").columns([
            "match_id",
            "professional_id",
            "community_code",
            "profession",
            "professional_lon",
            "professional_lat",
            "state",
        ]);
        for m in chunk {
            insert.values_panic([
                m.match_id.clone().into(),
                m.professional_id.clone().into(),
                m.community_code.clone().into(),
                m.profession.clone().into(),
                m.professional_location.map(|l| l.0).into(),
                m.professional_location.map(|l| l.1).into(),
                m.state.clone().into(),
            ]);
        }
        insert.on_conflict(
            OnConflict::column("match_id")
                .update_columns(["professional_lon", "professional_lat", "state"])
                .to_owned(),
        );
        db.execute(&insert).await?;
    }
    Ok(())
}

pub async fn set_state(db: &impl ConnectionTrait, match_id: &str, state: &str) -> Result<(), DbErr> {
    let update = Query::update()
        .table("match_views")
        .value("state", state)
        .and_where(Expr::col("match_id").eq(match_id))
        .to_owned();
    db.execute(&update).await.map(|_| ())
}

pub async fn find(db: &impl ConnectionTrait, match_id: &str) -> ServiceResult<Option<MatchView>> {
    let select = Query::select()
        .columns([
            "match_id",
            "professional_id",
            "community_code",
            "profession",
            "professional_lon",
            "professional_lat",
            "state",
        ])
        .from("match_views")
        .and_where(Expr::col("match_id").eq(match_id))
        .to_owned();
    let Some(row) = db.query_one(&select).await? else {
        return Ok(None);
    };
    let lon: Option<f64> = row.try_get("", "professional_lon")?;
    let lat: Option<f64> = row.try_get("", "professional_lat")?;
    Ok(Some(MatchView {
        match_id: row.try_get("", "match_id")?,
        professional_id: row.try_get("", "professional_id")?,
        community_code: row.try_get("", "community_code")?,
        profession: row.try_get("", "profession")?,
        professional_location: lon.zip(lat),
        state: row.try_get("", "state")?,
    }))
}

/// Opens an active interval at `from` (idempotent for the same instant).
pub async fn open_interval(db: &impl ConnectionTrait, match_id: &str, from: DateTime<Utc>) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table("match_intervals")
        .columns(["match_id", "from_at"])
        .values_panic([match_id.into(), from.into()])
        .on_conflict(OnConflict::columns(["match_id", "from_at"]).do_nothing().to_owned())
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

/// Closes the open interval, if any, at `to`.
pub async fn close_interval(db: &impl ConnectionTrait, match_id: &str, to: DateTime<Utc>) -> Result<(), DbErr> {
    let update = Query::update()
        .table("match_intervals")
        .value("to_at", to)
        .and_where(Expr::col("match_id").eq(match_id))
        .and_where(Expr::col("to_at").is_null())
        .to_owned();
    db.execute(&update).await.map(|_| ())
}

/// A match's active interval: `(match, from, to)`, `to` None while active.
pub type Interval = (String, DateTime<Utc>, Option<DateTime<Utc>>);

/// Adds active intervals, many per statement (bulk loads); an interval
/// already there is kept.
pub async fn add_intervals(db: &impl ConnectionTrait, intervals: &[Interval]) -> Result<(), DbErr> {
    for chunk in kit::db::chunks_by_width(intervals, 3, |_| 96) {
        let mut insert = Query::insert();
        insert
            .into_table("match_intervals")
            .columns(["match_id", "from_at", "to_at"]);
        for (match_id, from, to) in chunk {
            insert.values_panic([match_id.clone().into(), (*from).into(), (*to).into()]);
        }
        insert.on_conflict(OnConflict::columns(["match_id", "from_at"]).do_nothing().to_owned());
        db.execute(&insert).await?;
    }
    Ok(())
}

pub async fn intervals(
    db: &impl ConnectionTrait,
    match_id: &str,
) -> ServiceResult<Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>> {
    let select = Query::select()
        .columns(["from_at", "to_at"])
        .from("match_intervals")
        .and_where(Expr::col("match_id").eq(match_id))
        .order_by("from_at", Order::Asc)
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("", "from_at")?, r.try_get("", "to_at")?)))
        .collect()
}

pub async fn set_position(
    db: &impl ConnectionTrait,
    code: &str,
    lon: f64,
    lat: f64,
    synthetic: bool,
) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table("community_positions")
        .columns(["code", "lon", "lat", "synthetic"])
        .values_panic([code.into(), lon.into(), lat.into(), synthetic.into()])
        .on_conflict(
            OnConflict::column("code")
                .update_columns(["lon", "lat", "synthetic"])
                .to_owned(),
        )
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

/// [`set_position`] for many communities, `(code, lon, lat, synthetic)`,
/// many per statement (bulk loads).
pub async fn set_positions(db: &impl ConnectionTrait, positions: &[(String, f64, f64, bool)]) -> Result<(), DbErr> {
    for chunk in kit::db::chunks_by_width(positions, 4, |_| 64) {
        let mut insert = Query::insert();
        insert
            .into_table("community_positions")
            .columns(["code", "lon", "lat", "synthetic"]);
        for (code, lon, lat, synthetic) in chunk {
            insert.values_panic([code.clone().into(), (*lon).into(), (*lat).into(), (*synthetic).into()]);
        }
        insert.on_conflict(
            OnConflict::column("code")
                .update_columns(["lon", "lat", "synthetic"])
                .to_owned(),
        );
        db.execute(&insert).await?;
    }
    Ok(())
}

/// A community's position and whether it is synthetic.
pub async fn position(db: &impl ConnectionTrait, code: &str) -> ServiceResult<Option<(f64, f64, bool)>> {
    let select = Query::select()
        .columns(["lon", "lat", "synthetic"])
        .from("community_positions")
        .and_where(Expr::col("code").eq(code))
        .to_owned();
    match db.query_one(&select).await? {
        Some(r) => Ok(Some((
            r.try_get("", "lon")?,
            r.try_get("", "lat")?,
            r.try_get("", "synthetic")?,
        ))),
        None => Ok(None),
    }
}
