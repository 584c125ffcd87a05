//! Qualification rules, free of I/O.
