//! The ids of the events each consumer has applied.

use super::schema::AppliedEvents as T;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string, string_len, timestamp_with_time_zone};

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
                    .col(string(T::Consumer))
                    .col(string_len(T::EventId, 36))
                    .col(big_integer(T::Sequence))
                    .col(timestamp_with_time_zone(T::AppliedAt))
                    // The key makes two replicas of a consumer that race on
                    // one event fail one of them instead of applying it twice.
                    .primary_key(Index::create().col(T::Consumer).col(T::EventId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(T::Table).to_owned()).await
    }
}
