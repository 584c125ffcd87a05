//! The solver's input: communities, professionals and the maximum distance, its JSON form and
//! its validation.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::geo::valid_position;

/// A community that needs professionals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommunityInput {
    /// Unique among communities (typically the 12-digit community code).
    pub id: String,
    /// Longitude, WGS-84 degrees (−180..=180).
    pub lon: f64,
    /// Latitude, WGS-84 degrees (−90..=90).
    pub lat: f64,
    /// How many more professionals the batch may give it (≥ 0).
    pub demand: i64,
    /// Its division code (e.g. `500103003013`); with a professional's `service_regions` it decides
    /// eligibility by code prefix. Omitted: every professional within reach may serve it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Professions already serving the community (from its active or pending matches). The community
    /// counts as covered, and each of these (community, profession) pairs as covered, before the batch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub existing_professions: Vec<String>,
}

/// A professional who can serve communities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfessionalInput {
    /// Unique among professionals.
    pub id: String,
    /// Longitude, WGS-84 degrees (−180..=180).
    pub lon: f64,
    /// Latitude, WGS-84 degrees (−90..=90).
    pub lat: f64,
    /// How many communities they take at most (≥ 0; the platform's default is 3).
    pub capacity: i64,
    /// e.g. `planner`, `architect`, `engineer`; any non-empty name, compared exactly.
    pub profession: String,
    /// Division codes of the regions served: a community with a `region` is eligible only if one
    /// of these is a prefix of it. Omitted: serves every region. Must not be empty when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_regions: Option<Vec<String>>,
}

/// One batch to solve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    pub communities: Vec<CommunityInput>,
    pub professionals: Vec<ProfessionalInput>,
    /// A pair is eligible only if its haversine distance is at most this (finite, > 0).
    pub max_distance_km: f64,
}

/// One problem found in an input: where (`communities[3].lat`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Why an instance was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInstance {
    /// The text is not JSON (or not the expected shape as serde reports it): position 1-based.
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// Every problem found, each with its path.
    #[error("{}", join_problems(.0))]
    Problems(Vec<Problem>),
}

fn join_problems(problems: &[Problem]) -> String {
    let shown: Vec<String> = problems.iter().take(20).map(Problem::to_string).collect();
    let mut text = shown.join("; ");
    if problems.len() > 20 {
        text.push_str(&format!("; and {} more", problems.len() - 20));
    }
    text
}

impl Instance {
    /// Parses the JSON form and validates it, reporting every problem with its path: unknown or
    /// missing fields, wrong types, then everything [`Instance::validate`] checks.
    pub fn from_json(text: &str) -> Result<Instance, InvalidInstance> {
        let value: Value = serde_json::from_str(text).map_err(|e| syntax_error(text, &e))?;
        let mut problems = Vec::new();
        check_shape(&value, &mut problems);
        if !problems.is_empty() {
            return Err(InvalidInstance::Problems(problems));
        }
        let instance: Instance = serde_json::from_value(value).map_err(|e| {
            // Unreachable after check_shape, but reported rather than assumed.
            InvalidInstance::Problems(vec![Problem {
                path: String::new(),
                message: e.to_string(),
            }])
        })?;
        instance.validate()?;
        Ok(instance)
    }

