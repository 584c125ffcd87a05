//! Distances and synthetic positions.

/// Mean Earth radius (IUGG), in kilometres.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Great-circle distance by the haversine formula, in kilometres.
pub fn haversine_km(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let dphi = (lat2 - lat1).to_radians();
    let dlambda = (lon2 - lon1).to_radians();
    let a = (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

/// Whether a coordinate pair is a plausible WGS-84 position.
pub fn valid_position(lon: f64, lat: f64) -> bool {
    lon.is_finite() && lat.is_finite() && (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat)
}

/// A deterministic stand-in position for a community whose real one was not
/// entered: its street is placed within about 6 km of the district centroid,
/// the community within about 1 km of its street, both by a stable hash of
/// the code. Synthetic positions are flagged wherever they are shown.
pub fn synthetic_position(code: &str, district_lon: f64, district_lat: f64) -> (f64, f64) {
    let street = code.get(..9).unwrap_or(code);
    let (street_dx, street_dy) = offset_km(street, 6.0);
    let (dx, dy) = offset_km(code, 1.0);
    let km_per_degree_lat = EARTH_RADIUS_KM * std::f64::consts::PI / 180.0;
    let km_per_degree_lon = km_per_degree_lat * district_lat.to_radians().cos().max(0.01);
    (
        district_lon + (street_dx + dx) / km_per_degree_lon,
        district_lat + (street_dy + dy) / km_per_degree_lat,
    )
}

/// A point uniformly spread in a disc of `radius_km`, from the FNV-1a hash of `key`.
fn offset_km(key: &str, radius_km: f64) -> (f64, f64) {
    let hash = fnv1a(key.as_bytes());
    let u = (hash >> 32) as f64 / f64::from(u32::MAX);
    let v = (hash & 0xffff_ffff) as f64 / f64::from(u32::MAX);
    let (r, theta) = (radius_km * u.sqrt(), 2.0 * std::f64::consts::PI * v);
    (r * theta.cos(), r * theta.sin())
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haversine_matches_known_distances() {
        // London to Paris, a textbook example: 343.56 km on the mean sphere.
        let d = haversine_km(-0.1278, 51.5074, 2.3522, 48.8566);
        assert!((d - 343.5565).abs() < 1e-3, "{d}");
        // Symmetric.
        let there = haversine_km(106.5775, 29.5586, 104.0657, 30.6574);
        assert_eq!(there, haversine_km(104.0657, 30.6574, 106.5775, 29.5586));
        // One degree of latitude is R·π/180.
        let one = haversine_km(0.0, 0.0, 0.0, 1.0);
        assert!((one - EARTH_RADIUS_KM * std::f64::consts::PI / 180.0).abs() < 1e-9);
        assert_eq!(haversine_km(106.5, 29.5, 106.5, 29.5), 0.0);
    }

    #[test]
    fn synthetic_positions_are_stable_distinct_and_near_the_centroid() {
        let a = synthetic_position("500103003001", 106.57, 29.55);
        assert_eq!(a, synthetic_position("500103003001", 106.57, 29.55));
        let b = synthetic_position("500103003002", 106.57, 29.55);
        assert_ne!(a, b);
        for code in ["500103003001", "500103003002", "500104001001", "500106002010"] {
            let (lon, lat) = synthetic_position(code, 106.57, 29.55);
            assert!(haversine_km(lon, lat, 106.57, 29.55) <= 7.01);
        }
        // Same street: within 2 km of each other.
        assert!(haversine_km(a.0, a.1, b.0, b.1) <= 2.01);
    }
}
