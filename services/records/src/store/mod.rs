//! Records' storage.

pub mod attachments;
pub mod matches;
pub mod records;
pub mod surveys;

use kit::{ServiceError, ServiceResult};
use sea_orm::DbErr;
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) fn to_json(value: &impl Serialize) -> Result<String, DbErr> {
    serde_json::to_string(value).map_err(|e| DbErr::Custom(e.to_string()))
}

pub(crate) fn from_json<T: DeserializeOwned>(text: &str) -> ServiceResult<T> {
    serde_json::from_str(text).map_err(ServiceError::internal)
}

pub(crate) fn prefix(column: &'static str, prefix: &str) -> SimpleExpr {
    if prefix.is_empty() {
        Expr::value(true)
    } else {
        Expr::col(column).like(format!("{prefix}%"))
    }
}

/// Whether a database error is a unique-key violation (a concurrent duplicate).
pub fn is_unique_violation(error: &DbErr) -> bool {
    let text = error.to_string().to_lowercase();
    text.contains("unique") || text.contains("duplicate key")
}
