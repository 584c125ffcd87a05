//! Incentive's storage.

pub mod ledger;
