//! Distances on the sphere, a uniform grid index for "every point within r km", and the
//! deterministic synthetic positions of communities whose real position is unknown.

/// Mean Earth radius in kilometres (IUGG mean radius R₁), used by every distance here.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Kilometres per degree of latitude (and of longitude on the equator) on that sphere.
const KM_PER_DEGREE: f64 = EARTH_RADIUS_KM * std::f64::consts::PI / 180.0;

/// Great-circle distance in metres between two WGS-84 positions given in degrees, by the
/// haversine formula on a sphere of radius [`EARTH_RADIUS_KM`].
pub fn haversine_m(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    haversine_km(lon1, lat1, lon2, lat2) * 1000.0
}

/// [`haversine_m`] in kilometres. Eligibility (`distance ≤ max_distance_km`) is decided on this
/// value.
pub fn haversine_km(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let dphi = phi2 - phi1;
    let dlambda = (lon2 - lon1).to_radians();
    haversine_core(dphi, dlambda, phi1.cos(), phi2.cos())
}

/// The haversine formula from the latitude and longitude differences (radians) and the cosines of
/// both latitudes. `haversine_km` and the grid share it so that both compute bit-identical values.
#[inline]
fn haversine_core(dphi: f64, dlambda: f64, cos_phi1: f64, cos_phi2: f64) -> f64 {
    let s_phi = (dphi * 0.5).sin();
    let s_lambda = (dlambda * 0.5).sin();
    // Rounding can push `a` a hair outside [0, 1] for antipodal points; asin needs it inside.
    let a = (s_phi * s_phi + cos_phi1 * cos_phi2 * s_lambda * s_lambda).clamp(0.0, 1.0);
    2.0 * EARTH_RADIUS_KM * a.sqrt().asin()
}

/// A uniform grid over latitude/longitude for finding every point within a fixed radius.
///
/// Rows are bands of latitude `cell` degrees high, where `cell` is the radius in degrees of
/// latitude (at least 0.01°); each row is cut into equal longitude cells at least `cell / cos(φ)`
/// wide, φ being the row's latitude nearest the pole, so that a cell spans about the radius on the
/// ground. Points are stored sorted by (row, column), so the cells of one row that a query
/// touches are one contiguous slice.
///
/// A query at (λ, φ) with angular radius θ visits the rows that overlap [φ − θ, φ + θ] and, in
/// each, the columns that overlap [λ − Δλ, λ + Δλ] (wrapping at ±180°), with
/// Δλ = asin(sin θ / cos φ) — the largest longitude difference of any point of the spherical cap
/// around (λ, φ) — or every column when the cap contains a pole. Every candidate is then checked
/// with [`haversine_km`] exactly, so the result is exactly the brute-force set
/// `{ i : haversine_km(query, point_i) ≤ radius_km }`.
#[derive(Debug, Clone)]
pub struct GridIndex {
    radius_km: f64,
    /// Height of a row in degrees.
    cell_deg: f64,
    /// `row_start[r]..row_start[r + 1]` indexes `cells` for row `r`.
    row_start: Vec<u32>,
    /// Number of longitude columns of each row (360° divided evenly).
    row_columns: Vec<u32>,
    /// Occupied cells, sorted by (row, column): the column and the first index into `points`.
    cells: Vec<(u32, u32)>,
    /// Points sorted by cell: original index, lon, lat (degrees), cos(lat).
    points: Vec<GridPoint>,
}

#[derive(Debug, Clone, Copy)]
struct GridPoint {
    index: u32,
    lon: f64,
    phi: f64,
    cos_phi: f64,
}

