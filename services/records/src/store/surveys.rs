//! Surveys and their responses.

use super::{from_json, prefix, to_json};
use crate::domain::survey::{Answer, Question};
use chrono::{DateTime, Utc};
use kit::ServiceResult;
use sea_orm::sea_query::{Asterisk, Condition, Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};

#[derive(Debug, Clone)]
pub struct Survey {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub region_code: String,
    pub period: String,
    pub questions: Vec<Question>,
    pub opens_at: DateTime<Utc>,
    pub closes_at: Option<DateTime<Utc>>,
    pub created_by: String,
}

fn from_row(r: &QueryResult) -> ServiceResult<Survey> {
    Ok(Survey {
        id: r.try_get("", "id")?,
        kind: r.try_get("", "kind")?,
        title: r.try_get("", "title")?,
        region_code: r.try_get("", "region_code")?,
        period: r.try_get("", "period")?,
        questions: from_json(&r.try_get::<String>("", "questions")?)?,
        opens_at: r.try_get("", "opens_at")?,
        closes_at: r.try_get("", "closes_at")?,
        created_by: r.try_get("", "created_by")?,
    })
}

pub async fn insert(db: &impl ConnectionTrait, s: &Survey) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table("surveys")
        .columns([
            "id",
            "kind",
            "title",
            "region_code",
            "period",
            "questions",
            "opens_at",
            "closes_at",
            "created_by",
        ])
        .values_panic([
            s.id.clone().into(),
            s.kind.clone().into(),
            s.title.clone().into(),
            s.region_code.clone().into(),
            s.period.clone().into(),
            to_json(&s.questions)?.into(),
            s.opens_at.into(),
            s.closes_at.into(),
            s.created_by.clone().into(),
        ])
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> ServiceResult<Option<Survey>> {
    let select = Query::select()
        .column(Asterisk)
        .from("surveys")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    db.query_one(&select).await?.as_ref().map(from_row).transpose()
}

/// Surveys whose region contains `code` (a resident's community) or lies
/// within one of `prefixes` (an admin's scope).
pub async fn list(
    db: &impl ConnectionTrait,
    prefixes: &[String],
    containing: &[String],
    offset: u64,
    size: u64,
) -> ServiceResult<Vec<Survey>> {
    let mut visible = Condition::any().add(Expr::value(false));
    for p in prefixes {
        visible = visible.add(prefix("region_code", p));
    }
    for code in containing {
        for len in [2, 4, 6, 9, 12] {
            if len <= code.len() {
                visible = visible.add(Expr::col("region_code").eq(&code[..len]));
            }
        }
    }
    let select = Query::select()
        .column(Asterisk)
        .from("surveys")
        .cond_where(visible)
        .order_by("opens_at", Order::Desc)
        .order_by("id", Order::Desc)
        .limit(size + 1)
        .offset(offset)
        .to_owned();
    db.query_all(&select).await?.iter().map(from_row).collect()
}

/// Stores a response; false if the respondent already answered.
pub async fn add_response(
    db: &impl ConnectionTrait,
    survey_id: &str,
    respondent: &str,
    community: &str,
    answers: &[Answer],
) -> Result<bool, DbErr> {
    let insert = Query::insert()
        .into_table("survey_responses")
        .columns(["survey_id", "respondent_id", "community_code", "answers", "at"])
        .values_panic([
            survey_id.into(),
            respondent.into(),
            community.into(),
            to_json(&answers)?.into(),
            Utc::now().into(),
        ])
        .on_conflict(
            sea_orm::sea_query::OnConflict::columns(["survey_id", "respondent_id"])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    Ok(db.execute(&insert).await?.rows_affected() == 1)
}

pub async fn respondents(db: &impl ConnectionTrait, survey_id: &str) -> ServiceResult<i32> {
    let select = Query::select()
        .expr(Expr::cust("COUNT(*)"))
        .from("survey_responses")
        .and_where(Expr::col("survey_id").eq(survey_id))
        .to_owned();
    Ok(db
        .query_one(&select)
        .await?
        .map(|r| r.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0) as i32)
}

/// Responses `(community, answers)` of surveys `ids` from communities within `region`.
pub async fn responses(
    db: &impl ConnectionTrait,
    ids: &[String],
    region: &str,
) -> ServiceResult<Vec<(String, String, Vec<Answer>)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let select = Query::select()
        .columns(["survey_id", "community_code", "answers"])
        .from("survey_responses")
        .and_where(Expr::col("survey_id").is_in(ids.iter().cloned()))
        .and_where(prefix("community_code", region))
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("", "survey_id")?,
                r.try_get("", "community_code")?,
                from_json(&r.try_get::<String>("", "answers")?)?,
            ))
        })
        .collect()
}

/// Wellbeing surveys whose region overlaps `region` (contains it or lies within it).
pub async fn wellbeing_surveys(db: &impl ConnectionTrait, region: &str) -> ServiceResult<Vec<Survey>> {
    let mut overlap = Condition::any().add(prefix("region_code", region));
    for len in [2, 4, 6, 9, 12] {
        if len < region.len() {
            overlap = overlap.add(Expr::col("region_code").eq(&region[..len]));
        }
    }
    let select = Query::select()
        .column(Asterisk)
        .from("surveys")
        .and_where(Expr::col("kind").eq("wellbeing"))
        .cond_where(overlap)
        .to_owned();
    db.query_all(&select).await?.iter().map(from_row).collect()
}
