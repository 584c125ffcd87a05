//! The audit head carries its own MAC under the audit key, so that a head
//! rewritten after deleting the newest entries no longer verifies. A head
//! written before this migration has none and reports as not anchored until
//! the next entry is appended.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("audit_head")
                .add_column(string_len("mac", 64).default(""))
                .to_owned(),
        )
        .await
    }
}
