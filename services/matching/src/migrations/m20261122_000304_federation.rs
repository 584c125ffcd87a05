//! Federation: a professional's consent to the federation directory, and
//! needs of the federation kind (support requests from other provinces'
//! platforms) with their origin.

use kit::db::create_index as index;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        m.alter_table(
            Table::alter()
                .table("professionals")
                .add_column(boolean("federation_consent").default(false))
                .to_owned(),
        )
        .await?;
        for (name, len) in [
            ("origin_peer", 64),
            ("origin_request_id", 128),
            ("origin_community_code", 24),
            ("origin_community_name", 128),
            ("title", 128),
            ("wanted_profession", 32),
            ("wanted_specialty", 64),
        ] {
            m.alter_table(
                Table::alter()
                    .table("needs")
                    .add_column(string_len(name, len).default(""))
                    .to_owned(),
            )
            .await?;
        }
        index(
            m,
            "needs",
            "needs_origin_updated",
            &["origin_peer", "updated_at"],
            false,
        )
        .await
    }
}
