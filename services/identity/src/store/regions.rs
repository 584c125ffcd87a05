use super::entities::region;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

pub async fn get(db: &impl ConnectionTrait, code: &str) -> Result<Option<region::Model>, DbErr> {
    region::Entity::find_by_id(code.to_string()).one(db).await
}

/// Children of `parent` (top-level regions when `None`), by code, after `after`.
pub async fn children(
    db: &impl ConnectionTrait,
    parent: Option<&str>,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<region::Model>, DbErr> {
    let mut query = region::Entity::find();
    query = match parent {
        Some(p) => query.filter(region::Column::ParentCode.eq(p)),
        None => query.filter(region::Column::ParentCode.is_null()),
    };
    if let Some(after) = after {
        query = query.filter(region::Column::Code.gt(after));
    }
    query.order_by_asc(region::Column::Code).limit(limit).all(db).await
}

/// The regions with these codes, in code order (root first).
pub async fn many(db: &impl ConnectionTrait, codes: Vec<String>) -> Result<Vec<region::Model>, DbErr> {
    region::Entity::find()
        .filter(region::Column::Code.is_in(codes))
        .order_by_asc(region::Column::Code)
        .all(db)
        .await
}
