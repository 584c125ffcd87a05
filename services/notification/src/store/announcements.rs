//! Announcements, and their copies in readers' inboxes. Identity, not
//! notification, knows who holds which role where, so an announcement is not
//! fanned out when published: each reader's inbox takes in the published
//! announcements that reach them when they open it ([`sync_inbox`]), once
//! (the inbox's unique (source, recipient)), and loses withdrawn ones.

use crate::domain::announcements::{self, Draft};
use crate::domain::templates;
use crate::store::inbox;
use chrono::{DateTime, Utc};
use kit::ServiceResult;
use kit::auth::{Principal, Role};
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, QueryResult};

#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    pub id: String,
    pub region_code: String,
    pub roles: Vec<String>,
    pub title: String,
    pub body: String,
    /// draft, published or withdrawn
    pub state: String,
    pub author_id: String,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub withdrawn_at: Option<DateTime<Utc>>,
    pub withdraw_reason: String,
}

fn from_row(r: &QueryResult) -> ServiceResult<Announcement> {
    Ok(Announcement {
        id: r.try_get("", "id")?,
        region_code: r.try_get("", "region_code")?,
        roles: kit::db::from_json(&r.try_get::<String>("", "roles")?)?,
        title: r.try_get("", "title")?,
        body: r.try_get("", "body")?,
        state: r.try_get("", "state")?,
        author_id: r.try_get("", "author_id")?,
        created_at: r.try_get("", "created_at")?,
        published_at: r.try_get("", "published_at")?,
        withdrawn_at: r.try_get("", "withdrawn_at")?,
        withdraw_reason: r.try_get("", "withdraw_reason")?,
    })
}

/// The inbox source of an announcement's copies.
pub fn source(id: &str) -> String {
    format!("announcement:{id}")
}

pub async fn create(
    db: &impl ConnectionTrait,
    author: &str,
    d: &Draft,
    now: DateTime<Utc>,
) -> ServiceResult<Announcement> {
    let a = Announcement {
        id: uuid::Uuid::now_v7().to_string(),
        region_code: d.region.to_string(),
        roles: d.roles.iter().map(|r| r.as_str().to_string()).collect(),
        title: d.title.clone(),
        body: d.body.clone(),
        state: "draft".into(),
        author_id: author.into(),
        created_at: now,
        published_at: None,
        withdrawn_at: None,
        withdraw_reason: String::new(),
    };
    let insert = Query::insert()
        .into_table("announcements")
        .columns([
            "id",
            "region_code",
            "roles",
            "title",
            "body",
            "state",
            "author_id",
            "created_at",
            "withdraw_reason",
        ])
        .values_panic([
            a.id.clone().into(),
            a.region_code.clone().into(),
            kit::db::to_json(&a.roles)?.into(),
            a.title.clone().into(),
            a.body.clone().into(),
            a.state.clone().into(),
            a.author_id.clone().into(),
            now.into(),
            "".into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    Ok(a)
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> ServiceResult<Option<Announcement>> {
    let select = Query::select()
        .column(Asterisk)
        .from("announcements")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    db.query_one(&select).await?.as_ref().map(from_row).transpose()
}

/// Moves an announcement from `from` to `to` (published or withdrawn);
/// false when it was not in `from`.
pub async fn transition(
    db: &impl ConnectionTrait,
    id: &str,
    from: &str,
    to: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> ServiceResult<bool> {
    let mut update = Query::update()
        .table("announcements")
        .value("state", to)
        .and_where(Expr::col("id").eq(id))
        .and_where(Expr::col("state").eq(from))
        .to_owned();
    if to == "published" {
        update.value("published_at", now);
    } else {
        update.value("withdrawn_at", now).value("withdraw_reason", reason);
    }
    let moved = db.execute(&update).await?.rows_affected() == 1;
    if moved && to == "withdrawn" {
        // Out of every inbox that took it in.
        let delete = Query::delete()
            .from_table("notifications")
            .and_where(Expr::col("source_event_id").eq(source(id)))
            .to_owned();
        db.execute(&delete).await?;
    }
    Ok(moved)
}

/// Announcements of the regions under `prefixes` ("" for all), newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    prefixes: &[String],
    state: Option<&str>,
    offset: u64,
    limit: u64,
) -> ServiceResult<Vec<Announcement>> {
    let mut select = Query::select()
        .column(Asterisk)
        .from("announcements")
        .order_by("created_at", Order::Desc)
        .order_by("id", Order::Desc)
        .limit(limit)
        .offset(offset)
        .to_owned();
    let mut scope = sea_orm::sea_query::Condition::any();
    for p in prefixes {
        scope = scope.add(kit::db::code_prefix("region_code", p));
    }
    select.cond_where(scope);
    if let Some(state) = state {
        select.and_where(Expr::col("state").eq(state));
    }
    db.query_all(&select).await?.iter().map(from_row).collect()
}

/// Takes the published announcements that reach `person` into their inbox,
/// and takes out those withdrawn since (a withdrawal racing a reader's copy).
pub async fn sync_inbox(db: &impl ConnectionTrait, person: &Principal) -> ServiceResult<()> {
    let regions = announcements::candidate_regions(person);
    if regions.is_empty() {
        return Ok(());
    }
    let select = Query::select()
        .column(Asterisk)
        .from("announcements")
        .and_where(Expr::col("state").eq("published"))
        .and_where(Expr::col("region_code").is_in(regions.iter().map(String::as_str)))
        .to_owned();
    let published: Vec<Announcement> = db
        .query_all(&select)
        .await?
        .iter()
        .map(from_row)
        .collect::<Result<_, _>>()?;
    for a in published {
        let roles: Vec<Role> = a.roles.iter().filter_map(|r| Role::parse(r)).collect();
        if !announcements::reaches(&a.region_code, &roles, person) {
            continue;
        }
        let draft = templates::Draft {
            recipient: person.account_id.clone(),
            category: "announcement",
            title: a.title.clone(),
            body: a.body.clone(),
            priority: templates::priority("announcement"),
        };
        let published = a.published_at.unwrap_or(a.created_at);
        inbox::store(db, &source(&a.id), &draft, "in_app", "", published).await?;
    }
    let withdrawn = Query::select()
        .expr(Expr::cust("'announcement:' || id"))
        .from("announcements")
        .and_where(Expr::col("state").eq("withdrawn"))
        .to_owned();
    let delete = Query::delete()
        .from_table("notifications")
        .and_where(Expr::col("recipient_id").eq(person.account_id.as_str()))
        .and_where(Expr::col("category").eq("announcement"))
        .and_where(Expr::col("source_event_id").in_subquery(withdrawn))
        .to_owned();
    db.execute(&delete).await?;
    Ok(())
}