    /// Checks everything the types cannot: non-negative demand and capacity, unique non-empty
    /// ids, finite in-range coordinates, a finite positive maximum distance, non-empty
    /// professions, non-empty existing professions without duplicates within a community, and
    /// region codes made of ASCII digits. Returns every problem found.
    pub fn validate(&self) -> Result<(), InvalidInstance> {
        let mut problems = Vec::new();
        let mut push = |path: String, message: &str| {
            problems.push(Problem {
                path,
                message: message.to_string(),
            })
        };
        if !(self.max_distance_km.is_finite() && self.max_distance_km > 0.0) {
            push("max_distance_km".into(), "must be a finite number greater than 0");
        }
        if self.communities.len() >= u32::MAX as usize / 4 || self.professionals.len() >= u32::MAX as usize / 4 {
            push(
                String::new(),
                "too many communities or professionals (at most 1,073,741,822 each)",
            );
        }
        let mut seen = HashSet::new();
        for (i, c) in self.communities.iter().enumerate() {
            let at = |field: &str| format!("communities[{i}].{field}");
            check_id(&c.id, &mut seen, at("id"), &mut push);
            check_position(c.lon, c.lat, &at, &mut push);
            if c.demand < 0 {
                push(at("demand"), "must be non-negative");
            }
            if let Some(region) = &c.region
                && !is_code(region)
            {
                push(at("region"), "must be a division code of ASCII digits");
            }
            let mut professions = HashSet::new();
            for (k, profession) in c.existing_professions.iter().enumerate() {
                let path = format!("communities[{i}].existing_professions[{k}]");
                if profession.trim().is_empty() {
                    push(path, "must not be empty");
                } else if !professions.insert(profession.as_str()) {
                    push(path, &format!("duplicate profession {profession:?}"));
                }
            }
        }
        let mut seen = HashSet::new();
        for (i, p) in self.professionals.iter().enumerate() {
            let at = |field: &str| format!("professionals[{i}].{field}");
            check_id(&p.id, &mut seen, at("id"), &mut push);
            check_position(p.lon, p.lat, &at, &mut push);
            if p.capacity < 0 {
                push(at("capacity"), "must be non-negative");
            }
            if p.profession.trim().is_empty() {
                push(at("profession"), "must not be empty");
            }
            if let Some(regions) = &p.service_regions {
                if regions.is_empty() {
                    push(
                        at("service_regions"),
                        "must not be empty (omit it to serve every region)",
                    );
                }
                for (k, region) in regions.iter().enumerate() {
                    if !is_code(region) {
                        push(
                            format!("professionals[{i}].service_regions[{k}]"),
                            "must be a division code of ASCII digits",
                        );
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(InvalidInstance::Problems(problems))
        }
    }
}

fn check_id<'a>(id: &'a str, seen: &mut HashSet<&'a str>, path: String, push: &mut impl FnMut(String, &str)) {
    if id.trim().is_empty() {
        push(path, "must not be empty");
    } else if !seen.insert(id) {
        push(path, &format!("duplicate id {id:?}"));
    }
}

fn check_position(lon: f64, lat: f64, at: &impl Fn(&str) -> String, push: &mut impl FnMut(String, &str)) {
    if valid_position(lon, lat) {
        return;
    }
    if !(lon.is_finite() && (-180.0..=180.0).contains(&lon)) {
        push(at("lon"), "must be a finite longitude between -180 and 180");
    }
    if !(lat.is_finite() && (-90.0..=90.0).contains(&lat)) {
        push(at("lat"), "must be a finite latitude between -90 and 90");
    }
}

fn is_code(code: &str) -> bool {
    !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit())
}

/// A JSON syntax error with its 1-based position, explaining the tokens people try that JSON
/// does not have (`NaN`, `Infinity`).
fn syntax_error(text: &str, error: &serde_json::Error) -> InvalidInstance {
    let (line, column) = (error.line(), error.column());
    let mut message = error.to_string();
    // serde_json appends " at line L column C"; the position is reported separately.
    if let Some(cut) = message.rfind(" at line ") {
        message.truncate(cut);
    }
    let rest = text
        .lines()
        .nth(line.saturating_sub(1))
        .and_then(|l| l.get(column.saturating_sub(1)..))
        .unwrap_or("");
    let rest = rest.trim_start_matches('-');
    if ["NaN", "nan", "Infinity", "infinity", "Inf", "inf"]
        .iter()
        .any(|t| rest.starts_with(t))
    {
        message = format!("{message} (NaN and Infinity are not JSON numbers; every number must be finite)");
    }
    InvalidInstance::Syntax { line, column, message }
}

#[derive(Clone, Copy)]
enum Kind {
    String,
    Number,
    Integer,
    OptString,
    OptStringList,
    /// An optional array of strings that may also be empty.
    StringList,
}

const COMMUNITY_FIELDS: &[(&str, Kind)] = &[
    ("id", Kind::String),
    ("lon", Kind::Number),
    ("lat", Kind::Number),
    ("demand", Kind::Integer),
    ("region", Kind::OptString),
    ("existing_professions", Kind::StringList),
];

const PROFESSIONAL_FIELDS: &[(&str, Kind)] = &[
    ("id", Kind::String),
    ("lon", Kind::Number),
    ("lat", Kind::Number),
    ("capacity", Kind::Integer),
    ("profession", Kind::String),
    ("service_regions", Kind::OptStringList),
];

/// Checks the JSON shape field by field so that every unknown, missing or mistyped field is
/// reported with its path (serde stops at the first one and gives no path).
fn check_shape(value: &Value, problems: &mut Vec<Problem>) {
    let mut push = |path: String, message: String| problems.push(Problem { path, message });
    let Some(top) = value.as_object() else {
        push(
            String::new(),
            "expected a JSON object with communities, professionals, max_distance_km".into(),
        );
        return;
    };
    for key in top.keys() {
        if !["communities", "professionals", "max_distance_km"].contains(&key.as_str()) {
            push(
                key.clone(),
                "unknown field (expected communities, professionals, max_distance_km)".into(),
            );
        }
    }
    match top.get("max_distance_km") {
        None => push("max_distance_km".into(), "missing".into()),
        Some(v) if !v.is_number() => push(
            "max_distance_km".into(),
            format!("expected a number, got {}", type_name(v)),
        ),
        Some(_) => {}
    }
    for (list, fields) in [
        ("communities", COMMUNITY_FIELDS),
        ("professionals", PROFESSIONAL_FIELDS),
    ] {
        let Some(value) = top.get(list) else {
            push(list.into(), "missing".into());
            continue;
        };
        let Some(items) = value.as_array() else {
            push(list.into(), format!("expected an array, got {}", type_name(value)));
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            let Some(object) = item.as_object() else {
                push(
                    format!("{list}[{i}]"),
                    format!("expected an object, got {}", type_name(item)),
                );
                continue;
            };
            let expected: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
            for key in object.keys() {
                if !expected.contains(&key.as_str()) {
                    push(
                        format!("{list}[{i}].{key}"),
                        format!("unknown field (expected {})", expected.join(", ")),
                    );
                }
            }
            for &(name, kind) in fields {
                let path = format!("{list}[{i}].{name}");
                let field = object.get(name);
                if let Some(message) = kind_problem(field, kind) {
                    push(path, message);
                }
            }
        }
    }
}

fn kind_problem(field: Option<&Value>, kind: Kind) -> Option<String> {
    let wrong = |expected: &str, v: &Value| Some(format!("expected {expected}, got {}", type_name(v)));
    match (kind, field) {
        (Kind::OptString | Kind::OptStringList, None | Some(Value::Null)) => None,
        (Kind::StringList, None) => None,
        (_, None) => Some("missing".into()),
        (Kind::String | Kind::OptString, Some(v)) => {
            if v.is_string() {
                None
            } else {
                wrong("a string", v)
            }
        }
        (Kind::Number, Some(v)) => {
            if v.is_number() {
                None
            } else {
                wrong("a number", v)
            }
        }
        (Kind::Integer, Some(v)) => {
            if v.is_i64() {
                None
            } else if v.is_u64() {
                Some("too large".into())
            } else {
                wrong("an integer", v)
            }
        }
        (Kind::OptStringList | Kind::StringList, Some(Value::Array(items))) => {
            if items.iter().all(Value::is_string) {
                None
            } else {
                Some("expected an array of strings".into())
            }
        }
        (Kind::OptStringList | Kind::StringList, Some(v)) => wrong("an array of strings", v),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a fractional number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match Instance::from_json(text) {
            Err(InvalidInstance::Problems(p)) => p.iter().map(Problem::to_string).collect(),
            other => panic!("expected problems, got {other:?}"),
        }
    }

    const GOOD: &str = r#"{
        "communities": [{"id": "c1", "lon": 106.5, "lat": 29.5, "demand": 2, "region": "500103003013"}],
        "professionals": [{"id": "p1", "lon": 106.51, "lat": 29.5, "capacity": 3, "profession": "planner",
                           "service_regions": ["500103"]}],
        "max_distance_km": 3
    }"#;

