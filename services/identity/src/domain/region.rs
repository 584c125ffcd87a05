//! Parsing the shipped division table.

use kit::region::{RegionCode, RegionLevel};

#[derive(Debug, Clone, PartialEq)]
pub struct RegionRow {
    pub code: String,
    pub name: String,
    pub level: RegionLevel,
    pub parent_code: Option<String>,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
#[error("regions csv line {line}: {reason}")]
pub struct CsvError {
    pub line: usize,
    pub reason: String,
}

/// Parses `code,name,level,parent_code,lon,lat` rows (with a header line).
/// Names contain no commas in the source, so a plain split is enough.
pub fn parse_csv(text: &str) -> Result<Vec<RegionRow>, CsvError> {
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let err = |reason: &str| CsvError {
            line: index + 1,
            reason: reason.into(),
        };
        let fields: Vec<&str> = line.split(',').collect();
        let [code, name, level, parent, lon, lat] = fields[..] else {
            return Err(err("expected 6 fields"));
        };
        let parsed = RegionCode::parse(code).map_err(|_| err("bad code"))?;
        let level = RegionLevel::parse(level).ok_or_else(|| err("bad level"))?;
        if parsed.level() != level {
            return Err(err("level does not match code length"));
        }
        let parent_code = (!parent.is_empty()).then(|| parent.to_string());
        if parent_code != parsed.parent().map(|p| p.to_string()) {
            return Err(err("parent is not the code's prefix"));
        }
        let number = |s: &str| {
            if s.is_empty() {
                Ok(None)
            } else {
                s.parse().map(Some).map_err(|_| err("bad coordinate"))
            }
        };
        rows.push(RegionRow {
            code: code.into(),
            name: name.into(),
            level,
            parent_code,
            lon: number(lon)?,
            lat: number(lat)?,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chongqing_table_is_complete_and_consistent() {
        let rows = parse_csv(include_str!("../../data/regions-500000.csv")).unwrap();
        let count = |level| rows.iter().filter(|r| r.level == level).count();
        assert_eq!(count(RegionLevel::Province), 1);
        assert_eq!(count(RegionLevel::City), 2);
        assert_eq!(count(RegionLevel::District), 38);
        assert_eq!(count(RegionLevel::Street), 1031);
        assert_eq!(count(RegionLevel::Community), 11270);
        let codes: std::collections::HashSet<_> = rows.iter().map(|r| r.code.as_str()).collect();
        assert!(
            rows.iter()
                .filter_map(|r| r.parent_code.as_deref())
                .all(|p| codes.contains(p))
        );
        let yuzhong = rows.iter().find(|r| r.code == "500103").unwrap();
        assert_eq!(yuzhong.name, "渝中区");
        assert!(yuzhong.lon.is_some());
    }

    #[test]
    fn rejects_inconsistent_rows() {
        let header = "code,name,level,parent_code,lon,lat\n";
        assert!(parse_csv(&format!("{header}500103,渝中区,street,5001,,\n")).is_err());
        assert!(parse_csv(&format!("{header}500103,渝中区,district,5002,,\n")).is_err());
        assert!(parse_csv(&format!("{header}500103,渝中区,district\n")).is_err());
    }
}
