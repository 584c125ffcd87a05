//! The outbox that producers write events to.

use super::schema::OutboxEvents as T;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer_null, big_pk_auto, blob, string, string_len_uniq, text, timestamp_with_time_zone,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .if_not_exists()
                    // Insertion order: the sequencer numbers committed rows by it.
                    .col(big_pk_auto(T::Id))
                    .col(string_len_uniq(T::EventId, 36))
                    // NULL until the sequencer numbers the committed row.
                    .col(big_integer_null(T::Seq))
                    .col(string(T::Producer))
                    .col(string(T::AggregateType))
                    .col(string(T::AggregateId))
                    .col(string(T::EventType))
                    .col(blob(T::Payload))
                    // JSON object of W3C trace context fields.
                    .col(text(T::TraceContext))
                    .col(timestamp_with_time_zone(T::CreatedAt))
                    .to_owned(),
            )
            .await?;
        // Unique, so a numbering bug fails loudly instead of duplicating a
        // position; it also serves `seq > cursor ORDER BY seq` and `seq IS NULL`.
        manager
            .create_index(
                Index::create()
                    .name("outbox_events_seq_key")
                    .table(T::Table)
                    .col(T::Seq)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(T::Table).to_owned()).await
    }
}
