//! The append-only points ledger. An entry is written once and never
//! changed; a correction is a compensating entry that names the original.

use crate::domain::Tenths;
use chrono::{DateTime, Utc};
use kit::{ServiceError, ServiceResult};
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};
use std::collections::HashSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Award,
    Adjustment,
    Compensation,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Award => "award",
            Kind::Adjustment => "adjustment",
            Kind::Compensation => "compensation",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        [Kind::Award, Kind::Adjustment, Kind::Compensation]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: String,
    pub professional_id: String,
    pub source: String,
    pub kind: Kind,
    pub amount: Tenths,
    pub year: i32,
    pub rule_version: String,
    pub breakdown: String,
    /// The entry this one corrects ("" for none).
    pub compensates: String,
    pub reason: String,
    pub actor_id: String,
    pub created_at: DateTime<Utc>,
    /// Where the points were earned (the community served) or the region adjusted for.
    pub region_code: String,
}

fn from_row(r: &QueryResult) -> ServiceResult<Entry> {
    let kind: String = r.try_get("", "kind")?;
    Ok(Entry {
        id: r.try_get("", "id")?,
        professional_id: r.try_get("", "professional_id")?,
        source: r.try_get("", "source")?,
        kind: Kind::parse(&kind).ok_or_else(|| kit::ServiceError::internal(anyhow::anyhow!("unknown kind {kind}")))?,
        amount: r.try_get("", "amount")?,
        year: r.try_get("", "year")?,
        rule_version: r.try_get("", "rule_version")?,
        breakdown: r.try_get("", "breakdown")?,
        compensates: r.try_get("", "compensates")?,
        reason: r.try_get("", "reason")?,
        actor_id: r.try_get("", "actor_id")?,
        created_at: r.try_get("", "created_at")?,
        region_code: r.try_get("", "region_code")?,
    })
}

/// Appends `entry` unless its source is already in the ledger; returns
/// whether it was appended (false: the same source was awarded before).
pub async fn append(db: &impl ConnectionTrait, e: &Entry) -> Result<bool, DbErr> {
    Ok(!append_many(db, std::slice::from_ref(e)).await?.is_empty())
}

