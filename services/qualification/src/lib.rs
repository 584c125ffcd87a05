//! The qualification service: professionals' applications, automatic
//! pre-checks and the review workflow. It is the source of truth for who is
//! qualified to serve.

pub mod domain;
