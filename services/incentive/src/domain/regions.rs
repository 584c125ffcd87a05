//! Division names for leaderboards and star distributions, from the division
//! data identity ships (the same file matching seeds its communities from).

use std::collections::HashMap;
use std::sync::LazyLock;

const CHONGQING: &str = include_str!("../../../identity/data/regions-500000.csv");

static NAMES: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| names(CHONGQING));

/// `code → name` of a `code,name,level,parent_code,lon,lat` file.
fn names(csv: &str) -> HashMap<&str, &str> {
    csv.lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split(',');
            Some((cols.next()?, cols.next()?))
        })
        .collect()
}

/// The name of a division ("" when unknown).
pub fn name(code: &str) -> &'static str {
    NAMES.get(code).copied().unwrap_or("")
}

/// The district (6 digits) and street (9 digits, or "") a region code lies in.
pub fn district_and_street(code: &str) -> (String, String) {
    let district = code.get(..6).unwrap_or("").to_string();
    let street = code.get(..9).unwrap_or("").to_string();
    (district, street)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_of_real_divisions() {
        assert_eq!(super::name("50"), "重庆市");
        assert_eq!(super::name("500103"), "渝中区");
        assert_eq!(super::name("999999"), "");
        assert_eq!(
            super::district_and_street("500103001001"),
            ("500103".into(), "500103001".into())
        );
        assert_eq!(super::district_and_street("5001"), ("".into(), "".into()));
    }
}
