//! API keys of resident-facing channels (e.g. a WeChat mini-program's
//! backend) that submit and read needs over Open311 for a region.

use kit::db::create_index as index;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("channel_keys")
                .col(string_len("id", 36).primary_key())
                .col(string_len("name", 64))
                .col(string_len("region_code", 12))
                // SHA-256 of the key, hex; the key itself is shown once.
                .col(string_len("key_hash", 64))
                .col(string_len("created_by", 36))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .to_owned(),
        )
        .await?;
        index(m, "channel_keys", "channel_keys_hash", &["key_hash"], true).await
    }
}
