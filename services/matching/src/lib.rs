//! The matching service: communities and their profiles, the read model of
//! qualified professionals, two-way matching, recommendations, optimal batch
//! assignment, teams and residents' needs.

pub mod domain;
pub mod migrations;
pub mod store;
