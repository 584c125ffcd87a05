use super::{from_json, prefix, to_json};
use crate::domain::community::{DEFAULT_DEMAND, Profile, Renovation};
use crate::domain::division::SeedCommunity;
use chrono::{DateTime, Utc};
use kit::ServiceResult;
use sea_orm::sea_query::{Asterisk, Condition, Expr, ExprTrait, OnConflict, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone)]
pub struct Community {
    pub code: String,
    pub name: String,
    pub street_code: String,
    pub street_name: String,
    pub district_code: String,
    pub district_name: String,
    pub lon: f64,
    pub lat: f64,
    pub location_synthetic: bool,
    pub profile: Profile,
    pub updated_at: DateTime<Utc>,
}

/// The profile as stored (tags, renovation and demand also have columns).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct StoredProfile {
    households: i32,
    year_built: i32,
    over_60_percent: i32,
    contact_name: String,
    contact_phone: String,
}

fn from_row(row: &QueryResult) -> ServiceResult<Community> {
    let stored: StoredProfile = from_json(&row.try_get::<String>("", "profile")?)?;
    let renovation: String = row.try_get("", "renovation")?;
    let tags: Vec<String> = from_json(&row.try_get::<String>("", "tags")?)?;
    Ok(Community {
        code: row.try_get("", "code")?,
        name: row.try_get("", "name")?,
        street_code: row.try_get("", "street_code")?,
        street_name: row.try_get("", "street_name")?,
        district_code: row.try_get("", "district_code")?,
        district_name: row.try_get("", "district_name")?,
        lon: row.try_get("", "lon")?,
        lat: row.try_get("", "lat")?,
        location_synthetic: row.try_get("", "location_synthetic")?,
        profile: Profile {
            households: stored.households,
            year_built: stored.year_built,
            over_60_percent: stored.over_60_percent,
            renovation: Renovation::parse(&renovation),
            tags,
            contact_name: stored.contact_name,
            contact_phone: stored.contact_phone,
            demand: row.try_get("", "demand")?,
        },
        updated_at: row.try_get("", "updated_at")?,
    })
}

pub async fn find(db: &impl ConnectionTrait, code: &str) -> ServiceResult<Option<Community>> {
    let select = Query::select()
        .column(Asterisk)
        .from("communities")
        .and_where(Expr::col("code").eq(code))
        .to_owned();
    db.query_one(&select).await?.as_ref().map(from_row).transpose()
}

/// Adds communities from division data that the table does not have yet,
/// with synthetic positions and empty profiles, as the migration seeds
/// Chongqing's; many per statement (bulk loads). A code already there keeps
/// its row. Returns how many were added.
pub async fn insert_many(db: &impl ConnectionTrait, rows: &[SeedCommunity], now: DateTime<Utc>) -> Result<u64, DbErr> {
    let mut added = 0;
    let size = |c: &SeedCommunity| 160 + c.name.len() + c.street_name.len() + c.district_name.len();
    for chunk in kit::db::chunks_by_width(rows, 12, size) {
        let mut insert = Query::insert();
        insert.into_table("communities").columns([
            "code",
            "name",
            "street_code",
            "street_name",
            "district_code",
            "district_name",
            "lon",
            "lat",
            "location_synthetic",
            "profile",
            "demand",
            "updated_at",
        ]);
        for c in chunk {
            insert.values_panic([
                c.code.clone().into(),
                c.name.clone().into(),
                c.street_code.clone().into(),
                c.street_name.clone().into(),
                c.district_code.clone().into(),
                c.district_name.clone().into(),
                c.lon.into(),
                c.lat.into(),
                true.into(),
                "{}".into(),
                DEFAULT_DEMAND.into(),
                now.into(),
            ]);
        }
        insert.on_conflict(OnConflict::column("code").do_nothing().to_owned());
        added += db.execute(&insert).await?.rows_affected();
    }
    Ok(added)
}

pub async fn save_profile(
    db: &impl ConnectionTrait,
    code: &str,
    profile: &Profile,
    location: Option<(f64, f64)>,
    by: &str,
) -> Result<(), DbErr> {
    let stored = StoredProfile {
        households: profile.households,
        year_built: profile.year_built,
        over_60_percent: profile.over_60_percent,
        contact_name: profile.contact_name.clone(),
        contact_phone: profile.contact_phone.clone(),
    };
    let mut update = Query::update()
        .table("communities")
        .value("profile", to_json(&stored)?)
        .value("renovation", profile.renovation.as_str())
        .value("tags", to_json(&profile.tags)?)
        .value("demand", profile.demand)
        .value("updated_at", Utc::now())
        .value("updated_by", by)
        .and_where(Expr::col("code").eq(code))
        .to_owned();
    if let Some((lon, lat)) = location {
        update
            .value("lon", lon)
            .value("lat", lat)
            .value("location_synthetic", false);
    }
    db.execute(&update).await.map(|_| ())
}

#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Any of these code prefixes ("" is everything); empty list: nothing.
    pub prefixes: Vec<String>,
    /// Within this code prefix.
    pub region: String,
    pub tag: String,
    pub renovation: Option<Renovation>,
    pub query: String,
}

fn filtered(filter: &Filter) -> SelectStatement {
    let mut any = Condition::any();
    for p in &filter.prefixes {
        any = any.add(prefix("code", p));
    }
    if filter.prefixes.is_empty() {
        any = any.add(Expr::value(false));
    }
    let mut select = Query::select()
        .from("communities")
        .cond_where(any)
        .and_where(prefix("code", &filter.region))
        .to_owned();
    if !filter.tag.is_empty() {
        // Tags are a JSON array of strings; the quotes make the match exact.
        let element = serde_json::Value::from(filter.tag.as_str()).to_string();
        select.and_where(kit::db::contains("tags", &element));
    }
    if let Some(r) = filter.renovation {
        select.and_where(Expr::col("renovation").eq(r.as_str()));
    }
    if !filter.query.is_empty() {
        select.and_where(kit::db::contains("name", &filter.query));
    }
    select
}

pub async fn count(db: &impl ConnectionTrait, filter: &Filter) -> ServiceResult<i64> {
    let select = filtered(filter).expr(Expr::cust("COUNT(*)")).to_owned();
    let row = db.query_one(&select).await?;
    Ok(row.map(|r| r.try_get_by_index::<i64>(0)).transpose()?.unwrap_or(0))
}

/// A page in code order.
pub async fn list(db: &impl ConnectionTrait, filter: &Filter, offset: u64, size: u64) -> ServiceResult<Vec<Community>> {
    let select = filtered(filter)
        .column(Asterisk)
        .order_by("code", Order::Asc)
        .limit(size + 1)
        .offset(offset)
        .to_owned();
    db.query_all(&select).await?.iter().map(from_row).collect()
}

/// Every community matching `filter` (recommendations and assignment).
pub async fn all(db: &impl ConnectionTrait, filter: &Filter) -> ServiceResult<Vec<Community>> {
    let select = filtered(filter)
        .column(Asterisk)
        .order_by("code", Order::Asc)
        .to_owned();
    db.query_all(&select).await?.iter().map(from_row).collect()
}

/// The name of district `code`, as its communities carry it.
pub async fn district_name(db: &impl ConnectionTrait, code: &str) -> ServiceResult<Option<String>> {
    let select = Query::select()
        .column("district_name")
        .from("communities")
        .and_where(Expr::col("district_code").eq(code))
        .limit(1)
        .to_owned();
    Ok(db
        .query_one(&select)
        .await?
        .map(|r| r.try_get_by_index::<String>(0))
        .transpose()?)
}
