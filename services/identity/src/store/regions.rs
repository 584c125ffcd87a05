use super::entities::region;
use crate::domain::region::RegionRow;
use kit::region::RegionLevel;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait};

/// Every region, for the in-memory tree.
pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<RegionRow>, DbErr> {
    let rows = region::Entity::find().all(db).await?;
    rows.into_iter()
        .map(|r| {
            let level = RegionLevel::parse(&r.level)
                .ok_or_else(|| DbErr::Custom(format!("region {} has unknown level {}", r.code, r.level)))?;
            Ok(RegionRow {
                code: r.code,
                name: r.name,
                level,
                parent_code: r.parent_code,
                lon: r.lon,
                lat: r.lat,
            })
        })
        .collect()
}
