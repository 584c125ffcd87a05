//! Incentive's storage.

pub mod audit;
pub mod awards;
pub mod experts;
pub mod ledger;
pub mod policies;
pub mod professionals;
pub mod years;
