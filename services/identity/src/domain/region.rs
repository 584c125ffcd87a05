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
    fn tree_version_follows_the_rows() {
        let header = "code,name,level,parent_code,lon,lat\n";
        let tree = |rows: &str| RegionTree::new(parse_csv(&format!("{header}{rows}")).unwrap());
        let one = tree("50,重庆市,province,,,\n5001,市辖区,city,50,,\n");
        let same = tree("5001,市辖区,city,50,,\n50,重庆市,province,,,\n");
        let renamed = tree("50,重庆市,province,,,\n5001,重庆市辖区,city,50,,\n");
        assert_eq!(one.version(), same.version(), "row order does not matter");
        assert_ne!(one.version(), renamed.version());
        assert_eq!(one.version().len(), 16);
    }

    #[test]
    fn rejects_inconsistent_rows() {
        let header = "code,name,level,parent_code,lon,lat\n";
        assert!(parse_csv(&format!("{header}500103,渝中区,street,5001,,\n")).is_err());
        assert!(parse_csv(&format!("{header}500103,渝中区,district,5002,,\n")).is_err());
        assert!(parse_csv(&format!("{header}500103,渝中区,district\n")).is_err());
    }
}

/// The whole region tree in memory. Regions are reference data that only
/// migrations change, so identity loads them once at start and serves every
/// region read and existence check from here (Chongqing: 12,342 regions;
/// all of China's urban communities fit in tens of megabytes).
#[derive(Debug, Default)]
pub struct RegionTree {
    by_code: std::collections::HashMap<String, RegionRow>,
    /// Child codes in code order; the key "" holds the top-level regions.
    children: std::collections::HashMap<String, Vec<String>>,
    /// A digest of every row, so that callers caching regions can tell a
    /// changed tree from the one they hold (the same on every replica).
    version: String,
}

impl RegionTree {
    pub fn new(rows: Vec<RegionRow>) -> Self {
        let mut tree = Self::default();
        for row in rows {
            let parent = row.parent_code.clone().unwrap_or_default();
            tree.children.entry(parent).or_default().push(row.code.clone());
            tree.by_code.insert(row.code.clone(), row);
        }
        tree.children.values_mut().for_each(|codes| codes.sort_unstable());
        tree.version = tree.digest();
        tree
    }

    fn digest(&self) -> String {
        use sha2::Digest;
        let mut codes: Vec<&String> = self.by_code.keys().collect();
        codes.sort_unstable();
        let mut hash = sha2::Sha256::new();
        for code in codes {
            let row = &self.by_code[code];
            let line = format!(
                "{}\t{}\t{}\t{:?}\t{:?}\n",
                row.code,
                row.name,
                row.parent_code.as_deref().unwrap_or(""),
                row.lon,
                row.lat
            );
            hash.update(line.as_bytes());
        }
        hash.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// See [`RegionTree::version`]'s field: changes whenever any row does.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn len(&self) -> usize {
        self.by_code.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_code.is_empty()
    }

    pub fn get(&self, code: &str) -> Option<&RegionRow> {
        self.by_code.get(code)
    }

    pub fn contains(&self, code: &str) -> bool {
        self.by_code.contains_key(code)
    }

    /// Up to `limit` children of `parent` ("" for the top level) after `after`.
    pub fn children(&self, parent: &str, after: Option<&str>, limit: usize) -> Vec<&RegionRow> {
        let Some(codes) = self.children.get(parent) else {
            return Vec::new();
        };
        let start = match after {
            Some(after) => codes.partition_point(|c| c.as_str() <= after),
            None => 0,
        };
        codes[start..]
            .iter()
            .take(limit)
            .filter_map(|c| self.by_code.get(c))
            .collect()
    }

    /// The region and its ancestors from the root down, or `None` if unknown.
    pub fn lineage(&self, code: &str) -> Option<Vec<&RegionRow>> {
        let mut chain = vec![self.by_code.get(code)?];
        while let Some(parent) = chain.last().and_then(|r| r.parent_code.as_deref()) {
            chain.push(self.by_code.get(parent)?);
        }
        chain.reverse();
        Some(chain)
    }
}

#[cfg(test)]
mod tree_tests {
    use super::*;

    #[test]
    fn pages_children_and_walks_lineage() {
        let tree = RegionTree::new(parse_csv(include_str!("../../data/regions-500000.csv")).unwrap());
        assert_eq!(tree.len(), 12_342);
        let top: Vec<_> = tree.children("", None, 10).iter().map(|r| r.code.as_str()).collect();
        assert_eq!(top, ["50"]);
        let first = tree.children("500103", None, 3);
        let next = tree.children("500103", Some(&first[2].code), 100);
        assert_eq!(first.len() + next.len(), tree.children("500103", None, 1000).len());
        assert!(next.iter().all(|r| r.code > first[2].code));
        let names: Vec<_> = tree
            .lineage("500103003")
            .unwrap()
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(names, ["重庆市", "市辖区", "渝中区", "解放碑街道"]);
        assert!(tree.lineage("500199").is_none());
    }
}
