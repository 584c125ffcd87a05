//! Running totals per professional and year, kept by the database itself:
//! triggers on `ledger_entries` (points) and `record_awards` (services and
//! satisfaction) update `year_totals` in the writing transaction, so the
//! totals cannot drift from the rows they sum. The roll-over and the
//! progressive bonus's carry-over read one row instead of a year of entries.
//! Also: the roll-over's announcement cursor on `year_closings`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: &str = "professional_id, year, points, services, rated_services, satisfaction_milli";

/// Adds a set of `(professional_id, year, points, services, rated, milli)`
/// deltas (a SELECT named `deltas`) to the totals. The `WHERE true` lets
/// SQLite parse an upsert after a SELECT.
fn add_deltas(deltas: &str) -> String {
    format!(
        "INSERT INTO year_totals ({COLUMNS}) \
         SELECT professional_id, year, SUM(p), SUM(s), SUM(r), SUM(m) FROM ({deltas}) deltas \
         WHERE true GROUP BY professional_id, year \
         ON CONFLICT (professional_id, year) DO UPDATE SET \
         points = year_totals.points + excluded.points, \
         services = year_totals.services + excluded.services, \
         rated_services = year_totals.rated_services + excluded.rated_services, \
         satisfaction_milli = year_totals.satisfaction_milli + excluded.satisfaction_milli"
    )
}

/// A ledger entry's contribution: its amount.
fn ledger_delta(rows: &str) -> String {
    format!("SELECT professional_id, year, amount AS p, 0 AS s, 0 AS r, 0 AS m FROM {rows}")
}

/// A record's contribution (`sign` 1 for its new figures, -1 for its old):
/// one service, rated when it has a satisfaction, and that satisfaction.
fn record_delta(rows: &str, sign: i32) -> String {
    format!(
        "SELECT professional_id, year, 0 AS p, {sign} AS s, \
         {sign} * (CASE WHEN satisfaction_milli IS NULL THEN 0 ELSE 1 END) AS r, \
         {sign} * COALESCE(satisfaction_milli, 0) AS m FROM {rows}"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("year_totals")
                .col(string_len("professional_id", 36))
                .col(integer("year"))
                .col(big_integer("points"))
                .col(integer("services"))
                .col(integer("rated_services"))
                .col(big_integer("satisfaction_milli"))
                .primary_key(Index::create().col("professional_id").col("year"))
                .to_owned(),
        )
        .await?;
        // Announced star changes go out in professional order; this is the
        // last professional announced ("" before the first page).
        m.alter_table(
            Table::alter()
                .table("year_closings")
                .add_column(string_len("announced_through", 36).default(""))
                .to_owned(),
        )
        .await?;
        // The announcement pages walk a year's results in professional order;
        // the cursor replaces the per-row flag (no row is updated to announce it).
        let db = m.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS annual_results_year")
            .await?;
        db.execute_unprepared("ALTER TABLE annual_results DROP COLUMN announced")
            .await?;
        kit::db::create_index(
            m,
            "annual_results",
            "annual_results_by_year",
            &["year", "professional_id"],
            false,
        )
        .await?;
        // Totals of what is there already.
        let existing = format!(
            "{} UNION ALL {}",
            ledger_delta("ledger_entries"),
            record_delta("record_awards", 1)
        );
        db.execute_unprepared(&add_deltas(&existing)).await?;
        match m.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                // Statement-level triggers with transition tables: one upsert
                // per statement, however many rows it wrote. An upsert into
                // record_awards fires the INSERT trigger for the rows it
                // inserted and the UPDATE trigger for the rows it replaced.
                let triggers = [
                    ("ledger_entries", "INSERT", ledger_delta("new_rows")),
                    ("record_awards", "INSERT", record_delta("new_rows", 1)),
                    (
                        "record_awards",
                        "UPDATE",
                        format!(
                            "{} UNION ALL {}",
                            record_delta("new_rows", 1),
                            record_delta("old_rows", -1)
                        ),
                    ),
                ];
                for (table, op, deltas) in triggers {
                    let name = format!("{table}_{}_year_totals", op.to_lowercase());
                    let transitions = if op == "UPDATE" {
                        "OLD TABLE AS old_rows NEW TABLE AS new_rows"
                    } else {
                        "NEW TABLE AS new_rows"
                    };
                    db.execute_unprepared(&format!(
                        "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS \
                         $$ BEGIN {}; RETURN NULL; END $$",
                        add_deltas(&deltas)
                    ))
                    .await?;
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER {name} AFTER {op} ON {table} REFERENCING {transitions} \
                         FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
                    ))
                    .await?;
                }
            }
            _ => {
                // SQLite has row-level triggers only, which are cheap in-process.
                let triggers = [
                    (
                        "ledger_entries",
                        "INSERT",
                        "SELECT NEW.professional_id AS professional_id, NEW.year AS year, \
                         NEW.amount AS p, 0 AS s, 0 AS r, 0 AS m"
                            .to_string(),
                    ),
                    ("record_awards", "INSERT", sqlite_record_delta("NEW", 1)),
                    (
                        "record_awards",
                        "UPDATE",
                        format!(
                            "{} UNION ALL {}",
                            sqlite_record_delta("NEW", 1),
                            sqlite_record_delta("OLD", -1)
                        ),
                    ),
                ];
                for (table, op, deltas) in triggers {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER {table}_{}_year_totals AFTER {op} ON {table} BEGIN {}; END",
                        op.to_lowercase(),
                        add_deltas(&deltas)
                    ))
                    .await?;
                }
            }
        }
        Ok(())
    }
}

/// [`record_delta`] for one row of a SQLite row-level trigger (`NEW` or `OLD`).
fn sqlite_record_delta(row: &str, sign: i32) -> String {
    format!(
        "SELECT {row}.professional_id AS professional_id, {row}.year AS year, 0 AS p, {sign} AS s, \
         {sign} * (CASE WHEN {row}.satisfaction_milli IS NULL THEN 0 ELSE 1 END) AS r, \
         {sign} * COALESCE({row}.satisfaction_milli, 0) AS m"
    )
}
