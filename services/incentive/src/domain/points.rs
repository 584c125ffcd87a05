//! Points for a scored service record:
//!
//! points = base points of its service type × distance factor × satisfaction
//! factor + progressive bonus (累进) from the previous year's total.
//!
//! Every number is data in a versioned [`RuleSet`] (one or more per year; a
//! record is scored by the set in force when it was scored). Factors are kept
//! in thousandths and points in tenths, so the arithmetic is exact and the
//! explanation adds up to the amount.

use super::{Tenths, format_points};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceTypeRule {
    pub code: String,
    pub name: String,
    /// Base points in tenths.
    pub base: Tenths,
}

/// A distance band: up to `max_km` (exclusive; `None` for the last, open
/// band) the factor is `factor` thousandths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistanceBand {
    pub max_km: Option<f64>,
    pub factor: i64,
}

/// A satisfaction band: a score of at least `min_score` (1–5) gives `factor` thousandths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SatisfactionBand {
    pub min_score: f64,
    pub factor: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SatisfactionRule {
    /// Residents' ratings count only from this many on.
    pub min_resident_ratings: i32,
    /// Weight of the community's rating when residents' count too (thousandths).
    pub community_weight: i64,
    /// Highest `min_score` first.
    pub bands: Vec<SatisfactionBand>,
}

/// 累进: `per_step` tenths for every `step` tenths of last year's total, at most `cap`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgressiveRule {
    pub step: Tenths,
    pub per_step: Tenths,
    pub cap: Tenths,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// e.g. "2026-v1"; stored on every ledger entry.
    pub version: String,
    pub year: i32,
    pub service_types: Vec<ServiceTypeRule>,
    /// Base points of a service type the set does not name (districts' own types).
    pub default_base: Tenths,
    /// Nearest first.
    pub distance_bands: Vec<DistanceBand>,
    pub satisfaction: SatisfactionRule,
    pub progressive: ProgressiveRule,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RuleError {
    pub field: String,
    pub message: String,
}

/// A figure bound for the ledger that does not fit in its type. Rule sets
/// are bounded by [`RuleSet::validate`], so this means corrupt input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("points arithmetic overflow")]
pub struct Overflow;

/// Upper bounds that keep every product of a valid rule set far inside i64.
pub const MAX_BASE: Tenths = 100_000;
/// 100× in thousandths.
pub const MAX_FACTOR: i64 = 100_000;
pub const MAX_BONUS: Tenths = 100_000;

fn rule_error(field: impl Into<String>, message: &str) -> RuleError {
    RuleError {
        field: field.into(),
        message: message.into(),
    }
}

impl RuleSet {
    /// The built-in rules (reading of Chongqing's programme: farther and
    /// better-rated visits count more, long-standing professionals a little more).
    pub fn standard(year: i32) -> RuleSet {
        let t = |code: &str, name: &str, base: Tenths| ServiceTypeRule {
            code: code.into(),
            name: name.into(),
            base,
        };
        RuleSet {
            version: format!("{year}-v1"),
            year,
            service_types: vec![
                t("survey", "现状调研分析", 80),
                t("resident-communication", "居民意愿沟通", 80),
                t("plan-review", "方案审查咨询", 120),
                t("deliberation", "议事协商", 100),
                t("evaluation", "项目效果评估", 100),
                t("policy-briefing", "政策宣讲", 60),
                t("micro-class", "微课堂", 60),
                t("construction-guidance", "施工跟踪指导", 120),
            ],
            default_base: 80,
            distance_bands: vec![
                DistanceBand {
                    max_km: Some(5.0),
                    factor: 1000,
                },
                DistanceBand {
                    max_km: Some(20.0),
                    factor: 1200,
                },
                DistanceBand {
                    max_km: Some(50.0),
                    factor: 1500,
                },
                DistanceBand {
                    max_km: None,
                    factor: 2000,
                },
            ],
            satisfaction: SatisfactionRule {
                min_resident_ratings: 3,
                community_weight: 600,
                bands: vec![
                    SatisfactionBand {
                        min_score: 4.5,
                        factor: 1200,
                    },
                    SatisfactionBand {
                        min_score: 4.0,
                        factor: 1100,
                    },
                    SatisfactionBand {
                        min_score: 3.0,
                        factor: 1000,
                    },
                    SatisfactionBand {
                        min_score: 2.0,
                        factor: 800,
                    },
                    SatisfactionBand {
                        min_score: 0.0,
                        factor: 500,
                    },
                ],
            },
            progressive: ProgressiveRule {
                step: 1000,
                per_step: 1,
                cap: 10,
            },
        }
    }

