//! The incentive policies, as data (seeded with the standard nine).

use crate::domain::policies::Policy;
use kit::ServiceResult;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Asterisk, Order, Query};

pub async fn all(db: &impl ConnectionTrait) -> ServiceResult<Vec<Policy>> {
    let select = Query::select()
        .column(Asterisk)
        .from("policies")
        .order_by("position", Order::Asc)
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|r| {
            Ok(Policy {
                id: r.try_get("", "id")?,
                title: r.try_get("", "title")?,
                description: r.try_get("", "description")?,
                min_stars: r.try_get("", "min_stars")?,
                min_points: r.try_get("", "min_points")?,
                min_services: r.try_get("", "min_services")?,
                region: r.try_get("", "region")?,
            })
        })
        .collect()
}
