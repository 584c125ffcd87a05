//! Distances and synthetic positions: the solver crate's, so that the
//! service, the batch assignment and the benchmark measure alike.

pub use matching_solver::geo::{EARTH_RADIUS_KM, haversine_km, synthetic_position, valid_position};