impl GridIndex {
    /// Indexes `points` (longitude, latitude in degrees) for queries of radius `radius_km`.
    ///
    /// Returns `None` if the radius is not finite and positive, a coordinate is not finite or out
    /// of range (longitude −180..=180, latitude −90..=90), or there are more than `u32::MAX`
    /// points.
    pub fn new(points: &[(f64, f64)], radius_km: f64) -> Option<GridIndex> {
        if !(radius_km.is_finite() && radius_km > 0.0) || points.len() >= u32::MAX as usize {
            return None;
        }
        if points.iter().any(|&(lon, lat)| !valid_position(lon, lat)) {
            return None;
        }
        let cell_deg = (radius_km / KM_PER_DEGREE).clamp(0.01, 180.0);
        let rows = (180.0 / cell_deg).ceil() as usize;
        let row_columns: Vec<u32> = (0..rows)
            .map(|row| {
                let south = -90.0 + row as f64 * cell_deg;
                let north = (south + cell_deg).min(90.0);
                let poleward = south.abs().max(north.abs()).min(90.0);
                let cos = poleward.to_radians().cos();
                // Columns at least `cell_deg / cos` wide, dividing 360° evenly.
                let columns = (360.0 * cos / cell_deg).floor();
                columns.clamp(1.0, 1.0e7) as u32
            })
            .collect();
        let mut keyed: Vec<(u32, u32, GridPoint)> = points
            .iter()
            .enumerate()
            .map(|(index, &(lon, lat))| {
                let row = row_of(lat, cell_deg, rows);
                let column = column_of(lon, row_columns[row as usize]);
                let phi = lat.to_radians();
                // `index < u32::MAX` was checked above.
                let point = GridPoint {
                    index: index as u32,
                    lon,
                    phi,
                    cos_phi: phi.cos(),
                };
                (row, column, point)
            })
            .collect();
        keyed.sort_by_key(|&(row, column, point)| (row, column, point.index));
        let mut row_start = vec![0u32; rows + 1];
        let mut cells: Vec<(u32, u32)> = Vec::new();
        let mut sorted = Vec::with_capacity(keyed.len());
        let mut previous: Option<(u32, u32)> = None;
        for (row, column, point) in keyed {
            if previous != Some((row, column)) {
                cells.push((column, sorted.len() as u32));
                row_start[row as usize + 1] += 1;
                previous = Some((row, column));
            }
            sorted.push(point);
        }
        for row in 0..rows {
            row_start[row + 1] += row_start[row];
        }
        Some(GridIndex {
            radius_km,
            cell_deg,
            row_start,
            row_columns,
            cells,
            points: sorted,
        })
    }

    /// The radius the index was built for.
    pub fn radius_km(&self) -> f64 {
        self.radius_km
    }

    /// Calls `found(index, distance_km)` for every indexed point within the radius of (lon, lat),
    /// in no particular order. Does nothing for an invalid query position.
    pub fn for_each_within(&self, lon: f64, lat: f64, mut found: impl FnMut(usize, f64)) {
        if !valid_position(lon, lat) || self.points.is_empty() {
            return;
        }
        // The query works with a slightly larger radius so that rounding in the bounds below can
        // never drop a point; candidates are filtered with the exact radius.
        let theta = self.radius_km / EARTH_RADIUS_KM * (1.0 + 1e-7) + 1e-8;
        let theta_deg = theta.to_degrees();
        let phi = lat.to_radians();
        let cos_phi = phi.cos();
        // Half-width in longitude of the spherical cap, or None when the cap holds a pole or
        // comes close (asin is ill-conditioned near 1).
        let half_width_deg = if theta < std::f64::consts::FRAC_PI_2 - phi.abs() {
            let s = theta.sin() / cos_phi;
            if s < 0.999 { Some(s.asin().to_degrees()) } else { None }
        } else {
            None
        };
        let rows = self.row_columns.len();
        let first_row = row_of((lat - theta_deg).max(-90.0), self.cell_deg, rows);
        let last_row = row_of((lat + theta_deg).min(90.0), self.cell_deg, rows);
        for row in first_row..=last_row {
            let row = row as usize;
            let cells = &self.cells[self.row_start[row] as usize..self.row_start[row + 1] as usize];
            if cells.is_empty() {
                continue;
            }
            let end_of_row = self.cells_end(row);
            let columns = self.row_columns[row];
            let width = 360.0 / f64::from(columns);
            let all = [Some((0, columns - 1)), None];
            let ranges = match half_width_deg {
                Some(half) => {
                    let lo = ((lon - half + 180.0) / width).floor() as i64;
                    let hi = ((lon + half + 180.0) / width).floor() as i64;
                    if hi - lo + 1 >= i64::from(columns) {
                        all
                    } else {
                        column_ranges(lo, hi, i64::from(columns))
                    }
                }
                None => all,
            };
            for (lo, hi) in ranges.into_iter().flatten() {
                let first = cells.partition_point(|&(column, _)| column < lo);
                for (k, &(column, start)) in cells.iter().enumerate().skip(first) {
                    if column > hi {
                        break;
                    }
                    let end = cells.get(k + 1).map_or(end_of_row, |&(_, next)| next);
                    for point in &self.points[start as usize..end as usize] {
                        let d = haversine_core(point.phi - phi, (point.lon - lon).to_radians(), cos_phi, point.cos_phi);
                        if d <= self.radius_km {
                            found(point.index as usize, d);
                        }
                    }
                }
            }
        }
    }

