//! Matching's storage: plain queries over its own tables. Profiles and lists
//! are JSON where they are read whole; what is filtered on has a column.

pub mod assignments;
pub mod channels;
pub mod communities;
pub mod matches;
pub mod needs;
pub mod professionals;
pub mod stats;
pub mod teams;

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DbErr};

pub(crate) use kit::db::{code_prefix as prefix, from_json, to_json};

/// Rows matched by an `UPDATE`: touching a row first serialises writers of
/// it (a row lock on PostgreSQL; SQLite write transactions are exclusive).
pub(crate) async fn touch(
    db: &impl ConnectionTrait,
    table: &'static str,
    key: &'static str,
    id: &str,
) -> Result<u64, DbErr> {
    let update = Query::update()
        .table(table)
        .value(key, id)
        .and_where(Expr::col(key).eq(id))
        .to_owned();
    Ok(db.execute(&update).await?.rows_affected())
}

pub use kit::page;
