//! Matching's schema, after kit's own tables.

use sea_orm_migration::prelude::*;

mod m20261122_000301_matching;
mod m20261122_000302_communities;
mod m20261122_000303_channel_keys;
mod m20261122_000304_federation;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = kit::idempotency::migrations();
        all.extend(kit::events::migrations());
        all.push(Box::new(m20261122_000301_matching::Migration));
        all.push(Box::new(m20261122_000302_communities::Migration));
        all.push(Box::new(m20261122_000303_channel_keys::Migration));
        all.push(Box::new(m20261122_000304_federation::Migration));
        all
    }
}
