//! E-mail deliveries and delivery leases, organisation webhooks, people's
//! preferences (channels per category, daily digest, quiet hours), digest
//! bookkeeping, and announcements.

use kit::db::create_index as index;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // A webhook for an organisation (a region's office or community):
        // its code; "" for a person's own.
        m.alter_table(
            Table::alter()
                .table("webhooks")
                .add_column(string_len("region_code", 12).default(""))
                .to_owned(),
        )
        .await?;
        index(m, "webhooks", "webhooks_region", &["region_code"], false).await?;
        // "webhook" or "email"; an e-mail delivery has webhook_id "" and its address.
        m.alter_table(
            Table::alter()
                .table("deliveries")
                .add_column(string_len("channel", 16).default("webhook"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("deliveries")
                .add_column(string_len("email", 254).default(""))
                .to_owned(),
        )
        .await?;
        // A sender claims a delivery until then, so replicas never send it twice at once.
        m.alter_table(
            Table::alter()
                .table("deliveries")
                .add_column(timestamp_with_time_zone_null("lease_until"))
                .to_owned(),
        )
        .await?;
        // Sources now include "announcement:<id>" and "digest:flush:<id>".
        // (SQLite does not enforce lengths; its column needs no change.)
        if m.get_database_backend() == sea_orm::DbBackend::Postgres {
            m.get_connection()
                .execute_unprepared("ALTER TABLE notifications ALTER COLUMN source_event_id TYPE varchar(80)")
                .await?;
        }
        // "" (sent as it came, or in-app only), "waiting" (for the recipient's
        // daily digest) or "bundled" (in a digest). Digests themselves are
        // notifications of channel "digest", which the inbox does not list.
        m.alter_table(
            Table::alter()
                .table("notifications")
                .add_column(string_len("digest", 16).default(""))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "notifications",
            "notifications_digest",
            &["digest", "recipient_id"],
            false,
        )
        .await?;
        m.create_table(
            Table::create()
                .table("preferences")
                .col(string_len("account_id", 36).primary_key())
                .col(string_len("email", 254))
                // JSON: [{"category", "webhook", "email"}]
                .col(text("categories"))
                .col(boolean("daily_digest"))
                .col(integer("digest_hour"))
                .col(integer("quiet_start_minute"))
                .col(integer("quiet_end_minute"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("announcements")
                .col(string_len("id", 36).primary_key())
                .col(string_len("region_code", 12))
                // JSON array of role names; [] for every role.
                .col(text("roles"))
                .col(string_len("title", 100))
                .col(text("body"))
                // draft, published or withdrawn
                .col(string_len("state", 16))
                .col(string_len("author_id", 36))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("published_at"))
                .col(timestamp_with_time_zone_null("withdrawn_at"))
                .col(text("withdraw_reason"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "announcements",
            "announcements_state",
            &["state", "published_at"],
            false,
        )
        .await
    }
}
