//! Matching's storage: plain queries over its own tables. Profiles and lists
//! are JSON where they are read whole; what is filtered on has a column.

pub mod assignments;
pub mod communities;
pub mod matches;
pub mod needs;
pub mod professionals;
pub mod teams;

use kit::{ServiceError, ServiceResult};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DbErr};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) fn to_json(value: &impl Serialize) -> Result<String, DbErr> {
    serde_json::to_string(value).map_err(|e| DbErr::Custom(e.to_string()))
}

pub(crate) fn from_json<T: DeserializeOwned>(text: &str) -> ServiceResult<T> {
    serde_json::from_str(text).map_err(ServiceError::internal)
}

/// A code-prefix condition: `column` starts with `prefix` (every row for "").
pub(crate) fn prefix(column: &'static str, prefix: &str) -> SimpleExpr {
    if prefix.is_empty() {
        Expr::value(true)
    } else {
        Expr::col(column).like(format!("{prefix}%"))
    }
}

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

/// Offset page tokens: lists here are small (a city's communities), and
/// some are ordered by computed values that keyset paging cannot follow.
pub mod page {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use kit::{ServiceError, ServiceResult};

    pub const DEFAULT_SIZE: u64 = 50;
    pub const MAX_SIZE: u64 = 500;

    pub fn size(requested: i32) -> ServiceResult<u64> {
        match requested {
            0 => Ok(DEFAULT_SIZE),
            n if n < 0 => Err(ServiceError::invalid("page_size", "每页条数不能为负数")),
            n => Ok((n as u64).min(MAX_SIZE)),
        }
    }

    pub fn offset(token: &str) -> ServiceResult<u64> {
        if token.is_empty() {
            return Ok(0);
        }
        URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("o:").and_then(|n| n.parse().ok()))
            .ok_or_else(|| ServiceError::invalid("page_token", "分页标记无效"))
    }

    /// The token of the next page, if `fetched` (one more than the page) shows there is one.
    pub fn next(offset: u64, size: u64, fetched: usize) -> String {
        if fetched as u64 > size {
            URL_SAFE_NO_PAD.encode(format!("o:{}", offset + size))
        } else {
            String::new()
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn tokens_round_trip_and_bad_ones_are_refused() {
            let token = next(50, 50, 51);
            assert_eq!(offset(&token).unwrap(), 100);
            assert_eq!(next(0, 50, 50), "");
            assert!(offset("bm9wZQ").is_err());
            assert!(size(-1).is_err());
            assert_eq!(size(0).unwrap(), DEFAULT_SIZE);
            assert_eq!(size(10_000).unwrap(), MAX_SIZE);
        }
    }
}
