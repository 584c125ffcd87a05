//! Records' storage.

pub mod attachments;
pub mod matches;
pub mod records;
pub mod stats;
pub mod surveys;

pub(crate) use kit::db::{code_prefix as prefix, from_json, is_unique_violation, to_json};
