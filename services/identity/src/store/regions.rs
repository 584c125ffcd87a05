use super::entities::region;
use crate::domain::region::RegionRow;
use kit::region::RegionLevel;
use sea_orm::sea_query::{OnConflict, Query};
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

/// Adds the regions the table does not have yet, many per statement (bulk
/// loads of division data); a code already there keeps its row. Returns
/// how many were added. Identity loads its tree at start, so a running
/// identity sees them after a restart.
pub async fn insert_many(db: &impl ConnectionTrait, rows: &[RegionRow]) -> Result<u64, DbErr> {
    let mut added = 0;
    for chunk in kit::db::chunks_by_width(rows, 6, |r| 96 + r.name.len()) {
        let mut insert = Query::insert();
        insert
            .into_table("regions")
            .columns(["code", "name", "level", "parent_code", "lon", "lat"]);
        for r in chunk {
            insert.values_panic([
                r.code.clone().into(),
                r.name.clone().into(),
                r.level.as_str().into(),
                r.parent_code.clone().into(),
                r.lon.into(),
                r.lat.into(),
            ]);
        }
        insert.on_conflict(OnConflict::column("code").do_nothing().to_owned());
        added += db.execute(&insert).await?.rows_affected();
    }
    Ok(added)
}
