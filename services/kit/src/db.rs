//! Database connections (PostgreSQL or SQLite through sea-orm), migrations,
//! and the test helper that gives every test a database of its own.

use crate::config::DatabaseConfig;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Postgres,
    Sqlite,
}

impl DbKind {
    pub fn of_url(url: &str) -> Result<Self, String> {
        match url.split_once("://").map(|(scheme, _)| scheme) {
            Some("postgres" | "postgresql") => Ok(Self::Postgres),
            Some("sqlite") => Ok(Self::Sqlite),
            Some(other) => Err(format!("unsupported scheme \"{other}\" (use postgres:// or sqlite://)")),
            None => Err("not a URL (use postgres://… or sqlite://…)".into()),
        }
    }
}

/// Opens a pool. SQLite files (and their folder) are created when missing and
/// run in WAL mode with a busy timeout, so readers do not block the writer.
pub async fn connect(config: &DatabaseConfig) -> anyhow::Result<DatabaseConnection> {
    let kind = DbKind::of_url(&config.url).map_err(anyhow::Error::msg)?;
    let mut url = config.url.clone();
    let mut options = ConnectOptions::new(url.clone());
    options
        .max_connections(config.max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_millis(config.acquire_timeout_ms))
        .sqlx_logging(false);
    if kind == DbKind::Sqlite {
        let path = url
            .trim_start_matches("sqlite://")
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string();
        if !path.is_empty()
            && path != ":memory:"
            && let Some(parent) = std::path::Path::new(&path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)?;
        }
        if !url.contains('?') {
            url.push_str("?mode=rwc");
        }
        options = ConnectOptions::new(url);
        options
            // WAL lets readers run beside the one writer; writers queue on the
            // busy timeout because write transactions begin IMMEDIATE ([`begin`]).
            .max_connections(config.max_connections)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
    }
    Ok(Database::connect(options).await?)
}

pub fn kind(db: &impl ConnectionTrait) -> DbKind {
    match db.get_database_backend() {
        DbBackend::Postgres => DbKind::Postgres,
        _ => DbKind::Sqlite,
    }
}

/// Begins a write transaction. On SQLite it takes the write lock at BEGIN
/// (IMMEDIATE), so concurrent writers wait for each other on the busy timeout
/// instead of failing when a read inside the transaction must upgrade to a
/// write. Every transaction that may write goes through here.
pub async fn begin(db: &DatabaseConnection) -> Result<DatabaseTransaction, sea_orm::DbErr> {
    let options = match kind(db) {
        DbKind::Sqlite => TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        },
        DbKind::Postgres => TransactionOptions::default(),
    };
    db.begin_with_options(options).await
}

/// Serialises the transactions that check and then write something of one
/// `key` (a professional's visit times, say), until this transaction ends.
/// PostgreSQL takes a transaction-scoped advisory lock on the key's hash;
/// SQLite needs nothing, since [`begin`] already holds its one write lock.
pub async fn lock(txn: &DatabaseTransaction, key: &str) -> Result<(), sea_orm::DbErr> {
    match kind(txn) {
        DbKind::Sqlite => Ok(()),
        DbKind::Postgres => {
            let lock = statement(
                txn,
                "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))",
                vec![key.into()],
            );
            txn.execute_raw(lock).await.map(|_| ())
        }
    }
}

/// Applies every pending migration of `M`.
pub async fn migrate<M: MigratorTrait>(db: &DatabaseConnection) -> anyhow::Result<()> {
    M::up(db, None).await?;
    Ok(())
}

/// Creates an index on `table` over `cols` (a migration step).
pub async fn create_index(
    m: &sea_orm_migration::SchemaManager<'_>,
    table: &str,
    name: &str,
    cols: &[&str],
    unique: bool,
) -> Result<(), sea_orm::DbErr> {
    let mut index = sea_orm_migration::prelude::Index::create();
    index.name(name).table(String::from(table));
    for col in cols {
        index.col(String::from(*col));
    }
    if unique {
        index.unique();
    }
    m.create_index(index.to_owned()).await
}

/// Makes `table` refuse UPDATE and DELETE (a migration step): ledgers and
/// logs only grow. `what` names it in the error, e.g. "audit log".
pub async fn append_only(
    m: &sea_orm_migration::SchemaManager<'_>,
    table: &str,
    what: &str,
) -> Result<(), sea_orm::DbErr> {
    let db = m.get_connection();
    match m.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            db.execute_unprepared(&format!(
                "CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION '{what} is append-only'; END $$"
            ))
            .await?;
            db.execute_unprepared(&format!(
                "CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} \
                 FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
            ))
            .await?;
        }
        _ => {
            for op in ["UPDATE", "DELETE"] {
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER {table}_no_{} BEFORE {op} ON {table} \
                     BEGIN SELECT RAISE(ABORT, '{what} is append-only'); END",
                    op.to_lowercase()
                ))
                .await?;
            }
        }
    }
    Ok(())
}

