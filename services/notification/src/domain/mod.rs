//! Notification's rules, free of I/O: which events concern whom, in words.

pub mod signature;
pub mod templates;
