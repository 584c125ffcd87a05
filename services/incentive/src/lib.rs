//! The incentive service: points for scored service records, an append-only
//! ledger, star ratings, incentive policies and leaderboards. So far: the
//! domain rules (issue 6 continues with storage, the gRPC API, the consumer
//! of records' events, the roll-over and the benchmark).

pub mod consumers;
pub mod domain;
pub mod migrations;
pub mod store;