/// A value as the JSON text stored in a column.
pub fn to_json(value: &impl serde::Serialize) -> Result<String, sea_orm::DbErr> {
    serde_json::to_string(value).map_err(|e| sea_orm::DbErr::Custom(e.to_string()))
}

/// A JSON column's value; a stored value that does not parse is an internal error.
pub fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> crate::ServiceResult<T> {
    serde_json::from_str(text).map_err(crate::ServiceError::internal)
}

/// `text` with LIKE's wildcards and its escape character escaped (`\\`).
pub fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// `column LIKE '%text%' ESCAPE '\'`: `text` is found literally, so a
/// search for "100%" or "a_b" matches those characters only, on SQLite and
/// PostgreSQL alike.
pub fn contains(column: &'static str, text: &str) -> sea_orm::sea_query::SimpleExpr {
    use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
    Expr::col(column).like(LikeExpr::new(format!("%{}%", escape_like(text))).escape('\\'))
}

/// `column` starts with the division-code `prefix` ("" matches every row):
/// region scope in SQL, as `Scope::covers` is in code. Written as the range
/// [`code_range`] rather than `LIKE 'prefix%'`, so that both SQLite and
/// PostgreSQL (whatever its collation) read it from an index on `column`
/// instead of testing every row.
pub fn code_prefix(column: &'static str, prefix: &str) -> sea_orm::sea_query::SimpleExpr {
    use sea_orm::sea_query::{Expr, ExprTrait};
    if prefix.is_empty() {
        return Expr::value(true);
    }
    match code_range(prefix) {
        Some((low, high)) => Expr::col(column).between(low, high),
        None => {
            Expr::col(column).like(sea_orm::sea_query::LikeExpr::new(format!("{}%", escape_like(prefix))).escape('\\'))
        }
    }
}

/// The longest division code (a community's).
pub const CODE_LEN: usize = 12;

/// The division codes that start with `prefix`, as an inclusive range: from
/// the prefix itself to the prefix padded with nines to [`CODE_LEN`]. Codes
/// are digits, so a code lies in the range exactly when it starts with the
/// prefix. None when `prefix` is not digits or longer than a code. For raw
/// SQL: `column BETWEEN ? AND ?` with the two bounds.
pub fn code_range(prefix: &str) -> Option<(String, String)> {
    if prefix.is_empty() || prefix.len() > CODE_LEN || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((prefix.to_string(), format!("{prefix:9<CODE_LEN$}")))
}

/// Whether a database error means the database is out of reach (refused or
/// cut connections, an exhausted or closed pool, a server shutting down)
/// rather than a bad statement: the call may succeed later (UNAVAILABLE).
pub fn is_unavailable(error: &sea_orm::DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    use sea_orm::{DbErr, RuntimeErr};
    let runtime = match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(runtime) | DbErr::Query(runtime) => runtime,
        _ => return false,
    };
    let RuntimeErr::SqlxError(error) = runtime else {
        return false;
    };
    match error.as_ref() {
        Sqlx::Io(_)
        | Sqlx::PoolTimedOut
        | Sqlx::PoolClosed
        | Sqlx::Tls(_)
        | Sqlx::WorkerCrashed
        | Sqlx::Protocol(_) => true,
        // SQLSTATE class 08 (connection exception), shutdowns, too many connections.
        Sqlx::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03" | "53300")),
        _ => false,
    }
}

/// Whether a database error is a unique-key violation (a concurrent duplicate).
pub fn is_unique_violation(error: &sea_orm::DbErr) -> bool {
    let text = error.to_string().to_lowercase();
    text.contains("unique") || text.contains("duplicate key")
}

/// The most bytes of values one multi-row statement should carry: large
/// enough that a batch costs few round trips, small enough to keep memory
/// flat. (The sqlx 0.9.0 we build with is patched to set `TCP_NODELAY`, see
/// `vendor/README.md`; without it anything over ~16 KiB waited 40 ms for the
/// server's delayed ACK, and this limit was 12 KiB.)
pub const MAX_STATEMENT_BYTES: usize = 1024 * 1024;

/// The most rows one multi-row statement carries, so that its bound values
/// stay under SQLite's (32,766) and PostgreSQL's (65,535) limits at up to
/// 16 columns per row.
pub const MAX_STATEMENT_ROWS: usize = 2000;

