//! The audit log refuses UPDATE and DELETE. Someone with DDL rights can drop
//! these triggers, which is what the keyed hash chain is there to catch.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        kit::db::append_only(m, "audit_log", "audit log").await
    }
}
