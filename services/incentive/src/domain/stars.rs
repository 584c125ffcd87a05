//! Star ratings (1–5 星) from a year's results: annual points, number of
//! services, mean satisfaction and standing (a qualification in good standing
//! all year). The highest level whose criteria all hold is awarded; when
//! criteria lapse the next roll-over downgrades, with the reasons.

use super::{Tenths, format_points};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StarLevel {
    pub stars: i32,
    pub min_points: Tenths,
    pub min_services: i32,
    /// Mean satisfaction (1–5) of the year's rated services; 0: no minimum.
    pub min_satisfaction: f64,
}

/// Highest level first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StarRules {
    pub levels: Vec<StarLevel>,
}

impl StarRules {
    pub fn standard() -> StarRules {
        let l = |stars, points: Tenths, services, satisfaction| StarLevel {
            stars,
            min_points: points * 10,
            min_services: services,
            min_satisfaction: satisfaction,
        };
        StarRules {
            levels: vec![
                l(5, 300, 24, 4.5),
                l(4, 200, 16, 4.2),
                l(3, 120, 10, 4.0),
                l(2, 60, 6, 3.5),
                l(1, 20, 2, 0.0),
            ],
        }
    }
}

/// A professional's year. Satisfaction is summed in thousandths so that the
/// rating here and the roll-over's SQL agree exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct YearResults {
    pub points: Tenths,
    pub services: i32,
    /// Services whose satisfaction counted (rated by the community or enough residents).
    pub rated_services: i32,
    /// Sum of those services' satisfaction scores (1–5), in thousandths.
    pub satisfaction_milli: i64,
    pub in_good_standing: bool,
}

impl YearResults {
    /// Mean satisfaction, `None` when no service was rated.
    pub fn mean_satisfaction(&self) -> Option<f64> {
        (self.rated_services > 0).then(|| self.satisfaction_milli as f64 / 1000.0 / f64::from(self.rated_services))
    }

    /// Whether the mean satisfaction is at least `min_milli` thousandths.
    pub fn satisfaction_at_least(&self, min_milli: i64) -> bool {
        self.rated_services > 0 && self.satisfaction_milli >= min_milli * i64::from(self.rated_services)
    }
}

impl StarLevel {
    /// The minimum satisfaction in thousandths (0: none).
    pub fn min_satisfaction_milli(&self) -> i64 {
        (self.min_satisfaction * 1000.0).round() as i64
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rating {
    pub stars: i32,
    /// Why, in words (for the star history).
    pub reason: String,
}

fn shortfalls(level: &StarLevel, y: &YearResults) -> Vec<String> {
    let mut missing = Vec::new();
    if y.points < level.min_points {
        missing.push(format!(
            "年度积分 {} 未达 {}",
            format_points(y.points),
            format_points(level.min_points)
        ));
    }
    if y.services < level.min_services {
        missing.push(format!("服务 {} 次未达 {} 次", y.services, level.min_services));
    }
    if level.min_satisfaction_milli() > 0 && !y.satisfaction_at_least(level.min_satisfaction_milli()) {
        let shown = y
            .mean_satisfaction()
            .map(|s| format!("{s:.2}"))
            .unwrap_or_else(|| "无".into());
        missing.push(format!("平均满意度 {shown} 未达 {:.1}", level.min_satisfaction));
    }
    missing
}

/// The year's star rating and why.
pub fn rate(rules: &StarRules, y: &YearResults) -> Rating {
    if !y.in_good_standing {
        return Rating {
            stars: 0,
            reason: "年内资格曾被暂停、撤销或过期，不参加星级评定".into(),
        };
    }
    let mut next_shortfall = None;
    for level in &rules.levels {
        let missing = shortfalls(level, y);
        if missing.is_empty() {
            let mut reason = format!("年度积分 {}、服务 {} 次", format_points(y.points), y.services);
            if let Some(s) = y.mean_satisfaction() {
                reason.push_str(&format!("、平均满意度 {s:.2}"));
            }
            reason.push_str(&format!("，达到 {} 星标准", level.stars));
            if let Some((stars, missing)) = next_shortfall {
                reason.push_str(&format!("；距 {stars} 星：{missing}"));
            }
            return Rating {
                stars: level.stars,
                reason,
            };
        }
        next_shortfall = Some((level.stars, missing.join("，")));
    }
    Rating {
        stars: 0,
        reason: match next_shortfall {
            Some((stars, missing)) => format!("未达 {stars} 星标准：{missing}"),
            None => "没有星级标准".into(),
        },
    }
}

/// The change from `previous` stars, if any, with the reason shown in the history.
pub fn change(previous: i32, now: &Rating) -> Option<String> {
    match now.stars.cmp(&previous) {
        std::cmp::Ordering::Equal => None,
        std::cmp::Ordering::Greater => Some(format!("由 {previous} 星升为 {} 星：{}", now.stars, now.reason)),
        std::cmp::Ordering::Less => Some(format!("由 {previous} 星降为 {} 星：{}", now.stars, now.reason)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn year(points: Tenths, services: i32, satisfaction: Option<f64>) -> YearResults {
        YearResults {
            points,
            services,
            rated_services: if satisfaction.is_some() { services } else { 0 },
            satisfaction_milli: satisfaction.map_or(0, |s| (s * 1000.0).round() as i64 * i64::from(services)),
            in_good_standing: true,
        }
    }

    #[test]
    fn the_highest_level_whose_criteria_all_hold() {
        let rules = StarRules::standard();
        assert_eq!(rate(&rules, &year(3500, 30, Some(4.8))).stars, 5);
        // Points and services for 5 ★, satisfaction only for 3 ★.
        let r = rate(&rules, &year(3500, 30, Some(4.1)));
        assert_eq!(r.stars, 3);
        assert!(r.reason.contains("距 4 星：平均满意度 4.10 未达 4.2"), "{}", r.reason);
        assert_eq!(rate(&rules, &year(250, 3, None)).stars, 1);
        let none = rate(&rules, &year(100, 1, None));
        assert_eq!(none.stars, 0);
        assert!(none.reason.starts_with("未达 1 星标准"), "{}", none.reason);
    }

    #[test]
    fn standing_and_downgrades() {
        let rules = StarRules::standard();
        let lapsed = YearResults {
            in_good_standing: false,
            ..year(9000, 50, Some(5.0))
        };
        assert_eq!(rate(&rules, &lapsed).stars, 0);
        let now = rate(&rules, &year(700, 7, Some(3.9)));
        assert_eq!(now.stars, 2);
        let down = change(4, &now).unwrap();
        assert!(down.starts_with("由 4 星降为 2 星"), "{down}");
        assert!(change(2, &now).is_none());
        assert!(change(1, &now).unwrap().starts_with("由 1 星升为 2 星"));
    }
}
