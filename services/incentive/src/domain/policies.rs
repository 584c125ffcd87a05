//! Incentive policies as data: who qualifies, and why (or why not). The
//! programme announces nine (九大激励政策) without a public list of criteria;
//! [`standard`] models nine plausible ones, and admins replace them with the
//! real texts and thresholds.

use super::{Tenths, format_points};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub id: String,
    pub title: String,
    pub description: String,
    pub min_stars: i32,
    /// Points of the last closed year, in tenths.
    pub min_points: Tenths,
    /// Services of the last closed year.
    pub min_services: i32,
    /// A division-code prefix ("" for the whole platform).
    pub region: String,
}

/// What eligibility is judged on.
#[derive(Debug, Clone, PartialEq)]
pub struct Standing<'a> {
    pub stars: i32,
    pub points: Tenths,
    pub services: i32,
    /// The regions the professional serves.
    pub regions: &'a [String],
}

#[derive(Debug, Clone, PartialEq)]
pub struct Eligibility {
    pub policy_id: String,
    pub eligible: bool,
    /// Each criterion, met or not, in words.
    pub reasons: Vec<String>,
}

pub fn check(policy: &Policy, s: &Standing) -> Eligibility {
    let mut reasons = Vec::new();
    let mut eligible = true;
    let mut criterion = |met: bool, text: String| {
        eligible &= met;
        reasons.push(format!("{}{text}", if met { "✓ " } else { "✗ " }));
    };
    if !policy.region.is_empty() {
        let serves = s
            .regions
            .iter()
            .any(|r| r.starts_with(policy.region.as_str()) || policy.region.starts_with(r.as_str()));
        criterion(serves, format!("服务区域在 {} 内", policy.region));
    }
    if policy.min_stars > 0 {
        criterion(
            s.stars >= policy.min_stars,
            format!("星级 {} 星（要求 ≥ {} 星）", s.stars, policy.min_stars),
        );
    }
    if policy.min_points > 0 {
        criterion(
            s.points >= policy.min_points,
            format!(
                "上年度积分 {}（要求 ≥ {}）",
                format_points(s.points),
                format_points(policy.min_points)
            ),
        );
    }
    if policy.min_services > 0 {
        criterion(
            s.services >= policy.min_services,
            format!("上年度服务 {} 次（要求 ≥ {} 次）", s.services, policy.min_services),
        );
    }
    Eligibility {
        policy_id: policy.id.clone(),
        eligible,
        reasons,
    }
}

/// Nine policies as placeholders for the programme's own.
pub fn standard() -> Vec<Policy> {
    let p = |id: &str, title: &str, description: &str, stars, points: Tenths, services| Policy {
        id: id.into(),
        title: title.into(),
        description: description.into(),
        min_stars: stars,
        min_points: points * 10,
        min_services: services,
        region: String::new(),
    };
    vec![
        p(
            "honor-certificate",
            "荣誉证书",
            "年度服务满 6 次颁发“三师”进社区荣誉证书",
            0,
            0,
            6,
        ),
        p("star-title", "星级称号", "授予星级“三师”称号并公开表扬", 1, 0, 0),
        p(
            "continuing-education",
            "继续教育学时",
            "服务时长折算注册执业继续教育学时",
            0,
            60,
            0,
        ),
        p("credit-bonus", "信用加分", "纳入企业与个人信用评价加分", 2, 0, 0),
        p(
            "bid-preference",
            "评标优先",
            "城市更新项目评标、评优中同等条件优先",
            3,
            0,
            0,
        ),
        p("title-review", "职称评审", "职称评审中作为基层服务业绩", 3, 120, 10),
        p("expert-pool", "专家库入库", "优先推荐进入市级专家库", 4, 0, 0),
        p("training", "专题培训", "优先参加市级专题培训与交流", 2, 0, 6),
        p("annual-award", "年度表彰", "参加年度“十佳三师”评选", 5, 300, 24),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eligibility_lists_every_criterion() {
        let regions = vec!["500103".to_string()];
        let policy = Policy {
            region: "50".into(),
            ..standard().into_iter().find(|p| p.id == "title-review").unwrap()
        };
        let ok = check(
            &policy,
            &Standing {
                stars: 3,
                points: 1500,
                services: 12,
                regions: &regions,
            },
        );
        assert!(ok.eligible);
        assert_eq!(ok.reasons.len(), 4);
        let short = check(
            &policy,
            &Standing {
                stars: 3,
                points: 900,
                services: 12,
                regions: &regions,
            },
        );
        assert!(!short.eligible);
        assert!(
            short.reasons.iter().any(|r| r.starts_with("✗ 上年度积分 90.0")),
            "{:?}",
            short.reasons
        );
        let elsewhere = Policy {
            region: "5001".into(),
            ..policy.clone()
        };
        let other = vec!["510104".to_string()];
        assert!(
            !check(
                &elsewhere,
                &Standing {
                    stars: 5,
                    points: 9000,
                    services: 50,
                    regions: &other
                }
            )
            .eligible
        );
    }

    #[test]
    fn nine_distinct_policies() {
        let all = standard();
        assert_eq!(all.len(), 9);
        let mut ids: Vec<&str> = all.iter().map(|p| p.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 9);
    }
}
