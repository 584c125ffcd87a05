//! Seeds every urban community of Chongqing with a synthetic position (see
//! `domain::division`); profiles start empty for community workers to fill.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let rows =
            crate::domain::division::urban_communities(crate::domain::division::CHONGQING).map_err(DbErr::Migration)?;
        let now = chrono::Utc::now();
        for batch in rows.chunks(500) {
            let mut insert = Query::insert()
                .into_table("communities")
                .columns([
                    "code",
                    "name",
                    "street_code",
                    "street_name",
                    "district_code",
                    "district_name",
                    "lon",
                    "lat",
                    "location_synthetic",
                    "profile",
                    "demand",
                    "updated_at",
                ])
                .to_owned();
            for c in batch {
                insert.values_panic([
                    c.code.clone().into(),
                    c.name.clone().into(),
                    c.street_code.clone().into(),
                    c.street_name.clone().into(),
                    c.district_code.clone().into(),
                    c.district_name.clone().into(),
                    c.lon.into(),
                    c.lat.into(),
                    true.into(),
                    "{}".into(),
                    crate::domain::community::DEFAULT_DEMAND.into(),
                    now.into(),
                ]);
            }
            m.exec_stmt(insert).await?;
        }
        Ok(())
    }
}
