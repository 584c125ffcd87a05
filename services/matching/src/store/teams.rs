use super::prefix;
use crate::domain::team::{MemberRole, TeamKind};
use chrono::{DateTime, Utc};
use kit::{ServiceError, ServiceResult};
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};

#[derive(Debug, Clone)]
pub struct Member {
    pub account_id: String,
    pub display_name: String,
    pub role: MemberRole,
    pub resident: bool,
    pub joined_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Team {
    pub id: String,
    pub kind: TeamKind,
    pub name: String,
    pub region_code: String,
    pub region_name: String,
    pub parent_id: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub members: Vec<Member>,
}

fn from_row(row: &QueryResult) -> ServiceResult<Team> {
    let kind: String = row.try_get("", "kind")?;
    Ok(Team {
        id: row.try_get("", "id")?,
        kind: TeamKind::parse(&kind)
            .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("unknown team kind {kind}")))?,
        name: row.try_get("", "name")?,
        region_code: row.try_get("", "region_code")?,
        region_name: row.try_get("", "region_name")?,
        parent_id: row.try_get("", "parent_id")?,
        created_by: row.try_get("", "created_by")?,
        created_at: row.try_get("", "created_at")?,
        members: Vec::new(),
    })
}

/// Inserts a team; false when a team of a one-per-region kind already exists there.
pub async fn insert(db: &impl ConnectionTrait, t: &Team) -> Result<bool, DbErr> {
    let unique_key = t
        .kind
        .one_per_region()
        .then(|| format!("{}:{}", t.kind.as_str(), t.region_code));
    if let Some(key) = &unique_key {
        let exists = Query::select()
            .column("id")
            .from("teams")
            .and_where(Expr::col("unique_key").eq(key.clone()))
            .to_owned();
        if db.query_one(&exists).await?.is_some() {
            return Ok(false);
        }
    }
    let insert = Query::insert()
        .into_table("teams")
        .columns([
            "id",
            "kind",
            "name",
            "region_code",
            "region_name",
            "parent_id",
            "unique_key",
            "created_by",
            "created_at",
        ])
        .values_panic([
            t.id.clone().into(),
            t.kind.as_str().into(),
            t.name.clone().into(),
            t.region_code.clone().into(),
            t.region_name.clone().into(),
            t.parent_id.clone().into(),
            unique_key.into(),
            t.created_by.clone().into(),
            t.created_at.into(),
        ])
        .to_owned();
    db.execute(&insert).await.map(|_| true)
}

async fn members(db: &impl ConnectionTrait, team_id: &str) -> ServiceResult<Vec<Member>> {
    let select = Query::select()
        .column(Asterisk)
        .from("team_members")
        .and_where(Expr::col("team_id").eq(team_id))
        .order_by("joined_at", Order::Asc)
        .order_by("account_id", Order::Asc)
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|row| {
            let role: String = row.try_get("", "role")?;
            Ok(Member {
                account_id: row.try_get("", "account_id")?,
                display_name: row.try_get("", "display_name")?,
                role: MemberRole::parse(&role).unwrap_or(MemberRole::Member),
                resident: row.try_get("", "resident")?,
                joined_at: row.try_get("", "joined_at")?,
            })
        })
        .collect()
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> ServiceResult<Option<Team>> {
    let select = Query::select()
        .column(Asterisk)
        .from("teams")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    let Some(row) = db.query_one(&select).await? else {
        return Ok(None);
    };
    let mut team = from_row(&row)?;
    team.members = members(db, id).await?;
    Ok(Some(team))
}

pub async fn add_member(db: &impl ConnectionTrait, team_id: &str, m: &Member) -> Result<bool, DbErr> {
    let exists = Query::select()
        .column("account_id")
        .from("team_members")
        .and_where(Expr::col("team_id").eq(team_id))
        .and_where(Expr::col("account_id").eq(m.account_id.clone()))
        .to_owned();
    if db.query_one(&exists).await?.is_some() {
        return Ok(false);
    }
    let insert = Query::insert()
        .into_table("team_members")
        .columns(["team_id", "account_id", "display_name", "role", "resident", "joined_at"])
        .values_panic([
            team_id.into(),
            m.account_id.clone().into(),
            m.display_name.clone().into(),
            m.role.as_str().into(),
            m.resident.into(),
            m.joined_at.into(),
        ])
        .to_owned();
    db.execute(&insert).await.map(|_| true)
}

pub async fn remove_member(db: &impl ConnectionTrait, team_id: &str, account_id: &str) -> Result<bool, DbErr> {
    let delete = Query::delete()
        .from_table("team_members")
        .and_where(Expr::col("team_id").eq(team_id))
        .and_where(Expr::col("account_id").eq(account_id))
        .to_owned();
    Ok(db.execute(&delete).await?.rows_affected() > 0)
}

/// Teams whose region is within `region` and within one of `prefixes`.
pub async fn list(
    db: &impl ConnectionTrait,
    prefixes: &[String],
    region: &str,
    kind: Option<TeamKind>,
    offset: u64,
    size: u64,
) -> ServiceResult<Vec<Team>> {
    let mut visible = sea_orm::sea_query::Condition::any().add(Expr::value(false));
    for p in prefixes {
        visible = visible.add(prefix("region_code", p));
    }
    let mut select = Query::select()
        .column(Asterisk)
        .from("teams")
        .cond_where(visible)
        .and_where(prefix("region_code", region))
        .order_by("region_code", Order::Asc)
        .order_by("created_at", Order::Asc)
        .limit(size + 1)
        .offset(offset)
        .to_owned();
    if let Some(kind) = kind {
        select.and_where(Expr::col("kind").eq(kind.as_str()));
    }
    let mut teams: Vec<Team> = db
        .query_all(&select)
        .await?
        .iter()
        .map(from_row)
        .collect::<ServiceResult<_>>()?;
    for team in &mut teams {
        team.members = members(db, &team.id).await?;
    }
    Ok(teams)
}

/// Whether `account_id` is a member of team `team_id`.
pub async fn is_member(db: &impl ConnectionTrait, team_id: &str, account_id: &str) -> ServiceResult<bool> {
    let select = Query::select()
        .column("account_id")
        .from("team_members")
        .and_where(Expr::col("team_id").eq(team_id))
        .and_where(Expr::col("account_id").eq(account_id))
        .to_owned();
    Ok(db.query_one(&select).await?.is_some())
}

/// Names of the teams `account_id` belongs to, by name.
pub async fn names_of_member(db: &impl ConnectionTrait, account_id: &str) -> ServiceResult<Vec<String>> {
    let members = Query::select()
        .column("team_id")
        .from("team_members")
        .and_where(Expr::col("account_id").eq(account_id))
        .to_owned();
    let select = Query::select()
        .column("name")
        .from("teams")
        .and_where(Expr::col("id").in_subquery(members))
        .order_by("name", Order::Asc)
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|r| Ok(r.try_get_by_index::<String>(0)?))
        .collect()
}
