//! Region codes and region scopes.
//!
//! Codes follow the national statistical division codes: 2 digits province,
//! 4 city, 6 district, 9 street, 12 community. A code's prefixes are its
//! ancestors, so "A contains B" is "B starts with A". [`Scope::covers`] is the
//! one place the platform decides whether a region lies inside a scope.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RegionLevel {
    Province,
    City,
    District,
    Street,
    Community,
}

impl RegionLevel {
    pub fn code_len(self) -> usize {
        match self {
            Self::Province => 2,
            Self::City => 4,
            Self::District => 6,
            Self::Street => 9,
            Self::Community => 12,
        }
    }

    fn from_code_len(len: usize) -> Option<Self> {
        Some(match len {
            2 => Self::Province,
            4 => Self::City,
            6 => Self::District,
            9 => Self::Street,
            12 => Self::Community,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Province => "province",
            Self::City => "city",
            Self::District => "district",
            Self::Street => "street",
            Self::Community => "community",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "province" => Self::Province,
            "city" => Self::City,
            "district" => Self::District,
            "street" => Self::Street,
            "community" => Self::Community,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("区划代码应为 2、4、6、9 或 12 位数字")]
pub struct InvalidRegionCode;

/// A validated division code.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegionCode(String);

impl RegionCode {
    pub fn parse(code: &str) -> Result<Self, InvalidRegionCode> {
        let code = code.trim();
        if !code.bytes().all(|b| b.is_ascii_digit()) || RegionLevel::from_code_len(code.len()).is_none() {
            return Err(InvalidRegionCode);
        }
        Ok(Self(code.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn level(&self) -> RegionLevel {
        RegionLevel::from_code_len(self.0.len()).expect("validated on construction")
    }

    pub fn parent(&self) -> Option<RegionCode> {
        let parent_len = match self.level() {
            RegionLevel::Province => return None,
            RegionLevel::City => 2,
            RegionLevel::District => 4,
            RegionLevel::Street => 6,
            RegionLevel::Community => 9,
        };
        Some(Self(self.0[..parent_len].to_string()))
    }

    /// Ancestors from the province down, excluding the code itself.
    pub fn ancestors(&self) -> Vec<RegionCode> {
        let mut chain = Vec::new();
        let mut next = self.parent();
        while let Some(code) = next {
            next = code.parent();
            chain.push(code);
        }
        chain.reverse();
        chain
    }

    /// True when `other` is this region or lies below it.
    pub fn contains(&self, other: &RegionCode) -> bool {
        other.0.starts_with(&self.0)
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What part of the country a role applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every region: the platform's own services.
    All,
    Region(RegionCode),
}

impl Scope {
    /// Whether `region` lies inside this scope. Every scope check in the
    /// platform goes through here.
    pub fn covers(&self, region: &RegionCode) -> bool {
        match self {
            Scope::All => true,
            Scope::Region(scope) => scope.contains(region),
        }
    }

    /// The code prefix the scope stands for: "" for everything.
    pub fn prefix(&self) -> &str {
        match self {
            Scope::All => "",
            Scope::Region(code) => code.as_str(),
        }
    }

    /// Whether all of `other` lies inside this scope.
    pub fn covers_scope(&self, other: &Scope) -> bool {
        match (self, other) {
            (Scope::All, _) => true,
            (Scope::Region(_), Scope::All) => false,
            (Scope::Region(_), Scope::Region(code)) => self.covers(code),
        }
    }
}

/// Parses a request's division code, or INVALID_ARGUMENT naming `field`.
pub fn parse_field(field: &str, code: &str) -> crate::ServiceResult<RegionCode> {
    RegionCode::parse(code).map_err(|_| crate::ServiceError::invalid(field, "区划代码应为 2、4、6、9 或 12 位数字"))
}

/// An optional region filter of a list request: "" for none, else a valid code.
pub fn filter_field(field: &str, code: &str) -> crate::ServiceResult<String> {
    match code.trim() {
        "" => Ok(String::new()),
        code => Ok(parse_field(field, code)?.as_str().to_string()),
    }
}

/// Chongqing's division data, shipped with identity (see its data README for
/// provenance): names for services that show regions without calling identity.
const CHONGQING: &str = include_str!("../../identity/data/regions-500000.csv");

static NAMES: std::sync::LazyLock<std::collections::HashMap<&'static str, &'static str>> =
    std::sync::LazyLock::new(|| {
        CHONGQING
            .lines()
            .skip(1)
            .filter_map(|line| {
                let mut cols = line.split(',');
                Some((cols.next()?, cols.next()?))
            })
            .collect()
    });

/// The name of a division of the seeded city ("" when unknown).
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

    use super::*;

    fn code(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap()
    }

    #[test]
    fn parses_only_division_shaped_codes() {
        for good in ["50", "5001", "500103", "500103001", "500103001001"] {
            assert!(RegionCode::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "5", "500", "50010", "5001030011", "50a103", "5001030010011"] {
            assert!(RegionCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ancestors_are_prefixes() {
        let c = code("500103001001");
        assert_eq!(c.level(), RegionLevel::Community);
        let chain: Vec<_> = c.ancestors().iter().map(|a| a.to_string()).collect();
        assert_eq!(chain, ["50", "5001", "500103", "500103001"]);
        assert_eq!(code("50").parent(), None);
    }

    #[test]
    fn scope_covers_by_prefix() {
        let yuzhong = Scope::Region(code("500103"));
        assert!(yuzhong.covers(&code("500103")));
        assert!(yuzhong.covers(&code("500103001001")));
        assert!(!yuzhong.covers(&code("500104")));
        assert!(!yuzhong.covers(&code("500104001")));
        assert!(!yuzhong.covers(&code("5001")));
        assert!(Scope::All.covers(&code("500104")));
        assert!(!yuzhong.covers_scope(&Scope::All));
        assert!(Scope::Region(code("50")).covers_scope(&yuzhong));
    }
}