    /// Checks a rule set an admin loads.
    pub fn validate(&self) -> Result<(), RuleError> {
        if self.version.trim().is_empty() || self.version.len() > 32 {
            return Err(rule_error("version", "版本号不能为空且不超过 32 个字符"));
        }
        if !(2000..=2100).contains(&self.year) {
            return Err(rule_error("year", "年度无效"));
        }
        for (i, t) in self.service_types.iter().enumerate() {
            if t.code.is_empty() || t.name.is_empty() || !(0..=MAX_BASE).contains(&t.base) {
                return Err(rule_error(
                    format!("service_types[{i}]"),
                    "服务类型须有编码、名称和 0 到 10000 分的基础分",
                ));
            }
        }
        if !(0..=MAX_BASE).contains(&self.default_base) {
            return Err(rule_error("default_base", "基础分应在 0 到 10000 分之间"));
        }
        let bands = &self.distance_bands;
        if bands.is_empty() || bands.last().is_some_and(|b| b.max_km.is_some()) {
            return Err(rule_error("distance_bands", "距离分档须以不设上限的一档结束"));
        }
        let mut previous = 0.0;
        for (i, b) in bands.iter().enumerate() {
            if !(1..=MAX_FACTOR).contains(&b.factor)
                || b.max_km.is_some_and(|km| km.is_nan() || km <= previous)
                || (b.max_km.is_none() && i + 1 != bands.len())
            {
                return Err(rule_error(
                    format!("distance_bands[{i}]"),
                    "距离分档须递增、系数为正且不超过 100",
                ));
            }
            previous = b.max_km.unwrap_or(previous);
        }
        let s = &self.satisfaction;
        if s.min_resident_ratings < 0 || !(0..=1000).contains(&s.community_weight) {
            return Err(rule_error(
                "satisfaction",
                "居民评价人数下限不能为负，社区权重应在 0 到 1000 之间",
            ));
        }
        if s.bands.is_empty()
            || s.bands.windows(2).any(|w| w[0].min_score <= w[1].min_score)
            || s.bands
                .iter()
                .any(|b| !(1..=MAX_FACTOR).contains(&b.factor) || b.min_score.is_nan())
            || s.bands.last().is_some_and(|b| b.min_score > 1.0)
        {
            return Err(rule_error(
                "satisfaction.bands",
                "满意度分档须从高到低、系数为正且不超过 100，且覆盖 1 分",
            ));
        }
        let p = &self.progressive;
        if p.step <= 0 || !(0..=MAX_BONUS).contains(&p.per_step) || !(0..=MAX_BONUS).contains(&p.cap) {
            return Err(rule_error("progressive", "累进规则无效（每档与上限不超过 10000 分）"));
        }
        Ok(())
    }

    fn service(&self, code: &str) -> (String, Tenths) {
        self.service_types
            .iter()
            .find(|t| t.code == code)
            .map(|t| (t.name.clone(), t.base))
            .unwrap_or_else(|| (code.to_string(), self.default_base))
    }

    fn distance_factor(&self, km: f64) -> i64 {
        self.distance_bands
            .iter()
            .find(|b| b.max_km.is_none_or(|max| km < max))
            .map(|b| b.factor)
            .unwrap_or(1000)
    }

    /// The satisfaction score (1–5) that counts, and how it was formed.
    fn satisfaction_score(&self, community: i32, resident_avg: f64, resident_count: i32) -> Option<(f64, String)> {
        let s = &self.satisfaction;
        let residents = (resident_count >= s.min_resident_ratings && resident_count > 0).then_some(resident_avg);
        let w = s.community_weight as f64 / 1000.0;
        match (community > 0, residents) {
            (true, Some(r)) => {
                let score = w * f64::from(community) + (1.0 - w) * r;
                Some((
                    score,
                    format!("社区 {community} 星、居民平均 {r:.1} 星（{resident_count} 人）"),
                ))
            }
            (true, None) => Some((f64::from(community), format!("社区 {community} 星"))),
            (false, Some(r)) => Some((r, format!("居民平均 {r:.1} 星（{resident_count} 人）"))),
            (false, None) => None,
        }
    }

