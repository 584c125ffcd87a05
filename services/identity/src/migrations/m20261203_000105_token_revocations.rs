//! Access tokens revoked before they expire, as every verifier reads them
//! (`ListRevocations`): keys are hashes, so the table names nobody.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("token_revocations")
                .col(big_pk_auto("seq"))
                .col(string_len("key_hash", 64))
                .col(big_integer("refused_until"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        kit::db::create_index(
            m,
            "token_revocations",
            "token_revocations_created_at",
            &["created_at"],
            false,
        )
        .await
    }
}
