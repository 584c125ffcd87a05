//! Closed years: the roll-over's progress (`year_closings`) and each
//! professional's results (`annual_results`): the annual total carried into
//! the next year's progressive bonus, services, satisfaction, standing and
//! the star rating, whose history these rows are.

use crate::domain::Tenths;
use crate::domain::stars::{StarRules, YearResults};
use chrono::{DateTime, Utc};
use kit::ServiceResult;
use kit::db::statement;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Order, Query};
use sea_orm::{ConnectionTrait, QueryResult};

#[derive(Debug, Clone, PartialEq)]
pub struct Closing {
    pub year: i32,
    /// "running" or "done".
    pub state: String,
    pub started_by: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

pub async fn closing(db: &impl ConnectionTrait, year: i32) -> ServiceResult<Option<Closing>> {
    let select = Query::select()
        .columns(["year", "state", "started_by", "started_at", "finished_at"])
        .from("year_closings")
        .and_where(Expr::col("year").eq(year))
        .to_owned();
    let Some(r) = db.query_one(&select).await? else {
        return Ok(None);
    };
    Ok(Some(Closing {
        year: r.try_get("", "year")?,
        state: r.try_get("", "state")?,
        started_by: r.try_get("", "started_by")?,
        started_at: r.try_get("", "started_at")?,
        finished_at: r.try_get("", "finished_at")?,
    }))
}

/// Starts closing `year` unless it was started before; returns whether this call started it.
pub async fn start(db: &impl ConnectionTrait, year: i32, actor: &str, now: DateTime<Utc>) -> ServiceResult<bool> {
    let insert = Query::insert()
        .into_table("year_closings")
        .columns(["year", "state", "started_by", "started_at"])
        .values_panic([year.into(), "running".into(), actor.into(), now.into()])
        .on_conflict(OnConflict::column("year").do_nothing().to_owned())
        .to_owned();
    Ok(db.execute(&insert).await?.rows_affected() == 1)
}

/// Years whose closing was started and not finished (to resume at start-up).
pub async fn unfinished(db: &impl ConnectionTrait) -> ServiceResult<Vec<i32>> {
    let select = Query::select()
        .column("year")
        .from("year_closings")
        .and_where(Expr::col("state").eq("running"))
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|r| Ok(r.try_get("", "year")?))
        .collect()
}

/// The last closed year, if any.
pub async fn last_closed(db: &impl ConnectionTrait) -> ServiceResult<Option<i32>> {
    let select = Query::select()
        .expr(Expr::col("year").max())
        .from("year_closings")
        .and_where(Expr::col("state").eq("done"))
        .to_owned();
    Ok(match db.query_one(&select).await? {
        Some(r) => r.try_get_by_index::<Option<i32>>(0)?,
        None => None,
    })
}

/// The star level a row's figures reach, as SQL over `points`, `services`,
/// `rated`, `milli` and `lapsed` expressions: the same rule as
/// [`crate::domain::stars::rate`], so that a batch needs no row-by-row pass.
fn stars_case(rules: &StarRules, points: &str, services: &str, rated: &str, milli: &str, lapsed: &str) -> String {
    let mut sql = format!("CASE WHEN {lapsed} THEN 0");
    for level in &rules.levels {
        sql.push_str(&format!(
            " WHEN {points} >= {} AND {services} >= {}",
            level.min_points, level.min_services
        ));
        let min = level.min_satisfaction_milli();
        if min > 0 {
            sql.push_str(&format!(" AND {rated} > 0 AND {milli} >= {min} * {rated}"));
        }
        sql.push_str(&format!(" THEN {}", level.stars));
    }
    sql.push_str(" ELSE 0 END");
    sql
}

