//! The roll-over closes a year in one transaction (see `rollover`), so the
//! closing no longer keeps step flags or an announcement cursor, and no
//! longer walks a year's results in professional order.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in ["aggregated", "announced_through"] {
            m.alter_table(Table::alter().table("year_closings").drop_column(column).to_owned())
                .await?;
        }
        // What remains to find by year (the summary, the star distribution,
        // the expert team's candidates) reads a whole year. A year's results
        // are written together, once, so on PostgreSQL they lie together on
        // disk and a BRIN index (a few pages, next to free to keep) finds
        // them; a B-tree costs the closing a tenth of its time.
        m.drop_index(
            Index::drop()
                .name("annual_results_by_year")
                .table("annual_results")
                .to_owned(),
        )
        .await?;
        // A new name: on SQLite the migration's statements may run on
        // another pooled connection than the drop, which can still see the
        // old index.
        match m.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                m.get_connection()
                    .execute_unprepared("CREATE INDEX annual_results_of_year ON annual_results USING brin (year)")
                    .await?;
            }
            _ => kit::db::create_index(m, "annual_results", "annual_results_of_year", &["year"], false).await?,
        }
        Ok(())
    }
}
