//! The points ledger: append-only, one entry per source.

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
                .table("ledger_entries")
                .col(string_len("id", 36).primary_key())
                .col(string_len("professional_id", 36))
                // What earned or moved the points, e.g. "record:<id>:2026-v1";
                // unique, so nothing is counted twice.
                .col(string_len("source", 160))
                .col(string_len("kind", 16))
                .col(big_integer("amount"))
                .col(integer("year"))
                .col(string_len("rule_version", 32))
                .col(text("breakdown"))
                .col(string_len("compensates", 36).default(""))
                .col(text("reason"))
                .col(string_len("actor_id", 36))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        index(m, "ledger_entries", "ledger_entries_source", &["source"], true).await?;
        index(
            m,
            "ledger_entries",
            "ledger_entries_professional",
            &["professional_id", "year"],
            false,
        )
        .await?;
        kit::db::append_only(m, "ledger_entries", "points ledger").await
    }
}
