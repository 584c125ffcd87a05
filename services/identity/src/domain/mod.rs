//! Identity's rules, free of I/O.

pub mod account;
pub mod audit;
pub mod lockout;
pub mod password;
pub mod phone_code;
pub mod region;