    #[test]
    fn parses_a_valid_instance() {
        let instance = Instance::from_json(GOOD).unwrap();
        assert_eq!(instance.communities[0].region.as_deref(), Some("500103003013"));
        assert_eq!(
            instance.professionals[0].service_regions,
            Some(vec!["500103".to_string()])
        );
        assert_eq!(instance.max_distance_km, 3.0);
        // Optional fields may be omitted or null.
        let text = r#"{"communities": [{"id": "c", "lon": 0, "lat": 0, "demand": 0, "region": null}],
                       "professionals": [], "max_distance_km": 0.5}"#;
        assert!(Instance::from_json(text).unwrap().communities[0].region.is_none());
    }

    #[test]
    fn existing_professions_are_optional_and_checked() {
        // Absent (as in GOOD): empty, and not written back.
        let instance = Instance::from_json(GOOD).unwrap();
        assert!(instance.communities[0].existing_professions.is_empty());
        assert!(
            !serde_json::to_string(&instance)
                .unwrap()
                .contains("existing_professions")
        );
        let text = r#"{"communities": [{"id": "c", "lon": 0, "lat": 0, "demand": 1,
                                        "existing_professions": ["planner", "engineer"]},
                                       {"id": "d", "lon": 0, "lat": 0, "demand": 1, "existing_professions": []}],
                       "professionals": [], "max_distance_km": 1}"#;
        let instance = Instance::from_json(text).unwrap();
        assert_eq!(
            instance.communities[0].existing_professions,
            vec!["planner", "engineer"]
        );
        assert!(instance.communities[1].existing_professions.is_empty());
        let json = serde_json::to_string(&instance).unwrap();
        assert_eq!(json.matches("existing_professions").count(), 1, "{json}");
        assert_eq!(serde_json::from_str::<Instance>(&json).unwrap(), instance);

        let text = r#"{"communities": [{"id": "c", "lon": 0, "lat": 0, "demand": 1,
                                        "existing_professions": ["planner", " ", "planner", "engineer", ""]},
                                       {"id": "d", "lon": 0, "lat": 0, "demand": 1, "existing_professions": "planner"},
                                       {"id": "e", "lon": 0, "lat": 0, "demand": 1, "existing_professions": [1]},
                                       {"id": "f", "lon": 0, "lat": 0, "demand": 1, "existing_professions": null}],
                       "professionals": [], "max_distance_km": 1}"#;
        assert_eq!(
            problems(text),
            vec![
                "communities[1].existing_professions: expected an array of strings, got a string",
                "communities[2].existing_professions: expected an array of strings",
                "communities[3].existing_professions: expected an array of strings, got null",
            ]
        );
        let fixed = text
            .replace(
                r#""existing_professions": "planner""#,
                r#""existing_professions": ["planner"]"#,
            )
            .replace("[1]", "[]")
            .replace("null", "[]");
        assert_eq!(
            problems(&fixed),
            vec![
                "communities[0].existing_professions[1]: must not be empty",
                "communities[0].existing_professions[2]: duplicate profession \"planner\"",
                "communities[0].existing_professions[4]: must not be empty",
            ]
        );
    }

    #[test]
    fn reports_every_validation_problem_with_its_path() {
        let text = r#"{
            "communities": [
                {"id": "c1", "lon": 200, "lat": 29.5, "demand": -1},
                {"id": "c1", "lon": 106, "lat": -91, "demand": 1, "region": "50x"}
            ],
            "professionals": [
                {"id": "", "lon": 106, "lat": 29, "capacity": -2, "profession": " "},
                {"id": "p", "lon": 106, "lat": 29, "capacity": 1, "profession": "planner", "service_regions": []}
            ],
            "max_distance_km": 0
        }"#;
        assert_eq!(
            problems(text),
            vec![
                "max_distance_km: must be a finite number greater than 0",
                "communities[0].lon: must be a finite longitude between -180 and 180",
                "communities[0].demand: must be non-negative",
                "communities[1].id: duplicate id \"c1\"",
                "communities[1].lat: must be a finite latitude between -90 and 90",
                "communities[1].region: must be a division code of ASCII digits",
                "professionals[0].id: must not be empty",
                "professionals[0].capacity: must be non-negative",
                "professionals[0].profession: must not be empty",
                "professionals[1].service_regions: must not be empty (omit it to serve every region)",
            ]
        );
    }

    #[test]
    fn reports_unknown_missing_and_mistyped_fields_with_paths() {
        let text = r#"{
            "communities": [{"id": 7, "lon": "106", "lat": 29.5, "demand": 1.5, "name": "x"}],
            "professionals": [{"id": "p", "lon": 106, "lat": 29, "profession": "planner", "service_regions": [1]}],
            "max_distance_km": "3",
            "extra": true
        }"#;
        assert_eq!(
            problems(text),
            vec![
                "extra: unknown field (expected communities, professionals, max_distance_km)",
                "max_distance_km: expected a number, got a string",
                "communities[0].name: unknown field (expected id, lon, lat, demand, region, existing_professions)",
                "communities[0].id: expected a string, got an integer",
                "communities[0].lon: expected a number, got a string",
                "communities[0].demand: expected an integer, got a fractional number",
                "professionals[0].capacity: missing",
                "professionals[0].service_regions: expected an array of strings",
            ]
        );
        assert_eq!(
            problems("[]"),
            vec!["expected a JSON object with communities, professionals, max_distance_km"]
        );
    }

    #[test]
    fn syntax_errors_have_a_position_and_nan_is_explained() {
        let text = "{\n  \"communities\": [],\n  \"professionals\": [],\n  \"max_distance_km\": NaN\n}";
        match Instance::from_json(text) {
            Err(InvalidInstance::Syntax { line, column, message }) => {
                assert_eq!((line, column), (4, 22));
                assert!(message.contains("NaN and Infinity are not JSON numbers"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let err = Instance::from_json("{\"communities\": [,]}").unwrap_err();
        assert!(
            matches!(
                err,
                InvalidInstance::Syntax {
                    line: 1,
                    column: 18,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!err.to_string().contains("NaN"), "{err}");
        let err = Instance::from_json("{\"max_distance_km\": -Infinity}").unwrap_err();
        assert!(err.to_string().contains("not JSON numbers"), "{err}");
    }

    #[test]
    fn validate_catches_non_finite_values_built_in_code() {
        let mut instance = Instance::from_json(GOOD).unwrap();
        instance.communities[0].lat = f64::NAN;
        instance.professionals[0].lon = f64::INFINITY;
        instance.max_distance_km = f64::NAN;
        let err = instance.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "max_distance_km: must be a finite number greater than 0; \
             communities[0].lat: must be a finite latitude between -90 and 90; \
             professionals[0].lon: must be a finite longitude between -180 and 180"
        );
    }

    #[test]
    fn serde_rejects_unknown_fields_directly() {
        let text = r#"{"communities": [], "professionals": [], "max_distance_km": 1, "x": 1}"#;
        assert!(serde_json::from_str::<Instance>(text).is_err());
    }
}