    /// Every indexed point within the radius of (lon, lat) as (index, distance_km), sorted by index.
    pub fn within(&self, lon: f64, lat: f64) -> Vec<(usize, f64)> {
        let mut out = Vec::new();
        self.for_each_within(lon, lat, |index, d| out.push((index, d)));
        out.sort_by_key(|&(index, _)| index);
        out
    }

    /// One past the last point of `row`.
    fn cells_end(&self, row: usize) -> u32 {
        let next_cell = self.row_start[row + 1] as usize;
        self.cells
            .get(next_cell)
            .map_or(self.points.len() as u32, |&(_, start)| start)
    }
}

/// Column ranges for the (possibly wrapping) column interval `lo..=hi` of a row of `columns`
/// columns; `hi - lo + 1 < columns` is guaranteed by the caller.
fn column_ranges(lo: i64, hi: i64, columns: i64) -> [Option<(u32, u32)>; 2] {
    let lo_wrapped = lo.rem_euclid(columns);
    let hi_wrapped = hi.rem_euclid(columns);
    // Both values are in 0..columns, and columns ≤ 1e7 fits u32.
    let (lo_w, hi_w) = (lo_wrapped as u32, hi_wrapped as u32);
    if lo_wrapped <= hi_wrapped {
        [Some((lo_w, hi_w)), None]
    } else {
        [Some((lo_w, (columns - 1) as u32)), Some((0, hi_w))]
    }
}

fn row_of(lat: f64, cell_deg: f64, rows: usize) -> u32 {
    let row = ((lat + 90.0) / cell_deg).floor();
    row.clamp(0.0, (rows - 1) as f64) as u32
}

fn column_of(lon: f64, columns: u32) -> u32 {
    let width = 360.0 / f64::from(columns);
    let column = ((lon + 180.0) / width).floor() as i64;
    column.rem_euclid(i64::from(columns)) as u32
}

/// Whether (lon, lat) are finite degrees within −180..=180 and −90..=90.
pub fn valid_position(lon: f64, lat: f64) -> bool {
    lon.is_finite() && lat.is_finite() && (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat)
}

/// 64-bit FNV-1a of `bytes`, finished with the SplitMix64 mixer so that the low and high bits
/// are both well spread. Stable across runs, platforms and Rust versions (unlike std's hasher).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    splitmix64(h)
}

/// The SplitMix64 finaliser: a bijective mixer of 64-bit values.
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Radius in km around the district centroid within which a street's synthetic centre lies.
pub const STREET_RADIUS_KM: f64 = 3.0;
/// Radius in km around its street's centre within which a community's synthetic position lies.
pub const COMMUNITY_RADIUS_KM: f64 = 1.0;

/// A deterministic, **synthetic** position (lon, lat) for the community with division code `code`
/// (12 digits: 2 province, 4 city, 6 district, 9 street, 12 community) in the district whose
/// centroid is (`district_lon`, `district_lat`).
///
/// Real community positions are not in the division data. This places the street (the code's
/// 9-character prefix) uniformly in a disc of [`STREET_RADIUS_KM`] around the district centroid,
/// and the community uniformly in a disc of [`COMMUNITY_RADIUS_KM`] around its street, both
/// drawn from [`stable_hash`] of the code, so every community of a street lies within 4 km of
/// the centroid and near its neighbours. A code shorter than 9 characters is its own street.
/// The result is a valid position for any finite centroid (latitude clamped to ±90°, longitude
/// wrapped into −180..180).
pub fn synthetic_position(code: &str, district_lon: f64, district_lat: f64) -> (f64, f64) {
    let street = code.get(..9).unwrap_or(code);
    let (east, north) = disc_offset(stable_hash(street.as_bytes()), STREET_RADIUS_KM);
    let (lon, lat) = offset_km(district_lon, district_lat, east, north);
    let (east, north) = disc_offset(stable_hash(code.as_bytes()), COMMUNITY_RADIUS_KM);
    offset_km(lon, lat, east, north)
}

