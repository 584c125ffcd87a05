use super::{from_json, prefix, to_json};
use chrono::{DateTime, Utc};
use kit::ServiceResult;
use sea_orm::sea_query::{Asterisk, Condition, Expr, ExprTrait, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};

/// Where a professional stands with qualification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Suspended,
    Revoked,
    Expired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Suspended => "suspended",
            Status::Revoked => "revoked",
            Status::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Status {
        match s {
            "active" => Status::Active,
            "suspended" => Status::Suspended,
            "revoked" => Status::Revoked,
            _ => Status::Expired,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Professional {
    pub account_id: String,
    pub application_id: String,
    pub real_name: String,
    pub profession: String,
    pub specialties: Vec<String>,
    pub service_regions: Vec<String>,
    pub location: Option<(f64, f64)>,
    pub employer_name: String,
    pub status: Status,
    pub status_reason: String,
    pub qualified_until: String,
    pub capacity: i32,
    pub available: bool,
    pub star_rating: f64,
    /// Listed in the federation directory other provinces see.
    pub federation_consent: bool,
    pub updated_at: DateTime<Utc>,
}

impl Professional {
    /// Whether the professional serves `code` (one of their regions contains it).
    pub fn serves(&self, code: &str) -> bool {
        self.service_regions.iter().any(|r| code.starts_with(r.as_str()))
    }
}

fn from_row(row: &QueryResult) -> ServiceResult<Professional> {
    let lon: Option<f64> = row.try_get("", "lon")?;
    let lat: Option<f64> = row.try_get("", "lat")?;
    let status: String = row.try_get("", "status")?;
    Ok(Professional {
        account_id: row.try_get("", "account_id")?,
        application_id: row.try_get("", "application_id")?,
        real_name: row.try_get("", "real_name")?,
        profession: row.try_get("", "profession")?,
        specialties: from_json(&row.try_get::<String>("", "specialties")?)?,
        service_regions: from_json(&row.try_get::<String>("", "service_regions")?)?,
        location: lon.zip(lat),
        employer_name: row.try_get("", "employer_name")?,
        status: Status::parse(&status),
        status_reason: row.try_get("", "status_reason")?,
        qualified_until: row.try_get("", "qualified_until")?,
        capacity: row.try_get("", "capacity")?,
        available: row.try_get("", "available")?,
        star_rating: row.try_get("", "star_rating")?,
        federation_consent: row.try_get("", "federation_consent")?,
        updated_at: row.try_get("", "updated_at")?,
    })
}

pub async fn find(db: &impl ConnectionTrait, account_id: &str) -> ServiceResult<Option<Professional>> {
    let select = Query::select()
        .column(Asterisk)
        .from("professionals")
        .and_where(Expr::col("account_id").eq(account_id))
        .to_owned();
    db.query_one(&select).await?.as_ref().map(from_row).transpose()
}

/// The columns of a professional's row.
const COLUMNS: [&str; 17] = [
    "account_id",
    "application_id",
    "real_name",
    "profession",
    "specialties",
    "service_regions",
    "lon",
    "lat",
    "employer_name",
    "status",
    "status_reason",
    "qualified_until",
    "capacity",
    "available",
    "star_rating",
    "federation_consent",
    "updated_at",
];

/// Inserts new professionals with everything they have (bulk loads, many
/// rows per statement); [`upsert_qualified`] is the way one enters or
/// re-enters from qualification's events.
pub async fn insert_many(db: &impl ConnectionTrait, professionals: &[Professional]) -> Result<(), DbErr> {
    let size = |p: &Professional| {
        256 + p.real_name.len() + p.employer_name.len() + 40 * (p.specialties.len() + p.service_regions.len())
    };
    for chunk in kit::db::chunks_by_width(professionals, COLUMNS.len(), size) {
        let mut insert = Query::insert();
        insert.into_table("professionals").columns(COLUMNS);
        for p in chunk {
            insert.values_panic([
                p.account_id.clone().into(),
                p.application_id.clone().into(),
                p.real_name.clone().into(),
                p.profession.clone().into(),
                to_json(&p.specialties)?.into(),
                to_json(&p.service_regions)?.into(),
                p.location.map(|l| l.0).into(),
                p.location.map(|l| l.1).into(),
                p.employer_name.clone().into(),
                p.status.as_str().into(),
                p.status_reason.clone().into(),
                p.qualified_until.clone().into(),
                p.capacity.into(),
                p.available.into(),
                p.star_rating.into(),
                p.federation_consent.into(),
                p.updated_at.into(),
            ]);
        }
        db.execute(&insert).await?;
    }
    let regions: Vec<(&str, &str)> = professionals
        .iter()
        .flat_map(|p| {
            let mut codes: Vec<&str> = p.service_regions.iter().map(String::as_str).collect();
            codes.sort_unstable();
            codes.dedup();
            codes.into_iter().map(move |code| (p.account_id.as_str(), code))
        })
        .collect();
    for chunk in kit::db::chunks_by_width(&regions, 2, |_| 64) {
        let mut insert = Query::insert();
        insert
            .into_table("professional_regions")
            .columns(["account_id", "region_code"]);
        for (account_id, code) in chunk {
            insert.values_panic([(*account_id).into(), (*code).into()]);
        }
        db.execute(&insert).await?;
    }
    Ok(())
}

/// Inserts or replaces the qualification part of a professional, keeping
/// what they set themselves (capacity, availability) and their rating.
pub async fn upsert_qualified(db: &impl ConnectionTrait, p: &Professional) -> Result<(), DbErr> {
    let existing = Query::select()
        .columns(["capacity", "available", "star_rating"])
        .from("professionals")
        .and_where(Expr::col("account_id").eq(p.account_id.clone()))
        .to_owned();
    let (capacity, available, rating) = match db.query_one(&existing).await? {
        Some(row) => (
            row.try_get::<i32>("", "capacity")?,
            row.try_get::<bool>("", "available")?,
            row.try_get::<f64>("", "star_rating")?,
        ),
        None => (p.capacity, p.available, p.star_rating),
    };
    db.execute(
        &Query::delete()
            .from_table("professionals")
            .and_where(Expr::col("account_id").eq(p.account_id.clone()))
            .to_owned(),
    )
    .await?;
    let (lon, lat) = (p.location.map(|l| l.0), p.location.map(|l| l.1));
    let insert = Query::insert()
        .into_table("professionals")
        .columns(COLUMNS)
        .values_panic([
            p.account_id.clone().into(),
            p.application_id.clone().into(),
            p.real_name.clone().into(),
            p.profession.clone().into(),
            to_json(&p.specialties)?.into(),
            to_json(&p.service_regions)?.into(),
            lon.into(),
            lat.into(),
            p.employer_name.clone().into(),
            p.status.as_str().into(),
            p.status_reason.clone().into(),
            p.qualified_until.clone().into(),
            capacity.into(),
            available.into(),
            rating.into(),
            p.federation_consent.into(),
            Utc::now().into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    db.execute(
        &Query::delete()
            .from_table("professional_regions")
            .and_where(Expr::col("account_id").eq(p.account_id.clone()))
            .to_owned(),
    )
    .await?;
    let mut regions = p.service_regions.clone();
    regions.sort();
    regions.dedup();
    if !regions.is_empty() {
        let mut insert = Query::insert()
            .into_table("professional_regions")
            .columns(["account_id", "region_code"])
            .to_owned();
        for r in regions {
            insert.values_panic([p.account_id.clone().into(), r.into()]);
        }
        db.execute(&insert).await?;
    }
    Ok(())
}

/// The professional's star rating from incentive's last closed year.
/// Sets the star ratings of a year's closing, `(account id, stars)`, one
/// statement per star level and chunk; returns how many professionals were
/// known (and so updated).
pub async fn set_star_ratings(db: &impl ConnectionTrait, ratings: &[(&str, i32)]) -> Result<u64, DbErr> {
    let now = Utc::now();
    let mut updated = 0;
    for level in 0..=5 {
        let ids: Vec<&str> = ratings.iter().filter(|r| r.1 == level).map(|r| r.0).collect();
        for chunk in ids.chunks(kit::db::MAX_STATEMENT_ROWS) {
            let update = Query::update()
                .table("professionals")
                .value("star_rating", f64::from(level))
                .value("updated_at", now)
                .and_where(Expr::col("account_id").is_in(chunk.iter().copied()))
                .to_owned();
            updated += db.execute(&update).await?.rows_affected();
        }
    }
    Ok(updated)
}

pub async fn set_status(
    db: &impl ConnectionTrait,
    account_id: &str,
    status: Status,
    reason: &str,
    qualified_until: Option<&str>,
) -> Result<bool, DbErr> {
    let mut update = Query::update()
        .table("professionals")
        .value("status", status.as_str())
        .value("status_reason", reason)
        .value("updated_at", Utc::now())
        .and_where(Expr::col("account_id").eq(account_id))
        .to_owned();
    if let Some(until) = qualified_until {
        update.value("qualified_until", until);
    }
    Ok(db.execute(&update).await?.rows_affected() > 0)
}

/// Whether the professional is listed in the federation directory.
pub async fn set_federation_consent(db: &impl ConnectionTrait, account_id: &str, consent: bool) -> Result<(), DbErr> {
    let update = Query::update()
        .table("professionals")
        .value("federation_consent", consent)
        .value("updated_at", Utc::now())
        .and_where(Expr::col("account_id").eq(account_id))
        .to_owned();
    db.execute(&update).await.map(|_| ())
}

pub async fn set_availability(
    db: &impl ConnectionTrait,
    account_id: &str,
    capacity: i32,
    available: bool,
) -> Result<(), DbErr> {
    let update = Query::update()
        .table("professionals")
        .value("capacity", capacity)
        .value("available", available)
        .value("updated_at", Utc::now())
        .and_where(Expr::col("account_id").eq(account_id))
        .to_owned();
    db.execute(&update).await.map(|_| ())
}

#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Professionals serving a region within one of these prefixes, or
    /// serving a region that contains one of them (a district-wide
    /// professional serves every street of it). Empty list: nothing.
    pub scopes: Vec<String>,
    /// Serving this region (or a part of it); "" for no restriction.
    pub region: String,
    pub profession: String,
    pub active_only: bool,
    pub available_only: bool,
}

/// `region_code` within `code`, or containing it.
fn overlaps(code: &str) -> Condition {
    if code.is_empty() {
        return Condition::all();
    }
    let mut containing = Condition::any().add(prefix("region_code", code));
    for len in [2, 4, 6, 9, 12] {
        if len < code.len() {
            containing = containing.add(Expr::col("region_code").eq(&code[..len]));
        }
    }
    containing
}

fn filtered(filter: &Filter) -> SelectStatement {
    let mut scopes = Condition::any();
    for s in &filter.scopes {
        scopes = scopes.add(overlaps(s));
    }
    if filter.scopes.is_empty() {
        scopes = scopes.add(Expr::value(false));
    }
    let regions = Query::select()
        .column("account_id")
        .from("professional_regions")
        .cond_where(scopes)
        .cond_where(overlaps(&filter.region))
        .to_owned();
    let mut select = Query::select()
        .from("professionals")
        .and_where(Expr::col("account_id").in_subquery(regions))
        .to_owned();
    if !filter.profession.is_empty() {
        select.and_where(Expr::col("profession").eq(filter.profession.clone()));
    }
    if filter.active_only {
        select.and_where(Expr::col("status").eq(Status::Active.as_str()));
    }
    if filter.available_only {
        select.and_where(Expr::col("available").eq(true));
    }
    select
}

pub async fn count(db: &impl ConnectionTrait, filter: &Filter) -> ServiceResult<i64> {
    let select = filtered(filter).expr(Expr::cust("COUNT(*)")).to_owned();
    let row = db.query_one(&select).await?;
    Ok(row.map(|r| r.try_get_by_index::<i64>(0)).transpose()?.unwrap_or(0))
}

pub async fn list(
    db: &impl ConnectionTrait,
    filter: &Filter,
    offset: u64,
    size: u64,
) -> ServiceResult<Vec<Professional>> {
    let select = filtered(filter)
        .column(Asterisk)
        .order_by("account_id", Order::Asc)
        .limit(size + 1)
        .offset(offset)
        .to_owned();
    db.query_all(&select).await?.iter().map(from_row).collect()
}

pub async fn all(db: &impl ConnectionTrait, filter: &Filter) -> ServiceResult<Vec<Professional>> {
    let select = filtered(filter)
        .column(Asterisk)
        .order_by("account_id", Order::Asc)
        .to_owned();
    db.query_all(&select).await?.iter().map(from_row).collect()
}

/// What the federation directory is searched by.
#[derive(Debug, Default, Clone)]
pub struct DirectoryFilter {
    /// One profession; with `other_professions`, any but these three.
    pub profession: String,
    pub other_professions: bool,
    pub specialty: String,
    pub min_stars: i32,
}

/// Active professionals who consented to the federation directory, by
/// account id (a page of `size`, plus one to tell whether more follow).
pub async fn directory(
    db: &impl ConnectionTrait,
    filter: &DirectoryFilter,
    offset: u64,
    size: u64,
) -> ServiceResult<Vec<Professional>> {
    let mut select = Query::select()
        .column(Asterisk)
        .from("professionals")
        .and_where(Expr::col("federation_consent").eq(true))
        .and_where(Expr::col("status").eq(Status::Active.as_str()))
        .order_by("account_id", Order::Asc)
        .limit(size + 1)
        .offset(offset)
        .to_owned();
    if filter.other_professions {
        select.and_where(Expr::col("profession").is_not_in(["planner", "architect", "engineer"]));
    } else if !filter.profession.is_empty() {
        select.and_where(Expr::col("profession").eq(filter.profession.clone()));
    }
    if !filter.specialty.is_empty() {
        // Specialties are a JSON array of strings: match one element whole.
        let element = to_json(&filter.specialty)?;
        select.and_where(kit::db::contains("specialties", &element));
    }
    if filter.min_stars > 0 {
        select.and_where(Expr::col("star_rating").gte(f64::from(filter.min_stars)));
    }
    db.query_all(&select).await?.iter().map(from_row).collect()
}
