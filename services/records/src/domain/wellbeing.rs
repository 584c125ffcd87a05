//! The community wellbeing index, after Chengdu's 美好社区指数: six
//! sub-indices — safety, health, convenience, comfort, vitality, affinity —
//! from the standard survey's 1–5 scale answers.
//!
//! Method: for a community and period, a sub-index is the mean of all scale
//! answers to its dimension's questions, mapped to 0–100 by (mean − 1) / 4 × 100;
//! the index is the mean of the six sub-indices (of those with answers). A
//! street, district or city aggregates its communities' sub-indices weighted
//! by their respondents.

pub const DIMENSIONS: [(&str, &str); 6] = [
    ("safety", "安全"),
    ("health", "健康"),
    ("convenience", "便利"),
    ("comfort", "舒适"),
    ("vitality", "活力"),
    ("affinity", "亲和"),
];

pub const METHOD: &str = "每个维度取该维度全部量表题（1–5 分）答案的平均值，按 (平均值 − 1) ÷ 4 × 100 换算为 0–100 分；\
总指数为六个维度分的平均值。街道、区县、全市按各社区的答卷人数加权汇总社区的维度分。";

/// The standard survey: two scale questions per dimension.
pub const STANDARD_QUESTIONS: [(&str, &str, &str); 12] = [
    ("safety-1", "safety", "夜间在小区内行走，您感到安全吗？"),
    ("safety-2", "safety", "您对小区消防、房屋安全状况满意吗？"),
    ("health-1", "health", "小区周边的健身、医疗设施能满足您的需要吗？"),
    ("health-2", "health", "您对小区环境卫生满意吗？"),
    ("convenience-1", "convenience", "买菜、办事、出行方便吗？"),
    ("convenience-2", "convenience", "您对停车与充电条件满意吗？"),
    ("comfort-1", "comfort", "您对住房条件（电梯、管网、保温等）满意吗？"),
    ("comfort-2", "comfort", "您对小区绿化与公共空间满意吗？"),
    ("vitality-1", "vitality", "社区活动丰富吗？"),
    ("vitality-2", "vitality", "您愿意参与社区事务的讨论与决策吗？"),
    ("affinity-1", "affinity", "您与邻居相处融洽吗？"),
    ("affinity-2", "affinity", "您对社区工作人员与专业人员的服务满意吗？"),
];

pub fn dimension_of(question_id: &str) -> Option<&'static str> {
    STANDARD_QUESTIONS
        .iter()
        .find(|(id, _, _)| *id == question_id)
        .map(|(_, d, _)| *d)
}

/// Sub-indices (dimension order) of one community and period from its scale
/// answers `(question id, 1–5)`; `None` for a dimension without answers.
pub fn community_sub_indices(answers: &[(String, i32)]) -> [Option<f64>; 6] {
    let mut sums = [(0i64, 0i64); 6];
    for (question, scale) in answers {
        if let Some(d) = dimension_of(question)
            && let Some(i) = DIMENSIONS.iter().position(|(id, _)| *id == d)
            && (1..=5).contains(scale)
        {
            sums[i].0 += i64::from(*scale);
            sums[i].1 += 1;
        }
    }
    sums.map(|(sum, n)| (n > 0).then(|| (sum as f64 / n as f64 - 1.0) / 4.0 * 100.0))
}

/// The index: mean of the sub-indices that have answers.
pub fn index(sub: &[Option<f64>; 6]) -> Option<f64> {
    let known: Vec<f64> = sub.iter().flatten().copied().collect();
    (!known.is_empty()).then(|| known.iter().sum::<f64>() / known.len() as f64)
}

/// Aggregates communities' `(sub-indices, respondents)` weighted by respondents.
pub fn aggregate(parts: &[([Option<f64>; 6], u32)]) -> [Option<f64>; 6] {
    std::array::from_fn(|i| {
        let (weighted, weight) = parts
            .iter()
            .filter_map(|(sub, n)| sub[i].map(|v| (v * f64::from(*n), f64::from(*n))))
            .fold((0.0, 0.0), |(a, b), (c, d)| (a + c, b + d));
        (weight > 0.0).then(|| weighted / weight)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn sub_indices_from_a_fixed_answer_set() {
        // Two respondents; safety answers 5,5,4,4 (mean 4.5 → 87.5); health 1,1 (→ 0);
        // convenience 3 (→ 50); comfort none; vitality 2,4 (→ 50); affinity 5 (→ 100).
        let a = |q: &str, s: i32| (q.to_string(), s);
        let answers = vec![
            a("safety-1", 5),
            a("safety-2", 5),
            a("safety-1", 4),
            a("safety-2", 4),
            a("health-1", 1),
            a("health-2", 1),
            a("convenience-1", 3),
            a("vitality-1", 2),
            a("vitality-2", 4),
            a("affinity-2", 5),
            a("affinity-1", 9),
            a("unknown", 5),
        ];
        let sub = community_sub_indices(&answers);
        assert!(close(sub[0], 87.5) && close(sub[1], 0.0) && close(sub[2], 50.0));
        assert_eq!(sub[3], None);
        assert!(close(sub[4], 50.0) && close(sub[5], 100.0));
        assert!(close(index(&sub), (87.5 + 0.0 + 50.0 + 50.0 + 100.0) / 5.0));
        assert_eq!(index(&[None; 6]), None);
    }

    #[test]
    fn aggregation_is_weighted_by_respondents() {
        let a = [Some(80.0), Some(60.0), None, Some(50.0), Some(0.0), Some(100.0)];
        let b = [Some(40.0), None, None, Some(50.0), Some(100.0), Some(0.0)];
        let agg = aggregate(&[(a, 3), (b, 1)]);
        assert!(close(agg[0], (80.0 * 3.0 + 40.0) / 4.0));
        assert!(close(agg[1], 60.0));
        assert_eq!(agg[2], None);
        assert!(close(agg[4], 25.0) && close(agg[5], 75.0));
    }

    #[test]
    fn every_standard_question_has_a_known_dimension() {
        for (id, d, _) in STANDARD_QUESTIONS {
            assert!(DIMENSIONS.iter().any(|(x, _)| *x == d), "{id}");
        }
        for (d, _) in DIMENSIONS {
            assert_eq!(STANDARD_QUESTIONS.iter().filter(|q| q.1 == d).count(), 2);
        }
    }
}
