//! Notification's rules, free of I/O: which events concern whom, in words;
//! people's preferences; whom announcements reach; where webhooks may go.

pub mod addresses;
pub mod announcements;
pub mod preferences;
pub mod signature;
pub mod templates;
pub mod webhooks;
