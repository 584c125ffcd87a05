//! Notification's schema, after kit's own tables.

use sea_orm_migration::prelude::*;

mod m20261122_000601_inbox;
mod m20261122_000602_webhooks;
mod m20261122_000603_channels;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = kit::idempotency::migrations();
        all.extend(kit::events::migrations());
        all.push(Box::new(m20261122_000601_inbox::Migration));
        all.push(Box::new(m20261122_000602_webhooks::Migration));
        all.push(Box::new(m20261122_000603_channels::Migration));
        all
    }
}
