//! Recommendation scores. Every score is a weighted sum of factors in [0, 1];
//! each factor is returned with its value, weight and contribution so that
//! users see why one candidate ranks above another. Unknown inputs (no rating
//! yet, nothing answered yet, no tags) count as a neutral 0.5.

use super::community::Renovation;

/// Beyond this distance the distance factor is 0.
pub const DISTANCE_HORIZON_KM: f64 = 20.0;
/// A mean answer slower than this scores 0 for responsiveness.
pub const SLOW_RESPONSE_HOURS: f64 = 72.0;
/// Specialties that fully satisfy the fit factor.
pub const FIT_TARGET: usize = 3;
const NEUTRAL: f64 = 0.5;

pub const PROFESSIONAL_WEIGHTS: [(&str, f64); 5] = [
    ("distance", 0.30),
    ("specialty_fit", 0.30),
    ("star_rating", 0.15),
    ("load", 0.15),
    ("responsiveness", 0.10),
];

pub const COMMUNITY_WEIGHTS: [(&str, f64); 5] = [
    ("distance", 0.30),
    ("specialty_fit", 0.30),
    ("urgency", 0.15),
    ("coverage_gap", 0.15),
    ("responsiveness", 0.10),
];

#[derive(Debug, Clone, PartialEq)]
pub struct Factor {
    pub name: &'static str,
    pub value: f64,
    pub weight: f64,
    pub detail: String,
}

impl Factor {
    pub fn contribution(&self) -> f64 {
        self.value * self.weight
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub total: f64,
    pub factors: Vec<Factor>,
}

fn score(weights: &[(&'static str, f64)], values: Vec<(f64, String)>) -> Score {
    let factors: Vec<Factor> = weights
        .iter()
        .zip(values)
        .map(|((name, weight), (value, detail))| Factor {
            name,
            value: value.clamp(0.0, 1.0),
            weight: *weight,
            detail,
        })
        .collect();
    Score {
        total: factors.iter().map(Factor::contribution).sum(),
        factors,
    }
}

fn distance(km: f64) -> (f64, String) {
    ((1.0 - km / DISTANCE_HORIZON_KM).max(0.0), format!("距离 {km:.1} 公里"))
}

/// Share of the wanted specialties (up to [`FIT_TARGET`]) the professional has.
fn fit(wanted: &[&str], specialties: &[String]) -> (f64, String) {
    if wanted.is_empty() {
        return (NEUTRAL, "社区尚未标注需求".into());
    }
    let matched: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|w| specialties.iter().any(|s| s == w))
        .collect();
    let value = matched.len() as f64 / wanted.len().min(FIT_TARGET) as f64;
    let detail = if matched.is_empty() {
        "无对口特长".to_string()
    } else {
        format!("对口特长：{}", matched.join("、"))
    };
    (value.min(1.0), detail)
}

fn responsiveness(answered: i32, mean_hours: f64) -> (f64, String) {
    if answered == 0 {
        return (NEUTRAL, "暂无响应记录".into());
    }
    (
        1.0 - mean_hours / SLOW_RESPONSE_HOURS,
        format!("平均 {mean_hours:.1} 小时响应（{answered} 次）"),
    )
}

/// What ranking a professional for a community needs.
#[derive(Debug, Clone)]
pub struct ProfessionalCandidate<'a> {
    pub distance_km: f64,
    pub specialties: &'a [String],
    /// 0 when not rated yet.
    pub star_rating: f64,
    pub active_matches: i32,
    pub capacity: i32,
    pub answered: i32,
    pub mean_response_hours: f64,
}

/// Scores a professional for a community that wants `wanted` specialties.
pub fn professional_score(wanted: &[&str], c: &ProfessionalCandidate) -> Score {
    let rating = if c.star_rating > 0.0 {
        (c.star_rating / 5.0, format!("星级 {:.1}", c.star_rating))
    } else {
        (NEUTRAL, "暂无评分".into())
    };
    let load = if c.capacity > 0 {
        (
            1.0 - f64::from(c.active_matches) / f64::from(c.capacity),
            format!("已服务 {}/{} 个社区", c.active_matches, c.capacity),
        )
    } else {
        (0.0, "暂不接受匹配".into())
    };
    score(
        &PROFESSIONAL_WEIGHTS,
        vec![
            distance(c.distance_km),
            fit(wanted, c.specialties),
            rating,
            load,
            responsiveness(c.answered, c.mean_response_hours),
        ],
    )
}

/// What ranking a community for a professional needs.
#[derive(Debug, Clone)]
pub struct CommunityCandidate<'a> {
    pub distance_km: f64,
    pub wanted: &'a [&'a str],
    pub renovation: Renovation,
    pub open_needs: i32,
    pub active_matches: i32,
    pub demand: i32,
    pub answered: i32,
    pub mean_response_hours: f64,
}

