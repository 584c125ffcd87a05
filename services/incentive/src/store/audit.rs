//! Incentive's audit log (append-only): who adjusted, reversed, closed or
//! confirmed what, and why.

use chrono::Utc;
use kit::ServiceResult;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::Query;

pub async fn log(
    db: &impl ConnectionTrait,
    actor_id: &str,
    action: &str,
    target: &str,
    detail: &str,
) -> ServiceResult<()> {
    let insert = Query::insert()
        .into_table("audit_log")
        .columns(["id", "actor_id", "action", "target", "detail", "created_at"])
        .values_panic([
            uuid::Uuid::now_v7().to_string().into(),
            actor_id.into(),
            action.into(),
            target.into(),
            detail.into(),
            Utc::now().into(),
        ])
        .to_owned();
    db.execute(&insert).await?;
    tracing::info!(actor_id, action, target, "incentive audit");
    Ok(())
}

/// The audit entries of a target, oldest first: (actor, action, detail).
pub async fn of_target(db: &impl ConnectionTrait, target: &str) -> ServiceResult<Vec<(String, String, String)>> {
    use sea_orm::sea_query::{Expr, ExprTrait, Order};
    let select = Query::select()
        .columns(["actor_id", "action", "detail"])
        .from("audit_log")
        .and_where(Expr::col("target").eq(target))
        .order_by("created_at", Order::Asc)
        .order_by("id", Order::Asc)
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("", "actor_id")?,
                r.try_get("", "action")?,
                r.try_get("", "detail")?,
            ))
        })
        .collect()
}
