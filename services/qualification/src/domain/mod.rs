//! Qualification rules, free of I/O.
//!
//! - [`profession`]: the professions, core (三师) and 三师+.
//! - [`specialty`]: the curated specialty tags.
//! - [`application`]: what an applicant enters, and draft validation.
//! - [`precheck`]: the automatic checks at submission (hard violations,
//!   soft findings for the reviewer, normalised values for the store).
//! - [`workflow`]: states, actions and the one transition table.
//! - [`dates`]: expiry and whole-year arithmetic.

pub mod application;
pub mod dates;
pub mod precheck;
pub mod profession;
pub mod specialty;
pub mod workflow;

pub use application::{ApplicationInput, Certificate, Consent, Location, validate_draft};
pub use dates::{expiry, is_expired};
pub use precheck::{Finding, Normalized, Precheck, Rules, precheck, years_of_practice};
pub use profession::Profession;
pub use workflow::{Action, Actor, IllegalTransition, State, transition};
