//! The records service: service visits, their confirmation and ratings,
//! opinion surveys and the community wellbeing index.

pub mod config;
pub mod domain;
pub mod migrations;
pub mod store;