/// Appends the entries whose source is not in the ledger yet, in one
/// statement; returns the sources appended.
pub async fn append_many(db: &impl ConnectionTrait, entries: &[Entry]) -> Result<HashSet<String>, DbErr> {
    let mut appended = HashSet::new();
    let size = |e: &Entry| 160 + e.breakdown.len() + e.reason.len() + e.source.len();
    for chunk in kit::db::chunks_by_size(entries, size) {
        let mut insert = Query::insert();
        insert.into_table("ledger_entries").columns([
            "id",
            "professional_id",
            "source",
            "kind",
            "amount",
            "year",
            "rule_version",
            "breakdown",
            "compensates",
            "reason",
            "actor_id",
            "created_at",
            "region_code",
        ]);
        for e in chunk {
            insert.values_panic([
                e.id.clone().into(),
                e.professional_id.clone().into(),
                e.source.clone().into(),
                e.kind.as_str().into(),
                e.amount.into(),
                e.year.into(),
                e.rule_version.clone().into(),
                e.breakdown.clone().into(),
                e.compensates.clone().into(),
                e.reason.clone().into(),
                e.actor_id.clone().into(),
                e.created_at.into(),
                e.region_code.clone().into(),
            ]);
        }
        insert
            .on_conflict(sea_orm::sea_query::OnConflict::column("source").do_nothing().to_owned())
            .returning_col("source");
        for row in db.query_all(&insert).await? {
            appended.insert(row.try_get_by_index::<String>(0)?);
        }
    }
    Ok(appended)
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> ServiceResult<Option<Entry>> {
    let select = Query::select()
        .column(Asterisk)
        .from("ledger_entries")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    db.query_one(&select).await?.as_ref().map(from_row).transpose()
}

/// The entry of a source, if any.
pub async fn by_source(db: &impl ConnectionTrait, source: &str) -> ServiceResult<Option<Entry>> {
    let select = Query::select()
        .column(Asterisk)
        .from("ledger_entries")
        .and_where(Expr::col("source").eq(source))
        .to_owned();
    db.query_one(&select).await?.as_ref().map(from_row).transpose()
}

/// The net amount of an entry and the entries that compensate it.
pub async fn net_of(db: &impl ConnectionTrait, entry: &Entry) -> ServiceResult<Tenths> {
    let select = Query::select()
        .expr(Expr::cust("CAST(COALESCE(SUM(amount), 0) AS BIGINT)"))
        .from("ledger_entries")
        .and_where(Expr::col("compensates").eq(entry.id.as_str()))
        .to_owned();
    let compensated: i64 = match db.query_one(&select).await? {
        Some(r) => r.try_get_by_index(0)?,
        None => 0,
    };
    entry
        .amount
        .checked_add(compensated)
        .ok_or_else(|| ServiceError::internal(crate::domain::points::Overflow))
}

/// A professional's entries, oldest first (`year` None: all years).
pub async fn entries(db: &impl ConnectionTrait, professional: &str, year: Option<i32>) -> ServiceResult<Vec<Entry>> {
    let mut select = Query::select()
        .column(Asterisk)
        .from("ledger_entries")
        .and_where(Expr::col("professional_id").eq(professional))
        .order_by("created_at", Order::Asc)
        .order_by("id", Order::Asc)
        .to_owned();
    if let Some(year) = year {
        select.and_where(Expr::col("year").eq(year));
    }
    db.query_all(&select).await?.iter().map(from_row).collect()
}

/// The balance: the sum of the professional's entries (of one year, or all).
pub async fn balance(db: &impl ConnectionTrait, professional: &str, year: Option<i32>) -> ServiceResult<Tenths> {
    let mut select = Query::select()
        .expr(Expr::cust("CAST(COALESCE(SUM(amount), 0) AS BIGINT)"))
        .from("ledger_entries")
        .and_where(Expr::col("professional_id").eq(professional))
        .to_owned();
    if let Some(year) = year {
        select.and_where(Expr::col("year").eq(year));
    }
    Ok(db
        .query_one(&select)
        .await?
        .map(|r| r.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0))
}

/// A leaderboard row: points a professional earned in a region in a year.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub professional_id: String,
    pub real_name: String,
    pub profession: String,
    pub points: Tenths,
    pub services: i32,
    pub stars: i32,
}

/// Professionals ranked by points earned in `region` (its communities and itself) in
/// `year`, optionally of one profession; `stars_year` is the closed year
/// whose star ratings are shown.
pub async fn leaderboard(
    db: &impl ConnectionTrait,
    region: &str,
    profession: Option<&str>,
    year: i32,
    stars_year: i32,
    offset: u64,
    limit: u64,
) -> ServiceResult<Vec<Ranked>> {
    // The running totals per region (migration 000505) hold each
    // professional's points in `region` and its services there: a page is
    // the first rows of the `region_totals_board` index.
    let mut values: Vec<sea_orm::Value> = vec![stars_year.into(), year.into(), region.into()];
    let mut filter = String::new();
    if let Some(p) = profession {
        filter.push_str(" AND p.profession = ?");
        values.push(p.into());
    }
    let sql = format!(
        "SELECT t.professional_id, t.points, \
         COALESCE(p.real_name, '') AS real_name, COALESCE(p.profession, '') AS profession, \
         CAST(COALESCE(a.stars, 0) AS INTEGER) AS stars, t.services \
         FROM region_totals t \
         LEFT JOIN professionals p ON p.account_id = t.professional_id \
         LEFT JOIN annual_results a ON a.professional_id = t.professional_id AND a.year = ? \
         WHERE t.year = ? AND t.region_code = ? AND t.entries > 0{filter} \
         ORDER BY t.points DESC, t.professional_id \
         LIMIT {limit} OFFSET {offset}"
    );
    db.query_all_raw(kit::db::statement(db, &sql, values))
        .await?
        .iter()
        .map(|r| {
            Ok(Ranked {
                professional_id: r.try_get("", "professional_id")?,
                real_name: r.try_get("", "real_name")?,
                profession: r.try_get("", "profession")?,
                points: r.try_get("", "points")?,
                services: r.try_get("", "services")?,
                stars: r.try_get("", "stars")?,
            })
        })
        .collect()
}
