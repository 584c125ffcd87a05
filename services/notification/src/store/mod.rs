//! Notification's storage.

pub mod inbox;
pub mod webhooks;
