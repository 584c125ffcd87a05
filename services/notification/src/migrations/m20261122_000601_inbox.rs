//! The in-app inbox: one row per (event, recipient).

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
                .table("notifications")
                .col(string_len("id", 36).primary_key())
                .col(string_len("recipient_id", 36))
                .col(string_len("category", 32))
                .col(string_len("title", 100))
                .col(text("body"))
                .col(string_len("channel", 16))
                .col(string_len("source_event_id", 36))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("read_at"))
                .to_owned(),
        )
        .await?;
        // However often an event is delivered, its recipient hears of it once.
        index(
            m,
            "notifications",
            "notifications_event_recipient",
            &["source_event_id", "recipient_id"],
            true,
        )
        .await?;
        index(
            m,
            "notifications",
            "notifications_recipient",
            &["recipient_id", "created_at"],
            false,
        )
        .await
    }
}
