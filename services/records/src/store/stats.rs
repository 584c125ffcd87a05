//! A region's service visits and satisfaction, counted in SQL.

use chrono::{DateTime, Utc};
use kit::ServiceResult;
use kit::db::statement;
use sea_orm::ConnectionTrait;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub this_month: i64,
    pub this_year: i64,
    pub confirmed_this_year: i64,
    pub community_ratings: i64,
    pub community_rating_sum: i64,
    pub resident_ratings: i64,
    pub resident_rating_sum: i64,
}

/// Figures of the records of communities under `prefix` whose visits
/// started from `year_start` (and from `month_start` for the month).
pub async fn region(
    db: &impl ConnectionTrait,
    prefix: &str,
    year_start: DateTime<Utc>,
    month_start: DateTime<Utc>,
) -> ServiceResult<Stats> {
    // A code range, which the index on community_code serves.
    let (low, high) =
        kit::db::code_range(prefix).ok_or_else(|| kit::ServiceError::invalid("region_code", "区划代码无效"))?;
    let sql = "SELECT CAST(COUNT(*) AS BIGINT), \
               CAST(COALESCE(SUM(CASE WHEN start_at >= ? THEN 1 ELSE 0 END), 0) AS BIGINT), \
               CAST(COALESCE(SUM(CASE WHEN state IN ('confirmed', 'scored') THEN 1 ELSE 0 END), 0) AS BIGINT), \
               CAST(COALESCE(SUM(CASE WHEN community_rating > 0 THEN 1 ELSE 0 END), 0) AS BIGINT), \
               CAST(COALESCE(SUM(community_rating), 0) AS BIGINT) \
               FROM records WHERE community_code BETWEEN ? AND ? AND start_at >= ?";
    let values = vec![
        month_start.into(),
        low.clone().into(),
        high.clone().into(),
        year_start.into(),
    ];
    let mut s = Stats::default();
    if let Some(r) = db.query_one_raw(statement(db, sql, values)).await? {
        s.this_year = r.try_get_by_index(0)?;
        s.this_month = r.try_get_by_index(1)?;
        s.confirmed_this_year = r.try_get_by_index(2)?;
        s.community_ratings = r.try_get_by_index(3)?;
        s.community_rating_sum = r.try_get_by_index(4)?;
    }
    let sql = "SELECT CAST(COUNT(*) AS BIGINT), CAST(COALESCE(SUM(rr.rating), 0) AS BIGINT) \
               FROM resident_ratings rr JOIN records r ON r.id = rr.record_id \
               WHERE r.community_code BETWEEN ? AND ? AND r.start_at >= ?";
    if let Some(r) = db
        .query_one_raw(statement(db, sql, vec![low.into(), high.into(), year_start.into()]))
        .await?
    {
        s.resident_ratings = r.try_get_by_index(0)?;
        s.resident_rating_sum = r.try_get_by_index(1)?;
    }
    Ok(s)
}