/// `rows` in consecutive chunks whose estimated encoded size (`bytes` per
/// row) stays under [`MAX_STATEMENT_BYTES`] and whose length stays under
/// [`MAX_STATEMENT_ROWS`]; one row per chunk at least.
pub fn chunks_by_size<T>(rows: &[T], bytes: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, row) in rows.iter().enumerate() {
        let row_bytes = bytes(row);
        if i > start && (size + row_bytes > MAX_STATEMENT_BYTES || i - start == MAX_STATEMENT_ROWS) {
            chunks.push(&rows[start..i]);
            (start, size) = (i, 0);
        }
        size += row_bytes;
    }
    if start < rows.len() {
        chunks.push(&rows[start..]);
    }
    chunks
}

/// The most bound values one statement carries: SQLite allows 32,766,
/// PostgreSQL 65,535.
pub const MAX_STATEMENT_VALUES: usize = MAX_STATEMENT_ROWS * 16;

/// [`chunks_by_size`] for rows of `columns` values each: also few enough
/// rows that a chunk's values stay within [`MAX_STATEMENT_VALUES`] (wide
/// rows, such as bulk loads of whole records, need it).
pub fn chunks_by_width<T>(rows: &[T], columns: usize, bytes: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let most = (MAX_STATEMENT_VALUES / columns.max(1)).max(1);
    rows.chunks(most)
        .flat_map(|part| chunks_by_size(part, &bytes))
        .collect()
}

