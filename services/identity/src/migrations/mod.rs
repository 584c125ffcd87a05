//! Identity's schema. kit's own tables (idempotency keys, outbox, event cursors) come first.

use sea_orm_migration::prelude::*;

mod m20261122_000101_identity_tables;
mod m20261122_000102_regions;
mod m20261122_000103_audit_append_only;
mod m20261203_000104_audit_head_mac;
mod m20261203_000105_token_revocations;
mod m20261203_000106_phone_codes;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = kit::idempotency::migrations();
        all.extend(kit::events::migrations());
        all.push(Box::new(m20261122_000101_identity_tables::Migration));
        all.push(Box::new(m20261122_000102_regions::Migration));
        all.push(Box::new(m20261122_000103_audit_append_only::Migration));
        all.push(Box::new(m20261203_000104_audit_head_mac::Migration));
        all.push(Box::new(m20261203_000105_token_revocations::Migration));
        all.push(Box::new(m20261203_000106_phone_codes::Migration));
        all
    }
}
