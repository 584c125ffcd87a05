//! Notification's storage.

pub mod announcements;
pub mod inbox;
pub mod preferences;
pub mod webhooks;