/// Scores a community for a professional with `specialties`.
pub fn community_score(specialties: &[String], c: &CommunityCandidate) -> Score {
    let renovation = match c.renovation {
        Renovation::Assessment | Renovation::Renovating => 1.0,
        Renovation::Unknown => NEUTRAL,
        Renovation::Renovated => 0.3,
    };
    let needs = (f64::from(c.open_needs) / 5.0).min(1.0);
    let urgency = (
        renovation.max(needs),
        format!(
            "改造状态{}，待办需求 {} 件",
            renovation_name(c.renovation),
            c.open_needs
        ),
    );
    let gap = if c.demand > 0 {
        1.0 - f64::from(c.active_matches) / f64::from(c.demand)
    } else {
        0.0
    };
    score(
        &COMMUNITY_WEIGHTS,
        vec![
            distance(c.distance_km),
            fit(c.wanted, specialties),
            urgency,
            (gap, format!("已有 {}/{} 名专业人员", c.active_matches, c.demand)),
            responsiveness(c.answered, c.mean_response_hours),
        ],
    )
}

fn renovation_name(r: Renovation) -> &'static str {
    match r {
        Renovation::Unknown => "未填写",
        Renovation::Assessment => "体检",
        Renovation::Renovating => "改造中",
        Renovation::Renovated => "已改造",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn weights_sum_to_one() {
        assert!(close(PROFESSIONAL_WEIGHTS.iter().map(|w| w.1).sum(), 1.0));
        assert!(close(COMMUNITY_WEIGHTS.iter().map(|w| w.1).sum(), 1.0));
    }

    #[test]
    fn professional_factors_are_computed_and_summed() {
        let specialties = vec!["加装电梯".to_string(), "给排水".to_string()];
        let c = ProfessionalCandidate {
            distance_km: 5.0,
            specialties: &specialties,
            star_rating: 4.0,
            active_matches: 1,
            capacity: 4,
            answered: 2,
            mean_response_hours: 18.0,
        };
        let s = professional_score(&["加装电梯", "建筑结构安全", "适老化改造", "无障碍设计"], &c);
        let values: Vec<f64> = s.factors.iter().map(|f| f.value).collect();
        // 1 − 5/20; 1 of min(4, 3) wanted; 4/5; 1 − 1/4; 1 − 18/72.
        let expected = [0.75, 1.0 / 3.0, 0.8, 0.75, 0.75];
        for (v, e) in values.iter().zip(expected) {
            assert!(close(*v, e), "{values:?}");
        }
        let total = 0.3 * 0.75 + 0.3 / 3.0 + 0.15 * 0.8 + 0.15 * 0.75 + 0.1 * 0.75;
        assert!(close(s.total, total));
        assert!(close(s.factors.iter().map(Factor::contribution).sum(), s.total));
        assert_eq!(s.factors[1].detail, "对口特长：加装电梯");
    }

    #[test]
    fn unknowns_are_neutral_and_values_clamped() {
        let none: Vec<String> = vec![];
        let c = ProfessionalCandidate {
            distance_km: 45.0,
            specialties: &none,
            star_rating: 0.0,
            active_matches: 0,
            capacity: 3,
            answered: 0,
            mean_response_hours: 0.0,
        };
        let s = professional_score(&[], &c);
        let values: Vec<f64> = s.factors.iter().map(|f| f.value).collect();
        assert_eq!(values, [0.0, 0.5, 0.5, 1.0, 0.5]);
        let slow = responsiveness(3, 100.0);
        assert!(score(&PROFESSIONAL_WEIGHTS[4..], vec![slow]).factors[0].value == 0.0);
    }

    #[test]
    fn nearer_and_better_fitting_ranks_higher() {
        let fits = vec!["适老化改造".to_string()];
        let base = ProfessionalCandidate {
            distance_km: 2.0,
            specialties: &fits,
            star_rating: 0.0,
            active_matches: 0,
            capacity: 3,
            answered: 0,
            mean_response_hours: 0.0,
        };
        let far = ProfessionalCandidate {
            distance_km: 12.0,
            ..base.clone()
        };
        let wanted = ["适老化改造"];
        assert!(professional_score(&wanted, &base).total > professional_score(&wanted, &far).total);
    }

    #[test]
    fn community_factors() {
        let specialties = vec!["停车设施".to_string()];
        let wanted = ["停车设施", "城市设计"];
        let c = CommunityCandidate {
            distance_km: 0.0,
            wanted: &wanted,
            renovation: Renovation::Renovated,
            open_needs: 4,
            active_matches: 1,
            demand: 3,
            answered: 0,
            mean_response_hours: 0.0,
        };
        let s = community_score(&specialties, &c);
        let values: Vec<f64> = s.factors.iter().map(|f| f.value).collect();
        let expected = [1.0, 0.5, 0.8, 2.0 / 3.0, 0.5];
        for (v, e) in values.iter().zip(expected) {
            assert!(close(*v, e), "{values:?}");
        }
    }
}
