//! A region's programme figures, counted in SQL.

use chrono::{DateTime, Utc};
use kit::ServiceResult;
use kit::db::statement;
use sea_orm::ConnectionTrait;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub communities: i64,
    pub covered: i64,
    /// (state, count), as stored.
    pub matches: Vec<(String, i64)>,
    pub needs: Vec<(String, i64)>,
    pub overdue_needs: i64,
}

async fn count(db: &impl ConnectionTrait, sql: &str, values: Vec<sea_orm::Value>) -> ServiceResult<i64> {
    Ok(match db.query_one_raw(statement(db, sql, values)).await? {
        Some(r) => r.try_get_by_index(0)?,
        None => 0,
    })
}

async fn by_state(
    db: &impl ConnectionTrait,
    table: &str,
    range: &(String, String),
) -> ServiceResult<Vec<(String, i64)>> {
    let sql = format!(
        "SELECT state, CAST(COUNT(*) AS BIGINT) FROM {table} WHERE community_code BETWEEN ? AND ? \
         GROUP BY state ORDER BY state"
    );
    db.query_all_raw(statement(
        db,
        &sql,
        vec![range.0.clone().into(), range.1.clone().into()],
    ))
    .await?
    .iter()
    .map(|r| Ok((r.try_get_by_index(0)?, r.try_get_by_index(1)?)))
    .collect()
}

/// The figures of the communities whose codes start with `prefix`.
pub async fn region(db: &impl ConnectionTrait, prefix: &str, now: DateTime<Utc>) -> ServiceResult<Stats> {
    // Code ranges, which the indexes on the code columns serve.
    let range = kit::db::code_range(prefix).ok_or_else(|| kit::ServiceError::invalid("region_code", "区划代码无效"))?;
    let bounds = || -> Vec<sea_orm::Value> { vec![range.0.clone().into(), range.1.clone().into()] };
    Ok(Stats {
        communities: count(
            db,
            "SELECT CAST(COUNT(*) AS BIGINT) FROM communities WHERE code BETWEEN ? AND ?",
            bounds(),
        )
        .await?,
        covered: count(
            db,
            "SELECT CAST(COUNT(DISTINCT community_code) AS BIGINT) FROM matches \
             WHERE state = 'active' AND community_code BETWEEN ? AND ?",
            bounds(),
        )
        .await?,
        matches: by_state(db, "matches", &range).await?,
        needs: by_state(db, "needs", &range).await?,
        overdue_needs: count(
            db,
            "SELECT CAST(COUNT(*) AS BIGINT) FROM needs WHERE community_code BETWEEN ? AND ? AND expected_at < ? \
             AND state NOT IN ('resolved', 'closed_not_resolved', 'duplicate', 'not_applicable')",
            [bounds(), vec![now.into()]].concat(),
        )
        .await?,
    })
}
