//! What each scored record currently counts for: its version, region, year,
//! satisfaction and net points. The ledger holds the history; this row lets
//! an amendment be scored against the record's current net, and the
//! roll-over count services and satisfaction without reading breakdowns.

use crate::domain::Tenths;
use kit::ServiceResult;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, OnConflict, Query};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub struct RecordAward {
    pub record_id: String,
    pub professional_id: String,
    pub year: i32,
    pub region_code: String,
    pub version: i32,
    pub satisfaction_milli: Option<i64>,
    pub points: Tenths,
    pub first_entry_id: String,
}

pub async fn find(db: &impl ConnectionTrait, record_id: &str) -> ServiceResult<Option<RecordAward>> {
    let select = Query::select()
        .column(Asterisk)
        .from("record_awards")
        .and_where(Expr::col("record_id").eq(record_id))
        .to_owned();
    db.query_one(&select).await?.as_ref().map(from_row).transpose()
}

/// What an award needs to know, in one round trip: the record's current
/// figures, if any, and the professional's carry-over from `previous_year`
/// (as [`crate::store::years::carry_over`]).
pub async fn prior(
    db: &impl ConnectionTrait,
    record_id: &str,
    professional: &str,
    previous_year: i32,
) -> ServiceResult<(Option<RecordAward>, Tenths)> {
    let sql = "SELECT ra.*, COALESCE(\
                 (SELECT points FROM annual_results WHERE professional_id = ? AND year = ?), \
                 (SELECT points FROM year_totals WHERE professional_id = ? AND year = ?), \
                 0) AS carry_over \
               FROM (SELECT 1 AS one) x LEFT JOIN record_awards ra ON ra.record_id = ?";
    let values = vec![
        professional.into(),
        previous_year.into(),
        professional.into(),
        previous_year.into(),
        record_id.into(),
    ];
    let row = db
        .query_one_raw(kit::db::statement(db, sql, values))
        .await?
        .ok_or_else(|| kit::ServiceError::internal(anyhow::anyhow!("no row from a one-row select")))?;
    let carry_over: i64 = row.try_get("", "carry_over")?;
    let current = match row.try_get::<Option<String>>("", "record_id")? {
        Some(_) => Some(from_row(&row)?),
        None => None,
    };
    Ok((current, carry_over))
}

fn from_row(r: &sea_orm::QueryResult) -> ServiceResult<RecordAward> {
    Ok(RecordAward {
        record_id: r.try_get("", "record_id")?,
        professional_id: r.try_get("", "professional_id")?,
        year: r.try_get("", "year")?,
        region_code: r.try_get("", "region_code")?,
        version: r.try_get("", "version")?,
        satisfaction_milli: r.try_get("", "satisfaction_milli")?,
        points: r.try_get("", "points")?,
        first_entry_id: r.try_get("", "first_entry_id")?,
    })
}

/// Writes records' current figures (insert, or replace on an amendment).
pub async fn save_many(db: &impl ConnectionTrait, awards: &[RecordAward]) -> ServiceResult<()> {
    for chunk in kit::db::chunks_by_size(awards, |a| 120 + a.record_id.len() + a.first_entry_id.len()) {
        let mut insert = Query::insert();
        insert.into_table("record_awards").columns([
            "record_id",
            "professional_id",
            "year",
            "region_code",
            "version",
            "satisfaction_milli",
            "points",
            "first_entry_id",
        ]);
        for a in chunk {
            insert.values_panic([
                a.record_id.clone().into(),
                a.professional_id.clone().into(),
                a.year.into(),
                a.region_code.clone().into(),
                a.version.into(),
                a.satisfaction_milli.into(),
                a.points.into(),
                a.first_entry_id.clone().into(),
            ]);
        }
        insert.on_conflict(
            OnConflict::column("record_id")
                .update_columns(["region_code", "version", "satisfaction_milli", "points"])
                .to_owned(),
        );
        db.execute(&insert).await?;
    }
    Ok(())
}

/// The current figures of the records among `record_ids` that were awarded.
pub async fn find_many(db: &impl ConnectionTrait, record_ids: &[&str]) -> ServiceResult<HashMap<String, RecordAward>> {
    let select = Query::select()
        .column(Asterisk)
        .from("record_awards")
        .and_where(Expr::col("record_id").is_in(record_ids.iter().copied()))
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|r| from_row(r).map(|a| (a.record_id.clone(), a)))
        .collect()
}

/// Carry-overs of many (professional, year) pairs at once, as
/// [`crate::store::years::carry_over`]: `(points, closed)` per pair asked
/// (pairs with no points are absent: 0, open).
pub async fn carry_overs(
    db: &impl ConnectionTrait,
    professionals: &[&str],
    years: &[i32],
) -> ServiceResult<HashMap<(String, i32), (Tenths, bool)>> {
    let marks = |n: usize| vec!["?"; n].join(", ");
    let (p, y) = (marks(professionals.len()), marks(years.len()));
    let sql = format!(
        "SELECT professional_id, year, points, 1 AS closed FROM annual_results \
         WHERE professional_id IN ({p}) AND year IN ({y}) \
         UNION ALL \
         SELECT professional_id, year, points, 0 FROM year_totals \
         WHERE professional_id IN ({p}) AND year IN ({y})"
    );
    let mut values: Vec<sea_orm::Value> = Vec::new();
    for _ in 0..2 {
        values.extend(professionals.iter().map(|p| sea_orm::Value::from(*p)));
        values.extend(years.iter().map(|y| sea_orm::Value::from(*y)));
    }
    let mut found: HashMap<(String, i32), (Tenths, bool)> = HashMap::new();
    for r in db.query_all_raw(kit::db::statement(db, &sql, values)).await? {
        let key = (r.try_get_by_index::<String>(0)?, r.try_get_by_index::<i32>(1)?);
        let points: i64 = r.try_get_by_index(2)?;
        let closed = r.try_get_by_index::<i32>(3)? == 1;
        // A closed total wins over the live balance.
        let entry = found.entry(key).or_insert((points, closed));
        if closed {
            *entry = (points, true);
        }
    }
    Ok(found)
}

/// Moves a record's net points by `delta` (an admin's reversal of its award).
pub async fn add_points(db: &impl ConnectionTrait, first_entry_id: &str, delta: Tenths) -> ServiceResult<()> {
    let update = Query::update()
        .table("record_awards")
        .value("points", Expr::col("points").add(delta))
        .and_where(Expr::col("first_entry_id").eq(first_entry_id))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}
