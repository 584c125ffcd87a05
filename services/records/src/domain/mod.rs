//! Records' rules, free of I/O: what makes a valid visit record, the record
//! workflow, ratings, surveys and the community wellbeing index.

pub mod record;
pub mod survey;
pub mod wellbeing;
pub mod workflow;
