//! Incentive's schema, after kit's own tables.

use sea_orm_migration::prelude::*;

mod m20261122_000501_ledger;
mod m20261122_000502_standing;
mod m20261122_000503_year_totals;
mod m20261122_000504_one_transaction_closing;
mod m20261203_000505_region_totals;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = kit::idempotency::migrations();
        all.extend(kit::events::migrations());
        all.push(Box::new(m20261122_000501_ledger::Migration));
        all.push(Box::new(m20261122_000502_standing::Migration));
        all.push(Box::new(m20261122_000503_year_totals::Migration));
        all.push(Box::new(m20261122_000504_one_transaction_closing::Migration));
        all.push(Box::new(m20261203_000505_region_totals::Migration));
        all
    }
}
