//! Webhook endpoints and the deliveries to them (with retries and dead letters).

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
                .table("webhooks")
                .col(string_len("id", 36).primary_key())
                .col(string_len("owner_id", 36))
                .col(string_len("url", 500))
                .col(string_len("secret", 64))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        index(m, "webhooks", "webhooks_owner", &["owner_id"], false).await?;
        m.create_table(
            Table::create()
                .table("deliveries")
                .col(string_len("id", 36).primary_key())
                .col(string_len("notification_id", 36))
                .col(string_len("webhook_id", 36))
                .col(string_len("owner_id", 36))
                // pending, delivered or dead
                .col(string_len("state", 16))
                .col(integer("attempts"))
                .col(text("last_error"))
                .col(timestamp_with_time_zone("next_attempt_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;
        index(m, "deliveries", "deliveries_due", &["state", "next_attempt_at"], false).await?;
        index(
            m,
            "deliveries",
            "deliveries_once",
            &["notification_id", "webhook_id"],
            true,
        )
        .await
    }
}
