//! People's preferences (one row per person who changed the defaults).

use crate::domain::preferences::{Preferences, QuietHours};
use chrono::{DateTime, Utc};
use kit::ServiceResult;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, OnConflict, Query};

/// `account`'s preferences, or the defaults.
pub async fn get(db: &impl ConnectionTrait, account: &str) -> ServiceResult<Preferences> {
    let select = Query::select()
        .column(Asterisk)
        .from("preferences")
        .and_where(Expr::col("account_id").eq(account))
        .to_owned();
    let Some(r) = db.query_one(&select).await? else {
        return Ok(Preferences::default());
    };
    Ok(Preferences {
        email: r.try_get("", "email")?,
        categories: kit::db::from_json(&r.try_get::<String>("", "categories")?)?,
        daily_digest: r.try_get("", "daily_digest")?,
        digest_hour: r.try_get("", "digest_hour")?,
        quiet: QuietHours {
            start_minute: r.try_get("", "quiet_start_minute")?,
            end_minute: r.try_get("", "quiet_end_minute")?,
        },
    })
}

pub async fn put(db: &impl ConnectionTrait, account: &str, p: &Preferences, now: DateTime<Utc>) -> ServiceResult<()> {
    let insert = Query::insert()
        .into_table("preferences")
        .columns([
            "account_id",
            "email",
            "categories",
            "daily_digest",
            "digest_hour",
            "quiet_start_minute",
            "quiet_end_minute",
            "updated_at",
        ])
        .values_panic([
            account.into(),
            p.email.clone().into(),
            kit::db::to_json(&p.categories)?.into(),
            p.daily_digest.into(),
            p.digest_hour.into(),
            p.quiet.start_minute.into(),
            p.quiet.end_minute.into(),
            now.into(),
        ])
        .on_conflict(
            OnConflict::column("account_id")
                .update_columns([
                    "email",
                    "categories",
                    "daily_digest",
                    "digest_hour",
                    "quiet_start_minute",
                    "quiet_end_minute",
                    "updated_at",
                ])
                .to_owned(),
        )
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}
