//! Notification's storage.

pub mod inbox;