/// The roll-over's main step: writes every professional's results for
/// `year` in one statement, from the running `year_totals` the database
/// keeps as entries and records are written, and returns the rows written.
/// Run it in the transaction that holds [`lock`]; the year must have no
/// results yet.
pub async fn aggregate(db: &impl ConnectionTrait, year: i32, rules: &StarRules) -> ServiceResult<Vec<AnnualResult>> {
    let points = "CAST(COALESCE(t.points, 0) AS BIGINT)";
    let services = "CAST(COALESCE(t.services, 0) AS INTEGER)";
    let rated = "CAST(COALESCE(t.rated_services, 0) AS INTEGER)";
    let milli = "CAST(COALESCE(t.satisfaction_milli, 0) AS BIGINT)";
    let lapsed = "s.professional_id IS NOT NULL";
    let stars = stars_case(rules, points, services, rated, milli, lapsed);
    // Rows go in in key order, so each index page is filled once rather than
    // visited at random; ids are ASCII, so byte order is key order, and
    // PostgreSQL sorts bytes several times faster than by a locale.
    let order_collation = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => " COLLATE \"C\"",
        _ => "",
    };
    // Everyone known, everyone with points or services this year, and
    // everyone rated last year (whose stars may lapse to none).
    let sql = format!(
        "WITH ids AS (SELECT account_id AS id FROM professionals \
                      UNION SELECT professional_id FROM year_totals WHERE year = ? \
                      UNION SELECT professional_id FROM annual_results WHERE year = ?) \
         INSERT INTO annual_results (professional_id, year, points, services, rated_services, \
         satisfaction_milli, in_good_standing, previous_stars, stars) \
         SELECT ids.id, ?, {points}, {services}, {rated}, {milli}, s.professional_id IS NULL, \
         COALESCE(p.stars, 0), {stars} \
         FROM ids \
         LEFT JOIN year_totals t ON t.professional_id = ids.id AND t.year = ? \
         LEFT JOIN standing_lapses s ON s.professional_id = ids.id AND s.year = ? \
         LEFT JOIN annual_results p ON p.professional_id = ids.id AND p.year = ? \
         ORDER BY ids.id{order_collation} \
         RETURNING {}",
        RESULT_COLUMNS.join(", ")
    );
    let values = vec![
        year.into(),
        (year - 1).into(),
        year.into(),
        year.into(),
        year.into(),
        (year - 1).into(),
    ];
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        // The joins' row estimates can be far off, which makes PostgreSQL
        // spend longer compiling the statement (JIT) than running it;
        // `SET LOCAL` ends with the transaction.
        kit::db::execute(db, "SET LOCAL jit = off").await?;
        // The set of professionals is sorted in memory (≈ 10 MB at 100,000)
        // instead of on disk.
        kit::db::execute(db, "SET LOCAL work_mem = '64MB'").await?;
    }
    let written = db.query_all_raw(statement(db, &sql, values)).await?;
    written.iter().map(result_from_row).collect()
}

/// A professional's closed year.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnualResult {
    pub professional_id: String,
    pub year: i32,
    pub results: YearResults,
    pub previous_stars: i32,
    pub stars: i32,
}

fn result_from_row(r: &QueryResult) -> ServiceResult<AnnualResult> {
    Ok(AnnualResult {
        professional_id: r.try_get("", "professional_id")?,
        year: r.try_get("", "year")?,
        results: YearResults {
            points: r.try_get("", "points")?,
            services: r.try_get("", "services")?,
            rated_services: r.try_get("", "rated_services")?,
            satisfaction_milli: r.try_get("", "satisfaction_milli")?,
            in_good_standing: r.try_get("", "in_good_standing")?,
        },
        previous_stars: r.try_get("", "previous_stars")?,
        stars: r.try_get("", "stars")?,
    })
}

const RESULT_COLUMNS: [&str; 9] = [
    "professional_id",
    "year",
    "points",
    "services",
    "rated_services",
    "satisfaction_milli",
    "in_good_standing",
    "previous_stars",
    "stars",
];

/// Takes `year`'s closing row for the rest of the transaction (a second
/// closing of the same year waits here until this one ends) and returns it.
pub async fn lock(db: &impl ConnectionTrait, year: i32) -> ServiceResult<Option<Closing>> {
    let update = Query::update()
        .table("year_closings")
        .value("state", Expr::col("state"))
        .and_where(Expr::col("year").eq(year))
        .to_owned();
    db.execute(&update).await?;
    closing(db, year).await
}

pub async fn finish(db: &impl ConnectionTrait, year: i32, now: DateTime<Utc>) -> ServiceResult<()> {
    let update = Query::update()
        .table("year_closings")
        .value("state", "done")
        .value("finished_at", now)
        .and_where(Expr::col("year").eq(year))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub professionals: i64,
    pub upgraded: i64,
    pub downgraded: i64,
    pub total_points: Tenths,
}

pub async fn summary(db: &impl ConnectionTrait, year: i32) -> ServiceResult<Summary> {
    let sql = "SELECT CAST(COUNT(*) AS BIGINT), \
               CAST(COALESCE(SUM(CASE WHEN stars > previous_stars THEN 1 ELSE 0 END), 0) AS BIGINT), \
               CAST(COALESCE(SUM(CASE WHEN stars < previous_stars THEN 1 ELSE 0 END), 0) AS BIGINT), \
               CAST(COALESCE(SUM(points), 0) AS BIGINT) FROM annual_results WHERE year = ?";
    let Some(r) = db.query_one_raw(statement(db, sql, vec![year.into()])).await? else {
        return Ok(Summary::default());
    };
    Ok(Summary {
        professionals: r.try_get_by_index(0)?,
        upgraded: r.try_get_by_index(1)?,
        downgraded: r.try_get_by_index(2)?,
        total_points: r.try_get_by_index(3)?,
    })
}

pub async fn result(db: &impl ConnectionTrait, professional: &str, year: i32) -> ServiceResult<Option<AnnualResult>> {
    let select = Query::select()
        .columns(RESULT_COLUMNS)
        .from("annual_results")
        .and_where(Expr::col("professional_id").eq(professional))
        .and_where(Expr::col("year").eq(year))
        .to_owned();
    db.query_one(&select).await?.as_ref().map(result_from_row).transpose()
}

