//! Running totals per year, region and professional, kept by the database
//! itself like `year_totals`: a ledger entry or a scored record counts in
//! its community and in each of the community's ancestors (street,
//! district, city, province), so a leaderboard of any region reads the
//! first rows of one index instead of summing a year of the ledger.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The lengths of a region code at each level (province … community).
const LEVELS: [usize; 5] = [2, 4, 6, 9, 12];

/// Adds `deltas` (a SELECT of `professional_id, year, code, p, e, s`: points,
/// ledger entries, services, for the region `code`) to the totals of `code`
/// and of each of its ancestors. The deltas are repeated per level because
/// SQLite allows no WITH inside a trigger; the `WHERE true` lets SQLite
/// parse an upsert after a SELECT.
fn add_deltas(deltas: &str) -> String {
    let per_level = LEVELS
        .iter()
        .map(|len| {
            format!(
                "SELECT year, substr(code, 1, {len}) AS region_code, professional_id, p, e, s \
                 FROM ({deltas}) d WHERE length(code) >= {len}"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    format!(
        "INSERT INTO region_totals (year, region_code, professional_id, points, entries, services) \
         SELECT year, region_code, professional_id, SUM(p), SUM(e), SUM(s) FROM ({per_level}) levels \
         WHERE true GROUP BY year, region_code, professional_id \
         ON CONFLICT (year, region_code, professional_id) DO UPDATE SET \
         points = region_totals.points + excluded.points, \
         entries = region_totals.entries + excluded.entries, \
         services = region_totals.services + excluded.services"
    )
}

/// Ledger entries' contribution: their amount, one entry each.
fn ledger_delta(rows: &str) -> String {
    format!("SELECT professional_id, year, region_code AS code, amount AS p, 1 AS e, 0 AS s FROM {rows}")
}

/// Scored records' contribution (`sign` 1 for new rows, -1 for old ones).
fn record_delta(rows: &str, sign: i32) -> String {
    format!("SELECT professional_id, year, region_code AS code, 0 AS p, 0 AS e, {sign} AS s FROM {rows}")
}

/// The triggers' deltas: `(table, operation, deltas)` given where the new
/// ledger entries, the new record awards and the replaced awards are read.
fn triggers(entries: &str, new_awards: &str, old_awards: &str) -> [(&'static str, &'static str, String); 3] {
    [
        ("ledger_entries", "INSERT", ledger_delta(entries)),
        ("record_awards", "INSERT", record_delta(new_awards, 1)),
        (
            "record_awards",
            "UPDATE",
            format!(
                "{} UNION ALL {}",
                record_delta(new_awards, 1),
                record_delta(old_awards, -1)
            ),
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("region_totals")
                .col(integer("year"))
                .col(string_len("region_code", 12))
                .col(string_len("professional_id", 36))
                .col(big_integer("points"))
                // Ledger entries counted: a professional is on a region's
                // board once they have one there, whatever their sum.
                .col(integer("entries"))
                .col(integer("services"))
                .primary_key(Index::create().col("year").col("region_code").col("professional_id"))
                .to_owned(),
        )
        .await?;
        let db = m.get_connection();
        // The board's order, so that its first page is the index's first rows.
        db.execute_unprepared(
            "CREATE INDEX region_totals_board ON region_totals (year, region_code, points DESC, professional_id)",
        )
        .await?;
        let existing = format!(
            "{} UNION ALL {}",
            ledger_delta("ledger_entries"),
            record_delta("record_awards", 1)
        );
        db.execute_unprepared(&add_deltas(&existing)).await?;
        match m.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                // Statement-level triggers with transition tables, as for year_totals.
                for (table, op, deltas) in triggers("new_rows", "new_rows", "old_rows") {
                    let name = format!("{table}_{}_region_totals", op.to_lowercase());
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
                // SQLite's row-level triggers see one row as NEW / OLD; a
                // one-row SELECT of it stands in for the transition table.
                let entry = "(SELECT NEW.professional_id AS professional_id, NEW.year AS year, \
                             NEW.region_code AS region_code, NEW.amount AS amount)";
                let award = |row: &str| {
                    format!(
                        "(SELECT {row}.professional_id AS professional_id, {row}.year AS year, \
                         {row}.region_code AS region_code)"
                    )
                };
                for (table, op, deltas) in triggers(entry, &award("NEW"), &award("OLD")) {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER {table}_{}_region_totals AFTER {op} ON {table} BEGIN {}; END",
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
