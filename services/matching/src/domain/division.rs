//! The communities the service starts with: every urban community (社区,
//! not village committees) of the seeded city, from the real division data.

use super::geo::synthetic_position;
use std::collections::HashMap;

/// Chongqing's division data, shipped with identity (see its data README for
/// provenance); matching reads the same file so that codes agree.
pub const CHONGQING: &str = include_str!("../../../identity/data/regions-500000.csv");

#[derive(Debug, Clone, PartialEq)]
pub struct SeedCommunity {
    pub code: String,
    pub name: String,
    pub street_code: String,
    pub street_name: String,
    pub district_code: String,
    pub district_name: String,
    /// Synthetic: near the district centroid (see [`synthetic_position`]).
    pub lon: f64,
    pub lat: f64,
}

/// Urban communities of a `code,name,level,parent_code,lon,lat` file.
pub fn urban_communities(csv: &str) -> Result<Vec<SeedCommunity>, String> {
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut centroids: HashMap<&str, (f64, f64)> = HashMap::new();
    let mut communities = Vec::new();
    for (n, line) in csv.lines().enumerate().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let [code, name, level, _parent, lon, lat] = cols[..] else {
            return Err(format!("line {}: expected 6 columns", n + 1));
        };
        names.insert(code, name);
        if level == "district"
            && let (Ok(lon), Ok(lat)) = (lon.parse(), lat.parse())
        {
            centroids.insert(code, (lon, lat));
        }
        if level == "community" && name.contains("社区") && code.len() == 12 {
            communities.push((code, name));
        }
    }
    communities
        .into_iter()
        .map(|(code, name)| {
            let (street, district) = (&code[..9], &code[..6]);
            let &(dlon, dlat) = centroids
                .get(district)
                .ok_or_else(|| format!("community {code}: district {district} has no centroid"))?;
            let (lon, lat) = synthetic_position(code, dlon, dlat);
            Ok(SeedCommunity {
                code: code.into(),
                name: name.into(),
                street_code: street.into(),
                street_name: names.get(street).copied().unwrap_or_default().into(),
                district_code: district.into(),
                district_name: names.get(district).copied().unwrap_or_default().into(),
                lon,
                lat,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chongqing_has_3345_urban_communities_with_names_and_positions() {
        let all = urban_communities(CHONGQING).unwrap();
        assert_eq!(all.len(), 3345);
        let c = all.iter().find(|c| c.code.starts_with("500103003")).unwrap();
        assert_eq!(c.district_name, "渝中区");
        assert_eq!(c.street_name, "解放碑街道");
        assert!(all.iter().all(|c| c.name.contains("社区") && !c.street_name.is_empty()));
        assert!(all.iter().all(|c| super::super::geo::valid_position(c.lon, c.lat)));
    }

    #[test]
    fn bad_rows_are_reported() {
        assert!(urban_communities("h\n1,2,3").unwrap_err().contains("line 2"));
    }
}
