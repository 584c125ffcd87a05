//! Matching's rules, free of I/O: community profiles, the match life cycle,
//! recommendation scores, teams, the need state machine and who sees what
//! of a need.

pub mod community;
pub mod division;
pub mod geo;
pub mod lifecycle;
pub mod need;
pub mod score;
pub mod team;
pub mod visibility;
