use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("accounts")
                .col(string_len("id", 36).primary_key())
                .col(string_len_uniq("username", 64))
                .col(string_len("display_name", 128))
                .col(blob_null("phone_sealed"))
                .col(string_len_null("phone_hash", 64).unique_key())
                .col(string_len("region_code", 12))
                .col(string_len("status", 16))
                .col(string_len("kind", 16))
                .col(string("password_hash"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("accounts_region")
                .table("accounts")
                .col("region_code")
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("role_grants")
                .col(string_len("account_id", 36))
                .col(string_len("role", 32))
                .col(string_len("region_code", 12))
                .col(timestamp_with_time_zone("created_at"))
                .primary_key(Index::create().col("account_id").col("role").col("region_code"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("refresh_tokens")
                .col(string_len("token_hash", 64).primary_key())
                .col(string_len("family_id", 36))
                .col(string_len("account_id", 36))
                .col(timestamp_with_time_zone("expires_at"))
                .col(timestamp_with_time_zone_null("used_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("refresh_tokens_family")
                .table("refresh_tokens")
                .col("family_id")
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("refresh_tokens_account")
                .table("refresh_tokens")
                .col("account_id")
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("login_failures")
                .col(big_pk_auto("id"))
                // `person:<username>` or `service:<client id>`.
                .col(string_len("bucket", 80))
                .col(timestamp_with_time_zone("failed_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("login_failures_bucket")
                .table("login_failures")
                .col("bucket")
                .col("failed_at")
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("audit_log")
                .col(big_integer("seq").primary_key())
                .col(string_len("at", 40))
                .col(string_len("actor", 64))
                .col(string_len("action", 64))
                .col(string("target"))
                .col(string_len("outcome", 16))
                .col(text("detail"))
                .col(string_len("prev_hash", 64))
                .col(string_len("hash", 64))
                .to_owned(),
        )
        .await?;

        // The newest entry, written with it: deleting entries from the end
        // of the chain leaves the chain valid, but no longer matching its head.
        m.create_table(
            Table::create()
                .table("audit_head")
                .col(integer("id").primary_key())
                .col(big_integer("seq"))
                .col(string_len("hash", 64))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("signing_keys")
                .col(string_len("kid", 32).primary_key())
                .col(blob("private_key_sealed"))
                .col(string_len("public_x", 64))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("retired_at"))
                .to_owned(),
        )
        .await
    }
}
