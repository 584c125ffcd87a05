//! Incentive's rules, free of I/O. Points are kept in tenths (`Tenths`) so
//! that sums are exact and every explanation adds up to the stored amount.

pub mod points;
pub mod policies;
pub mod stars;

/// An amount of points in tenths of a point (13.7 points = 137).
pub type Tenths = i64;

/// "13.7" for 137.
pub fn format_points(points: Tenths) -> String {
    let sign = if points < 0 { "-" } else { "" };
    let abs = points.unsigned_abs();
    format!("{sign}{}.{}", abs / 10, abs % 10)
}

#[cfg(test)]
mod tests {
    #[test]
    fn points_are_shown_with_one_decimal() {
        assert_eq!(super::format_points(137), "13.7");
        assert_eq!(super::format_points(-5), "-0.5");
        assert_eq!(super::format_points(0), "0.0");
    }
}
