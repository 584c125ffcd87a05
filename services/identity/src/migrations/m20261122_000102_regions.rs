//! The region tree, seeded from the real Chongqing division data shipped in
//! `services/identity/data/regions-500000.csv` (see its README for provenance).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const CHONGQING: &str = include_str!("../../data/regions-500000.csv");

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("regions")
                .col(string_len("code", 12).primary_key())
                .col(string_len("name", 128))
                .col(string_len("level", 16))
                .col(string_len_null("parent_code", 12))
                .col(double_null("lon"))
                .col(double_null("lat"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("regions_parent")
                .table("regions")
                .col("parent_code")
                .to_owned(),
        )
        .await?;

        let rows = crate::domain::region::parse_csv(CHONGQING).map_err(|e| DbErr::Migration(e.to_string()))?;
        for batch in rows.chunks(1000) {
            let mut insert = Query::insert()
                .into_table("regions")
                .columns(["code", "name", "level", "parent_code", "lon", "lat"])
                .to_owned();
            for r in batch {
                insert.values_panic([
                    r.code.clone().into(),
                    r.name.clone().into(),
                    r.level.as_str().into(),
                    r.parent_code.clone().into(),
                    r.lon.into(),
                    r.lat.into(),
                ]);
            }
            m.exec_stmt(insert).await?;
        }
        Ok(())
    }
}
