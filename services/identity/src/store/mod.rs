//! Identity's storage: sea-orm entities and the queries the API needs.

pub mod accounts;
pub mod audit;
pub mod entities;
pub mod keys;
pub mod phone_codes;
pub mod regions;
pub mod tokens;

use kit::ServiceError;
use sea_orm::{DbErr, SqlErr};

/// Maps a unique-constraint violation to ALREADY_EXISTS with `message`;
/// anything else stays an internal error.
pub fn unique_violation(error: DbErr, message: &str) -> ServiceError {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => ServiceError::AlreadyExists(message.into()),
        _ => error.into(),
    }
}