    fn satisfaction_factor(&self, score: f64) -> i64 {
        self.satisfaction
            .bands
            .iter()
            .find(|b| score >= b.min_score)
            .map(|b| b.factor)
            .unwrap_or(1000)
    }

    /// 累进 bonus for a professional with `previous_year` points last year.
    pub fn progressive_bonus(&self, previous_year: Tenths) -> Tenths {
        let p = &self.progressive;
        // A product past i64 is past the cap too, so saturating is exact here.
        let steps = previous_year.max(0).checked_div(p.step).unwrap_or(0);
        steps.saturating_mul(p.per_step).min(p.cap).max(0)
    }
}

/// A rule set and the moment from which it applies: records scored from
/// then on (in its year) are scored by it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledRuleSet {
    pub effective_from: chrono::DateTime<chrono::Utc>,
    pub rules: RuleSet,
}

/// Every configured rule set (`[[rule_sets]]` in the rules file); a year
/// without one is scored by [`RuleSet::standard`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleBook {
    #[serde(default)]
    pub rule_sets: Vec<ScheduledRuleSet>,
}

impl RuleBook {
    /// Reads and checks a rules file (TOML): every set valid, versions unique.
    pub fn parse(text: &str) -> Result<RuleBook, RuleError> {
        let book: RuleBook = toml::from_str(text).map_err(|e| rule_error("rule_sets", &e.to_string()))?;
        let mut versions = std::collections::HashSet::new();
        for (i, s) in book.rule_sets.iter().enumerate() {
            s.rules.validate().map_err(|e| RuleError {
                field: format!("rule_sets[{i}].rules.{}", e.field),
                message: e.message,
            })?;
            if !versions.insert(s.rules.version.as_str()) {
                return Err(rule_error(format!("rule_sets[{i}].rules.version"), "规则版本号重复"));
            }
        }
        Ok(book)
    }

    /// The rule set for a record of `year` scored at `scored_at`: the latest
    /// of that year already in effect, else the standard one.
    pub fn in_force(&self, year: i32, scored_at: chrono::DateTime<chrono::Utc>) -> RuleSet {
        self.rule_sets
            .iter()
            .filter(|s| s.rules.year == year && s.effective_from <= scored_at)
            .max_by_key(|s| s.effective_from)
            .map(|s| s.rules.clone())
            .unwrap_or_else(|| RuleSet::standard(year))
    }
}

/// What scoring a record needs (from `ServiceRecordScored`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredRecord {
    pub service_type: String,
    pub distance_km: f64,
    pub community_rating: i32,
    pub resident_average: f64,
    pub resident_count: i32,
}

/// An award and its parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    pub rule_version: String,
    pub service_name: String,
    pub base: Tenths,
    pub distance_km: f64,
    pub distance_factor: i64,
    pub satisfaction_factor: i64,
    pub satisfaction_basis: String,
    /// The satisfaction score (1–5) that counted, in thousandths; None: not rated.
    #[serde(default)]
    pub satisfaction_milli: Option<i64>,
    pub progressive: Tenths,
    pub amount: Tenths,
}

