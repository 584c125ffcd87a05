//! One-time phone codes (registration proves the number): the live code per
//! number and purpose, and the sends the limits count. Numbers, client
//! addresses and codes are kept as keyed hashes only.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("phone_codes")
                .col(string_len("phone_hash", 64))
                .col(string_len("purpose", 16))
                .col(string_len("code_mac", 64))
                .col(integer("attempts"))
                .col(timestamp_with_time_zone("expires_at"))
                .col(timestamp_with_time_zone("created_at"))
                .primary_key(Index::create().col("phone_hash").col("purpose"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("phone_codes_expires")
                .table("phone_codes")
                .col("expires_at")
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("phone_code_requests")
                .col(big_pk_auto("id"))
                // `phone:<hash>` or `source:<hash>`.
                .col(string_len("bucket", 80))
                .col(timestamp_with_time_zone("requested_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("phone_code_requests_bucket")
                .table("phone_code_requests")
                .col("bucket")
                .col("requested_at")
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("phone_code_requests_at")
                .table("phone_code_requests")
                .col("requested_at")
                .to_owned(),
        )
        .await
    }
}