/// A statement written with `?` placeholders (numbered `$1, $2…` for
/// PostgreSQL); for the aggregates sea-query cannot express. `sql` must not
/// contain a literal question mark.
pub fn statement(db: &impl ConnectionTrait, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    let backend = db.get_database_backend();
    let sql = if backend == sea_orm::DbBackend::Postgres {
        let mut numbered = String::with_capacity(sql.len() + 8);
        let mut n = 0;
        for c in sql.chars() {
            if c == '?' {
                n += 1;
                numbered.push_str(&format!("${n}"));
            } else {
                numbered.push(c);
            }
        }
        numbered
    } else {
        sql.to_string()
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// Runs a plain statement; for the few statements sea-query cannot express.
pub async fn execute(db: &impl ConnectionTrait, sql: &str) -> Result<(), sea_orm::DbErr> {
    db.execute_raw(Statement::from_string(db.get_database_backend(), sql.to_string()))
        .await
        .map(|_| ())
}

pub mod testing {
    //! `TestDb` gives a test a database of its own: a new SQLite file in a
    //! temporary folder, or a new PostgreSQL database named `t_<uuid>` that is
    //! dropped when the `TestDb` is. [`crate::db_tests!`] runs one test body on both.

    use super::*;

    pub const POSTGRES_URL_VAR: &str = "SANSHI_TEST_POSTGRES_URL";
    const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

    pub struct TestDb {
        pub kind: DbKind,
        pub config: DatabaseConfig,
        pub conn: DatabaseConnection,
        cleanup: Cleanup,
    }

    enum Cleanup {
        Dir(#[allow(dead_code)] tempfile::TempDir),
        PgDatabase { admin_url: String, name: String },
    }

    impl TestDb {
        pub async fn sqlite() -> Self {
            let dir = tempfile::tempdir().expect("temporary folder");
            let url = format!("sqlite://{}/test.db", dir.path().display());
            let config = DatabaseConfig {
                url,
                max_connections: 4,
                idempotency_ttl_secs: 3600,
                ..DatabaseConfig::defaults()
            };
            let conn = connect(&config).await.expect("open sqlite test database");
            Self {
                kind: DbKind::Sqlite,
                config,
                conn,
                cleanup: Cleanup::Dir(dir),
            }
        }

        /// A fresh PostgreSQL database, or `None` when PostgreSQL cannot be
        /// reached on a developer machine (announced on stderr). Under `CI=true`
        /// an unreachable PostgreSQL fails the test.
        pub async fn postgres() -> Option<Self> {
            let admin_url = std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into());
            let admin =
                match Database::connect(ConnectOptions::new(admin_url.clone()).sqlx_logging(false).to_owned()).await {
                    Ok(admin) => admin,
                    Err(error) => {
                        if std::env::var("CI").is_ok_and(|v| v == "true") {
                            panic!("PostgreSQL is required under CI=true but {admin_url} is unreachable: {error}");
                        }
                        eprintln!("SKIPPED (PostgreSQL unreachable at {admin_url}: {error}); set {POSTGRES_URL_VAR}");
                        return None;
                    }
                };
            let name = format!("t_{}", uuid::Uuid::new_v4().simple());
            execute(&admin, &format!("CREATE DATABASE {name}"))
                .await
                .expect("create test database");
            admin.close().await.ok();
            let (base, _) = admin_url.rsplit_once('/').expect("postgres url has a database path");
            let config = DatabaseConfig {
                url: format!("{base}/{name}"),
                max_connections: 4,
                idempotency_ttl_secs: 3600,
                ..DatabaseConfig::defaults()
            };
            let conn = connect(&config).await.expect("connect to test database");
            Some(Self {
                kind: DbKind::Postgres,
                config,
                conn,
                cleanup: Cleanup::PgDatabase { admin_url, name },
            })
        }

        pub async fn of_kind(kind: DbKind) -> Option<Self> {
            match kind {
                DbKind::Sqlite => Some(Self::sqlite().await),
                DbKind::Postgres => Self::postgres().await,
            }
        }
    }

    impl Drop for TestDb {
        fn drop(&mut self) {
            if let Cleanup::PgDatabase { admin_url, name } = &self.cleanup {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop may run inside or outside a runtime; a thread of its own works in both.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .ok()?;
                    rt.block_on(async {
                        let admin = Database::connect(ConnectOptions::new(admin_url).sqlx_logging(false).to_owned())
                            .await
                            .ok()?;
                        execute(&admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .await
                            .ok()?;
                        admin.close().await.ok()
                    })
                })
                .join();
            }
        }
    }
}

/// Runs each named `async fn(TestDb)` twice: `sqlite::name` and `postgres::name`.
///
/// ```text
/// async fn stores_and_reads(db: kit::db::testing::TestDb) { … }
/// kit::db_tests!(stores_and_reads);
/// ```
#[macro_export]
macro_rules! db_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::db::testing::TestDb::sqlite().await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = $crate::db::testing::TestDb::postgres().await {
                        super::$name(db).await
                    }
                }
            )*
        }
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn code_range_holds_exactly_the_codes_under_a_prefix() {
        assert_eq!(
            super::code_range("500103"),
            Some(("500103".to_string(), "500103999999".to_string()))
        );
        assert_eq!(super::code_range(""), None);
        assert_eq!(super::code_range("50%"), None);
        let inside = |prefix: &str, code: &str| {
            let (low, high) = super::code_range(prefix).unwrap();
            low.as_str() <= code && code <= high.as_str()
        };
        for (prefix, code) in [
            ("50", "50"),
            ("500103", "500103003013"),
            ("5001", "500199"),
            ("99", "999999999999"),
        ] {
            assert!(inside(prefix, code), "{code} under {prefix}");
        }
        for (prefix, code) in [
            ("500103", "5001"),
            ("500103", "500104"),
            ("500103", "500102999999"),
            ("51", "5"),
        ] {
            assert!(!inside(prefix, code), "{code} not under {prefix}");
        }
    }

    #[test]
    fn chunks_stay_under_the_statement_limit() {
        // Two rows of 40 % each fit; a third would not.
        let rows = vec![super::MAX_STATEMENT_BYTES * 2 / 5; 7];
        let chunks = super::chunks_by_size(&rows, |r| *r);
        assert_eq!(chunks.iter().map(|c| c.len()).collect::<Vec<_>>(), [2, 2, 2, 1]);
        // A row larger than the limit still goes, alone.
        let big = [super::MAX_STATEMENT_BYTES * 2, 1, 1];
        assert_eq!(super::chunks_by_size(&big, |r| *r).len(), 2);
        assert!(super::chunks_by_size(&[] as &[usize], |r| *r).is_empty());
        // Many small rows are split by count.
        let small = vec![1; super::MAX_STATEMENT_ROWS * 2 + 1];
        let lengths: Vec<usize> = super::chunks_by_size(&small, |r| *r).iter().map(|c| c.len()).collect();
        assert_eq!(lengths, [super::MAX_STATEMENT_ROWS, super::MAX_STATEMENT_ROWS, 1]);
    }

    #[test]
    fn wide_rows_stay_under_the_value_limit() {
        let rows = vec![1; super::MAX_STATEMENT_ROWS];
        let chunks = super::chunks_by_width(&rows, 32, |r| *r);
        assert_eq!(chunks.iter().map(|c| c.len()).collect::<Vec<_>>(), [1000, 1000]);
        assert!(chunks.iter().all(|c| c.len() * 32 <= super::MAX_STATEMENT_VALUES));
    }

    use super::*;

    #[test]
    fn url_schemes() {
        assert_eq!(DbKind::of_url("postgres://u@h/db"), Ok(DbKind::Postgres));
        assert_eq!(DbKind::of_url("sqlite://data/x.db"), Ok(DbKind::Sqlite));
        assert!(
            DbKind::of_url("mysql://h/db")
                .unwrap_err()
                .contains("unsupported scheme")
        );
        assert!(DbKind::of_url("data/x.db").is_err());
    }
}