/// A point uniformly distributed in a disc of `radius_km`, from a 64-bit hash:
/// (east, north) offsets in km.
pub fn disc_offset(hash: u64, radius_km: f64) -> (f64, f64) {
    let u = (hash >> 32) as f64 / 4_294_967_296.0;
    let v = (hash & 0xffff_ffff) as f64 / 4_294_967_296.0;
    let r = radius_km * u.sqrt();
    let angle = v * std::f64::consts::TAU;
    (r * angle.cos(), r * angle.sin())
}

/// Moves (lon, lat) by `east` and `north` kilometres (local flat approximation), clamping the
/// latitude to ±90° and wrapping the longitude into −180..180.
pub fn offset_km(lon: f64, lat: f64, east: f64, north: f64) -> (f64, f64) {
    let new_lat = (lat + north / KM_PER_DEGREE).clamp(-90.0, 90.0);
    let cos = lat.to_radians().cos().max(1e-6);
    let new_lon = (lon + east / (KM_PER_DEGREE * cos) + 180.0).rem_euclid(360.0) - 180.0;
    (new_lon, new_lat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn haversine_known_distances() {
        // One degree of latitude on the mean sphere: R·π/180.
        let d = haversine_m(0.0, 0.0, 0.0, 1.0);
        assert!((d - 111_195.08).abs() < 0.01, "{d}");
        // A quarter of a great circle: pole to equator.
        let d = haversine_m(10.0, 0.0, -50.0, 90.0);
        assert!(
            (d - EARTH_RADIUS_KM * 1000.0 * std::f64::consts::FRAC_PI_2).abs() < 1e-3,
            "{d}"
        );
        // Antipodes: half the circumference.
        let d = haversine_m(0.0, 0.0, 180.0, 0.0);
        assert!(
            (d - EARTH_RADIUS_KM * 1000.0 * std::f64::consts::PI).abs() < 1e-3,
            "{d}"
        );
        // Rosetta Code's haversine task: BNA (36.12, −86.67) to LAX (33.94, −118.40) is
        // 2887.26 km on a sphere of radius 6372.8 km; scaled to the mean radius.
        let d = haversine_m(-86.67, 36.12, -118.40, 33.94) / 1000.0;
        assert!((d - 2887.2599506 * EARTH_RADIUS_KM / 6372.8).abs() < 1e-3, "{d}");
        // Beijing (Tiananmen) to Shanghai (People's Square): about 1,068 km.
        let d = haversine_m(116.3975, 39.9087, 121.4737, 31.2304) / 1000.0;
        assert!((d - 1068.14).abs() < 0.01, "{d}");
        // Paris to London: about 343.56 km.
        let d = haversine_m(2.3522, 48.8566, -0.1278, 51.5074) / 1000.0;
        assert!((d - 343.557).abs() < 0.001, "{d}");
        // Across the antimeridian is short.
        let d = haversine_m(179.9, 0.0, -179.9, 0.0);
        assert!((d - 22_239.0).abs() < 1.0, "{d}");
        assert_eq!(haversine_m(106.5, 29.5, 106.5, 29.5), 0.0);
    }

    #[test]
    fn stable_hash_is_fixed() {
        // FNV-1a("") is the offset basis; pinned so that synthetic positions never move.
        assert_eq!(stable_hash(b""), splitmix64(0xcbf2_9ce4_8422_2325));
        assert_eq!(stable_hash(b"500103003013"), stable_hash(b"500103003013"));
        assert_ne!(stable_hash(b"500103003013"), stable_hash(b"500103003014"));
    }

    #[test]
    fn synthetic_positions_are_near_the_centroid_and_the_street() {
        let (clon, clat) = (106.57, 29.55);
        let a = synthetic_position("500103003013", clon, clat);
        let b = synthetic_position("500103003014", clon, clat);
        assert_eq!(a, synthetic_position("500103003013", clon, clat));
        assert_ne!(a, b);
        for p in [a, b] {
            assert!(haversine_m(clon, clat, p.0, p.1) <= 4_000.0 + 1.0);
        }
        // Same street: within 2 km of each other.
        assert!(haversine_m(a.0, a.1, b.0, b.1) <= 2_000.0 + 1.0);
        // Pinned: the matching service relies on positions derived from this function, so they
        // must not move between versions.
        let (lon, lat) = a;
        assert!(
            (lon - 106.582500065255).abs() < 1e-9 && (lat - 29.549855509204).abs() < 1e-9,
            "{a:?}"
        );
        // Valid even at the edge of the map.
        let p = synthetic_position("x", 179.999, 89.999);
        assert!(valid_position(p.0, p.1), "{p:?}");
    }

    #[test]
    fn grid_rejects_bad_input() {
        assert!(GridIndex::new(&[(0.0, 0.0)], 0.0).is_none());
        assert!(GridIndex::new(&[(0.0, 0.0)], f64::NAN).is_none());
        assert!(GridIndex::new(&[(f64::NAN, 0.0)], 1.0).is_none());
        assert!(GridIndex::new(&[(0.0, 91.0)], 1.0).is_none());
        let grid = GridIndex::new(&[], 1.0);
        assert!(grid.is_some_and(|g| g.within(0.0, 0.0).is_empty()));
    }

    #[test]
    fn grid_finds_across_the_antimeridian_and_near_poles() {
        let points = [
            (179.99, 0.0),
            (-179.99, 0.0),
            (0.0, 89.99),
            (180.0, 89.99),
            (90.0, -90.0),
        ];
        let grid = GridIndex::new(&points, 5.0).unwrap();
        let found: Vec<usize> = grid.within(-180.0, 0.0).into_iter().map(|(i, _)| i).collect();
        assert_eq!(found, vec![0, 1]);
        let found: Vec<usize> = grid.within(45.0, 89.995).into_iter().map(|(i, _)| i).collect();
        assert_eq!(found, vec![2, 3]);
        let found: Vec<usize> = grid.within(-10.0, -89.99).into_iter().map(|(i, _)| i).collect();
        assert_eq!(found, vec![4]);
    }

    fn brute_force(points: &[(f64, f64)], lon: f64, lat: f64, radius_km: f64) -> Vec<(usize, f64)> {
        points
            .iter()
            .enumerate()
            .map(|(i, &(plon, plat))| (i, haversine_km(lon, lat, plon, plat)))
            .filter(|&(_, d)| d <= radius_km)
            .collect()
    }

    fn position(lon: std::ops::Range<f64>, lat: std::ops::Range<f64>) -> impl Strategy<Value = (f64, f64)> {
        (lon, lat)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Clustered points in a small area (the realistic case) with radii around the spacing.
        #[test]
        fn grid_equals_brute_force_locally(
            points in prop::collection::vec(position(106.0..106.3, 29.4..29.7), 0..120),
            queries in prop::collection::vec(position(105.95..106.35, 29.35..29.75), 1..20),
            radius_km in 0.05f64..20.0,
        ) {
            let grid = GridIndex::new(&points, radius_km).unwrap();
            for &(lon, lat) in &queries {
                prop_assert_eq!(grid.within(lon, lat), brute_force(&points, lon, lat, radius_km));
            }
        }

        /// Anywhere on the globe, including the poles, the antimeridian and huge radii.
        #[test]
        fn grid_equals_brute_force_globally(
            points in prop::collection::vec(
                prop_oneof![
                    position(-180.0..180.0, -90.0..90.0),
                    position(179.0..180.0, -90.0..90.0),
                    position(-180.0..-179.0, 85.0..90.0),
                    Just((180.0, 90.0)),
                    Just((-180.0, -90.0)),
                ],
                0..80,
            ),
            queries in prop::collection::vec(
                prop_oneof![position(-180.0..180.0, -90.0..90.0), position(179.5..180.0, 80.0..90.0)],
                1..20,
            ),
            radius_km in prop_oneof![0.1f64..50.0, 50.0f64..3000.0, 3000.0f64..25000.0],
        ) {
            let grid = GridIndex::new(&points, radius_km).unwrap();
            for &(lon, lat) in &queries {
                prop_assert_eq!(grid.within(lon, lat), brute_force(&points, lon, lat, radius_km));
            }
        }
    }
}