/// Everyone rated at least one star in `year`: professional → (stars, points).
pub async fn rated(
    db: &impl ConnectionTrait,
    year: i32,
) -> ServiceResult<std::collections::HashMap<String, (i32, Tenths)>> {
    let select = Query::select()
        .columns(["professional_id", "stars", "points"])
        .from("annual_results")
        .and_where(Expr::col("year").eq(year))
        .and_where(Expr::col("stars").gt(0))
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("", "professional_id")?,
                (r.try_get("", "stars")?, r.try_get("", "points")?),
            ))
        })
        .collect()
}

/// A professional's closed years, newest first: the star history.
pub async fn history(db: &impl ConnectionTrait, professional: &str) -> ServiceResult<Vec<AnnualResult>> {
    let select = Query::select()
        .columns(RESULT_COLUMNS)
        .from("annual_results")
        .and_where(Expr::col("professional_id").eq(professional))
        .order_by("year", Order::Desc)
        .to_owned();
    db.query_all(&select).await?.iter().map(result_from_row).collect()
}

/// The points carried over from `year` into the next year's progressive
/// bonus: the closed annual total, or while the year is open its live balance.
pub async fn carry_over(db: &impl ConnectionTrait, professional: &str, year: i32) -> ServiceResult<Tenths> {
    match result(db, professional, year).await? {
        Some(closed) => Ok(closed.results.points),
        None => crate::store::ledger::balance(db, professional, Some(year)).await,
    }
}

/// Stars of `year` counted per home district (or per home street inside a
/// district): `(region code, counts[0..=5])`. `region` is "50"-style city
/// code or a 6-digit district.
pub async fn star_distribution(
    db: &impl ConnectionTrait,
    year: i32,
    region: &str,
) -> ServiceResult<Vec<(String, [i32; 6])>> {
    // The home region is the first of the professional's service regions;
    // the JSON array starts `["<code>`, which narrows the rows in SQL.
    let sql = "SELECT a.stars, p.service_regions FROM annual_results a \
               JOIN professionals p ON p.account_id = a.professional_id \
               WHERE a.year = ? AND p.service_regions LIKE ?";
    let values = vec![year.into(), format!("[\"{region}%").into()];
    let rows = db.query_all_raw(statement(db, sql, values)).await?;
    let mut groups: std::collections::BTreeMap<String, [i32; 6]> = Default::default();
    let district_level = region.len() >= 6;
    for r in rows {
        let stars: i32 = r.try_get("", "stars")?;
        let regions: Vec<String> = kit::db::from_json(&r.try_get::<String>("", "service_regions")?)?;
        let Some(home) = regions.first() else { continue };
        if !home.starts_with(region) {
            continue;
        }
        let (district, street) = kit::region::district_and_street(home);
        let key = if district_level { street } else { district };
        if key.is_empty() {
            continue;
        }
        groups.entry(key).or_default()[stars.clamp(0, 5) as usize] += 1;
    }
    Ok(groups.into_iter().collect())
}

/// Professionals whose running `year_totals` for `year` disagree with their
/// ledger entries and record figures (recomputed here, a full scan): empty
/// unless the triggers that keep the totals were bypassed. For tests and
/// operators' checks.
pub async fn totals_drift(db: &impl ConnectionTrait, year: i32) -> ServiceResult<Vec<String>> {
    let sql = "WITH fresh AS (SELECT professional_id, SUM(p) AS p, SUM(s) AS s, SUM(r) AS r, SUM(m) AS m FROM ( \
                 SELECT professional_id, amount AS p, 0 AS s, 0 AS r, 0 AS m FROM ledger_entries WHERE year = ? \
                 UNION ALL SELECT professional_id, 0, 1, CASE WHEN satisfaction_milli IS NULL THEN 0 ELSE 1 END, \
                 COALESCE(satisfaction_milli, 0) FROM record_awards WHERE year = ?) d GROUP BY professional_id), \
               kept AS (SELECT * FROM year_totals WHERE year = ?) \
               SELECT COALESCE(f.professional_id, k.professional_id) AS professional_id FROM fresh f \
               LEFT JOIN kept k ON k.professional_id = f.professional_id \
               WHERE k.professional_id IS NULL OR k.points <> f.p OR k.services <> f.s \
               OR k.rated_services <> f.r OR k.satisfaction_milli <> f.m \
               UNION SELECT k.professional_id FROM kept k \
               WHERE k.professional_id NOT IN (SELECT professional_id FROM fresh) \
               AND (k.points <> 0 OR k.services <> 0)";
    let values = vec![year.into(), year.into(), year.into()];
    db.query_all_raw(statement(db, sql, values))
        .await?
        .iter()
        .map(|r| Ok(r.try_get_by_index::<String>(0)?))
        .collect()
}