fn factor(thousandths: i64) -> String {
    let s = format!("{}.{:03}", thousandths / 1000, thousandths % 1000);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl Breakdown {
    /// The calculation as a professional reads it, e.g.
    /// `议事协商 基础分 10 × 距离系数 1.2 × 满意度系数 1.1 + 累进 0.5 = 13.7`.
    pub fn explain(&self) -> String {
        let base = format_points(self.base);
        let base = base.strip_suffix(".0").unwrap_or(&base);
        format!(
            "{} 基础分 {} × 距离系数 {}（{:.1} 公里）× 满意度系数 {}（{}）+ 累进 {} = {}",
            self.service_name,
            base,
            factor(self.distance_factor),
            self.distance_km,
            factor(self.satisfaction_factor),
            if self.satisfaction_basis.is_empty() {
                "暂无评价"
            } else {
                &self.satisfaction_basis
            },
            format_points(self.progressive),
            format_points(self.amount)
        )
    }
}

/// Scores a record under `rules` for a professional with `previous_year` points.
/// Every step is checked: a rule set that escaped validation gives
/// [`Overflow`], never a wrapped amount.
pub fn score(rules: &RuleSet, record: &ScoredRecord, previous_year: Tenths) -> Result<Breakdown, Overflow> {
    let (service_name, base) = rules.service(&record.service_type);
    let distance_factor = rules.distance_factor(record.distance_km.max(0.0));
    let (satisfaction_factor, satisfaction_basis, satisfaction_milli) =
        match rules.satisfaction_score(record.community_rating, record.resident_average, record.resident_count) {
            Some((s, basis)) => (rules.satisfaction_factor(s), basis, Some((s * 1000.0).round() as i64)),
            None => (1000, String::new(), None),
        };
    // base (tenths) × two factors (thousandths), rounded half up to tenths.
    let product = i128::from(base)
        .checked_mul(i128::from(distance_factor))
        .and_then(|p| p.checked_mul(i128::from(satisfaction_factor)))
        .and_then(|p| p.checked_add(500_000))
        .ok_or(Overflow)?;
    let scaled = Tenths::try_from(product.div_euclid(1_000_000)).map_err(|_| Overflow)?;
    let progressive = rules.progressive_bonus(previous_year);
    let amount = scaled.checked_add(progressive).ok_or(Overflow)?;
    Ok(Breakdown {
        rule_version: rules.version.clone(),
        service_name,
        base,
        distance_km: record.distance_km,
        distance_factor,
        satisfaction_factor,
        satisfaction_basis,
        satisfaction_milli,
        progressive,
        amount,
    })
}

/// An administrator's adjustment: non-zero and at most 1,000 points either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adjustment(Tenths);

impl Adjustment {
    /// The largest single adjustment: 1,000 points.
    pub const MAX: Tenths = 10_000;

    /// `None` for zero or anything beyond ±1,000 points (`i64::MIN` included:
    /// its absolute value does not exist in i64).
    pub fn new(tenths: Tenths) -> Option<Adjustment> {
        (tenths != 0 && tenths.unsigned_abs() <= Self::MAX.unsigned_abs()).then_some(Adjustment(tenths))
    }

    pub fn tenths(self) -> Tenths {
        self.0
    }
}

/// The sum of ledger amounts, or [`Overflow`].
pub fn checked_sum(amounts: impl IntoIterator<Item = Tenths>) -> Result<Tenths, Overflow> {
    amounts
        .into_iter()
        .try_fold(0 as Tenths, |sum, a| sum.checked_add(a))
        .ok_or(Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn adjustments_are_bounded_both_ways() {
        assert_eq!(Adjustment::new(10_000).map(Adjustment::tenths), Some(10_000));
        assert_eq!(Adjustment::new(-10_000).map(Adjustment::tenths), Some(-10_000));
        for bad in [0, 10_001, -10_001, i64::MIN, i64::MAX, i64::MIN + 1] {
            assert_eq!(Adjustment::new(bad), None, "{bad}");
        }
        assert_eq!(checked_sum([i64::MAX, 1]), Err(Overflow));
        assert_eq!(checked_sum([i64::MAX, -1, 1]), Ok(i64::MAX));
    }

    fn any_rule_set() -> impl Strategy<Value = RuleSet> {
        (
            any::<i64>(),
            any::<i64>(),
            prop::collection::vec((prop::option::of(any::<f64>()), any::<i64>()), 1..5),
            prop::collection::vec((any::<f64>(), any::<i64>()), 1..5),
            (any::<i64>(), any::<i64>(), any::<i64>()),
            any::<i64>(),
        )
            .prop_map(
                |(base, default_base, distance, satisfaction, (step, per_step, cap), weight)| {
                    let mut r = RuleSet::standard(2026);
                    r.service_types[0].base = base;
                    r.default_base = default_base;
                    r.distance_bands = distance
                        .into_iter()
                        .map(|(max_km, factor)| DistanceBand { max_km, factor })
                        .collect();
                    r.satisfaction.bands = satisfaction
                        .into_iter()
                        .map(|(min_score, factor)| SatisfactionBand { min_score, factor })
                        .collect();
                    r.satisfaction.community_weight = weight;
                    r.progressive = ProgressiveRule { step, per_step, cap };
                    r
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever the rules and the record, scoring never panics; a rule set
        /// that passes validation always scores, and its parts add up.
        #[test]
        fn scoring_never_panics(
            rules in any_rule_set(),
            km in any::<f64>(),
            community in any::<i32>(),
            avg in any::<f64>(),
            count in any::<i32>(),
            last_year in any::<i64>(),
        ) {
            let service = if km.is_sign_negative() { "survey" } else { "unknown" };
            let result = score(&rules, &record(service, km, community, avg, count), last_year);
            if rules.validate().is_ok() {
                let b = result.expect("a valid rule set scores");
                prop_assert!(b.progressive >= 0 && b.progressive <= rules.progressive.cap);
                prop_assert!(b.amount >= b.progressive);
            }
        }

        #[test]
        fn adjustments_and_sums_never_panic(tenths in any::<i64>(), amounts in prop::collection::vec(any::<i64>(), 0..8)) {
            let amounts_again = amounts.clone();
            if let Some(a) = Adjustment::new(tenths) {
                prop_assert!(a.tenths().abs() <= Adjustment::MAX);
            }
            let wide: i128 = amounts.iter().map(|&a| i128::from(a)).sum();
            // A sum past i64 is always refused (one that only passes it on
            // the way may be refused too); any sum given is exact.
            if let Ok(sum) = checked_sum(amounts) {
                prop_assert_eq!(i128::from(sum), wide);
            }
            if i64::try_from(wide).is_err() {
                prop_assert!(checked_sum(amounts_again).is_err());
            }
        }
    }

    #[test]
    fn the_example_rules_file_is_valid() {
        let book = RuleBook::parse(include_str!("../../rules.example.toml")).unwrap();
        let at = chrono::DateTime::parse_from_rfc3339("2027-03-01T00:00:00+08:00")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let rules = book.in_force(2027, at);
        assert_eq!(rules.version, "2027-v1");
        // Only the base of 议事协商 differs from the standard rules.
        let mut standard = RuleSet::standard(2027);
        standard.version = rules.version.clone();
        let (name, base) = rules.service("deliberation");
        assert_eq!((name.as_str(), base), ("议事协商", 120));
        assert_ne!(rules, standard);
        standard.service_types = rules.service_types.clone();
        assert_eq!(rules, standard);
    }

    #[test]
    fn a_rule_set_applies_to_records_scored_after_it() {
        let mut cheaper = RuleSet::standard(2026);
        cheaper.version = "2026-v2".into();
        cheaper.default_base = 50;
        let text = format!(
            "[[rule_sets]]\neffective_from = \"2026-07-01T00:00:00Z\"\n{}",
            toml::to_string(&toml::Table::from_iter([(
                "rules".to_string(),
                toml::Value::try_from(&cheaper).unwrap()
            )]))
            .unwrap()
            .replace("[rules", "[rule_sets.rules")
        );
        let book = RuleBook::parse(&text).unwrap();
        let at = |m: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, m, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
        };
        assert_eq!(book.in_force(2026, at(6)).version, "2026-v1");
        assert_eq!(book.in_force(2026, at(8)).version, "2026-v2");
        assert_eq!(book.in_force(2025, at(8)).version, "2025-v1");
        // A bad set names its field; a repeated version is refused.
        let broken = text.replace("default_base = 50", "default_base = -1");
        assert_eq!(
            RuleBook::parse(&broken).unwrap_err().field,
            "rule_sets[0].rules.default_base"
        );
        let twice = format!("{text}\n{text}");
        assert_eq!(RuleBook::parse(&twice).unwrap_err().field, "rule_sets[1].rules.version");
    }

    fn record(service: &str, km: f64, community: i32, avg: f64, count: i32) -> ScoredRecord {
        ScoredRecord {
            service_type: service.into(),
            distance_km: km,
            community_rating: community,
            resident_average: avg,
            resident_count: count,
        }
    }

    #[test]
    fn the_issue_example_adds_up() {
        let rules = RuleSet::standard(2026);
        // 议事协商 10 × 1.2 (12 km) × 1.1 (community 4 ★) + 0.5 (500 points last year).
        let b = score(&rules, &record("deliberation", 12.0, 4, 0.0, 0), 5000).unwrap();
        assert_eq!(b.amount, 137);
        assert_eq!(
            b.explain(),
            "议事协商 基础分 10 × 距离系数 1.2（12.0 公里）× 满意度系数 1.1（社区 4 星）+ 累进 0.5 = 13.7"
        );
    }

    #[test]
    fn rule_math_table() {
        let rules = RuleSet::standard(2026);
        // (service, km, community, resident avg, count, last year) → tenths
        let table: [(&str, f64, i32, f64, i32, Tenths, Tenths); 9] = [
            ("survey", 0.0, 0, 0.0, 0, 0, 80),              // 8 × 1 × 1 (no rating)
            ("survey", 4.99, 5, 0.0, 0, 0, 96),             // 8 × 1 × 1.2
            ("survey", 5.0, 5, 0.0, 0, 0, 115),             // 8 × 1.2 × 1.2 = 11.52 → 11.5
            ("plan-review", 20.0, 3, 0.0, 0, 0, 180),       // 12 × 1.5 × 1
            ("plan-review", 80.0, 1, 0.0, 0, 0, 120),       // 12 × 2 × 0.5
            ("micro-class", 1.0, 5, 3.0, 2, 0, 72),         // residents below the minimum: 6 × 1.2
            ("micro-class", 1.0, 5, 3.0, 3, 0, 66),         // 0.6·5 + 0.4·3 = 4.2 → 1.1
            ("tourism", 1.0, 0, 4.6, 5, 0, 96),             // default base 8, residents only 4.6 → 1.2
            ("deliberation", 1.0, 0, 0.0, 0, 123_456, 110), // 累进 capped at 1.0
        ];
        for (service, km, community, avg, count, last_year, expected) in table {
            let b = score(&rules, &record(service, km, community, avg, count), last_year).unwrap();
            assert_eq!(
                b.amount,
                expected,
                "{service} {km} {community} {avg} {count} {last_year}: {}",
                b.explain()
            );
        }
    }

    #[test]
    fn progressive_bonus_steps_and_caps() {
        let rules = RuleSet::standard(2026);
        assert_eq!(rules.progressive_bonus(0), 0);
        assert_eq!(rules.progressive_bonus(999), 0);
        assert_eq!(rules.progressive_bonus(1000), 1);
        assert_eq!(rules.progressive_bonus(5_500), 5);
        assert_eq!(rules.progressive_bonus(1_000_000), 10);
        assert_eq!(rules.progressive_bonus(-50), 0);
    }

    #[test]
    fn rule_sets_are_validated() {
        let good = RuleSet::standard(2026);
        assert!(good.validate().is_ok());
        let mut bad = good.clone();
        bad.distance_bands.pop();
        assert_eq!(bad.validate().unwrap_err().field, "distance_bands");
        let mut bad = good.clone();
        bad.distance_bands[1].max_km = Some(3.0);
        assert_eq!(bad.validate().unwrap_err().field, "distance_bands[1]");
        let mut bad = good.clone();
        bad.satisfaction.bands.swap(0, 1);
        assert_eq!(bad.validate().unwrap_err().field, "satisfaction.bands");
        let mut bad = good.clone();
        bad.progressive.step = 0;
        assert_eq!(bad.validate().unwrap_err().field, "progressive");
        // A rule set is data: it round-trips through JSON and refuses unknown fields.
        let json = serde_json::to_string(&good).unwrap();
        assert_eq!(serde_json::from_str::<RuleSet>(&json).unwrap(), good);
        assert!(serde_json::from_str::<RuleSet>(&json.replacen("{", "{\"bonus\":1,", 1)).is_err());
    }
}
