//! What makes a valid visit record.

use chrono::{DateTime, Duration, Utc};
use kit::error::Violations;

/// The standard service list (every district has it; districts add their own).
pub const STANDARD_SERVICE_TYPES: &[(&str, &str)] = &[
    ("survey", "现状调研分析"),
    ("resident-communication", "居民意愿沟通"),
    ("plan-review", "方案审查咨询"),
    ("deliberation", "议事协商"),
    ("evaluation", "项目效果评估"),
    ("policy-briefing", "政策宣讲"),
    ("micro-class", "微课堂"),
    ("construction-guidance", "施工跟踪指导"),
];

/// Bounds from configuration.
#[derive(Debug, Clone)]
pub struct Limits {
    pub min_duration: Duration,
    pub max_duration: Duration,
    /// How far a client clock may run ahead before an end time counts as future.
    pub clock_skew: Duration,
    /// A check-in farther than this from the community is flagged.
    pub check_in_radius_km: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            min_duration: Duration::minutes(15),
            max_duration: Duration::hours(12),
            clock_skew: Duration::minutes(5),
            check_in_radius_km: 3.0,
        }
    }
}

pub const MAX_SUMMARY_CHARS: usize = 2000;
pub const MAX_PARTICIPANTS: usize = 30;
pub const MAX_NEEDS: usize = 20;
pub const MAX_ATTACHMENTS: usize = 20;
pub const MAX_RESIDENTS_REACHED: i32 = 100_000;

/// The content of a record as the professional submits it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Content {
    pub service_type: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub check_in: Option<(f64, f64)>,
    pub summary: String,
    pub participants: Vec<String>,
    pub residents_reached: i32,
    pub need_ids: Vec<String>,
    pub attachment_ids: Vec<String>,
}

/// When the match was active: `[from, to)` intervals, `to` open while it still is.
pub type ActiveIntervals = [(DateTime<Utc>, Option<DateTime<Utc>>)];

/// The facts a record is checked against.
pub struct Context<'a> {
    pub now: DateTime<Utc>,
    pub service_types: &'a [String],
    pub active: &'a ActiveIntervals,
    /// The professional's other records (start, end), excluding this one.
    pub others: &'a [(DateTime<Utc>, DateTime<Utc>)],
    pub community: (f64, f64),
}

/// Where the check-in was relative to the community.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckIn {
    pub distance_km: f64,
    pub far: bool,
}

fn within_active(active: &ActiveIntervals, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
    active
        .iter()
        .any(|(from, to)| *from <= start && to.is_none_or(|to| end <= to))
}

/// Refuses a visit overlapping one of the professional's other records. Run
/// again under the professional's lock just before the record is written, so
/// that concurrent submissions cannot all pass it.
pub fn overlaps(c: &Content, others: &[(DateTime<Utc>, DateTime<Utc>)]) -> bool {
    others.iter().any(|(s, e)| c.start < *e && *s < c.end)
}

/// The field and message of an overlap.
pub const OVERLAP: (&str, &str) = ("content.start_time", "与您的其他服务记录时间重叠");

/// Validates `c` (normalising its strings) and locates its check-in; every
/// problem is reported with its field.
pub fn validate(c: &mut Content, ctx: &Context, limits: &Limits) -> Result<CheckIn, Violations> {
    let mut v = Violations::new();
    c.service_type = c.service_type.trim().to_string();
    if !ctx.service_types.contains(&c.service_type) {
        v.add("content.service_type", "请选择本区服务清单中的服务类型");
    }
    if c.end <= c.start {
        v.add("content.end_time", "结束时间应晚于开始时间");
    } else {
        let duration = c.end - c.start;
        if duration < limits.min_duration || duration > limits.max_duration {
            v.add(
                "content.end_time",
                format!(
                    "服务时长应在 {} 分钟到 {} 小时之间",
                    limits.min_duration.num_minutes(),
                    limits.max_duration.num_hours()
                ),
            );
        }
    }
    if c.end > ctx.now + limits.clock_skew {
        v.add("content.end_time", "不能填写未来的时间");
    }
    if c.end > c.start && !within_active(ctx.active, c.start, c.end) {
        v.add("match_id", "服务时间内该匹配不处于已建立状态");
    }
    if overlaps(c, ctx.others) {
        v.add(OVERLAP.0, OVERLAP.1);
    }
    c.summary = c.summary.trim().to_string();
    let summary_chars = c.summary.chars().count();
    if !(10..=MAX_SUMMARY_CHARS).contains(&summary_chars) {
        v.add(
            "content.summary",
            format!("服务内容摘要应为 10 到 {MAX_SUMMARY_CHARS} 个字"),
        );
    }
    if !(0..=MAX_RESIDENTS_REACHED).contains(&c.residents_reached) {
        v.add("content.residents_reached", "服务居民人数无效");
    }
    for (field, list, max) in [
        ("content.participant_account_ids", &c.participants, MAX_PARTICIPANTS),
        ("content.need_ids", &c.need_ids, MAX_NEEDS),
        ("content.attachment_ids", &c.attachment_ids, MAX_ATTACHMENTS),
    ] {
        if list.len() > max {
            v.add(field, format!("最多 {max} 项"));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, item) in list.iter().enumerate() {
            if item.trim().is_empty() || !seen.insert(item.as_str()) {
                v.add(format!("{field}[{i}]"), "不能为空或重复");
            }
        }
    }
    let check_in = match c.check_in {
        Some((lon, lat)) if matching_solver::geo::valid_position(lon, lat) => {
            let distance_km = matching_solver::haversine_km(lon, lat, ctx.community.0, ctx.community.1);
            Some(CheckIn {
                distance_km,
                far: distance_km > limits.check_in_radius_km,
            })
        }
        Some(_) => {
            v.add("content.check_in", "签到位置经纬度无效");
            None
        }
        None => {
            v.add("content.check_in", "请提供现场签到位置");
            None
        }
    };
    if !v.is_empty() {
        return Err(v);
    }
    check_in.ok_or_else(Violations::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: Violations) -> Vec<String> {
        match v.into_result() {
            Err(kit::ServiceError::InvalidArgument(list)) => list.into_iter().map(|f| f.field).collect(),
            _ => vec![],
        }
    }

    const COMMUNITY: (f64, f64) = (106.577, 29.557);

    fn content(now: DateTime<Utc>) -> Content {
        Content {
            service_type: "survey".into(),
            start: now - Duration::hours(3),
            end: now - Duration::hours(1),
            check_in: Some((106.578, 29.558)),
            summary: "走访 5 栋居民，了解加装电梯意愿".into(),
            participants: vec![],
            residents_reached: 12,
            need_ids: vec![],
            attachment_ids: vec![],
        }
    }

    fn check(
        c: &mut Content,
        now: DateTime<Utc>,
        active: &ActiveIntervals,
        others: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> Result<CheckIn, Vec<String>> {
        let types = vec!["survey".to_string()];
        let ctx = Context {
            now,
            service_types: &types,
            active,
            others,
            community: COMMUNITY,
        };
        validate(c, &ctx, &Limits::default()).map_err(fields)
    }

    #[test]
    fn a_valid_record_near_the_community() {
        let now = Utc::now();
        let active = [(now - Duration::days(10), None)];
        let got = check(&mut content(now), now, &active, &[]).unwrap();
        assert!(!got.far && got.distance_km < 0.2);
    }

    #[test]
    fn times_are_checked() {
        let now = Utc::now();
        let active = [(now - Duration::days(10), None)];
        let mut backwards = content(now);
        backwards.end = backwards.start - Duration::minutes(1);
        assert_eq!(
            check(&mut backwards, now, &active, &[]).unwrap_err(),
            ["content.end_time"]
        );
        let mut short = content(now);
        short.end = short.start + Duration::minutes(5);
        assert_eq!(check(&mut short, now, &active, &[]).unwrap_err(), ["content.end_time"]);
        let mut long = content(now);
        long.start = long.end - Duration::hours(13);
        assert_eq!(check(&mut long, now, &active, &[]).unwrap_err(), ["content.end_time"]);
        let mut future = content(now);
        future.start = now + Duration::hours(1);
        future.end = now + Duration::hours(2);
        assert_eq!(check(&mut future, now, &active, &[]).unwrap_err(), ["content.end_time"]);
        // Within the clock skew is fine.
        let mut skewed = content(now);
        skewed.end = now + Duration::minutes(2);
        assert!(check(&mut skewed, now, &active, &[]).is_ok());
    }

    #[test]
    fn the_match_must_be_active_for_the_whole_visit() {
        let now = Utc::now();
        let c = content(now);
        let ended = [(now - Duration::days(10), Some(c.start + Duration::minutes(30)))];
        assert_eq!(check(&mut c.clone(), now, &ended, &[]).unwrap_err(), ["match_id"]);
        let later = [(c.start + Duration::minutes(1), None)];
        assert_eq!(check(&mut c.clone(), now, &later, &[]).unwrap_err(), ["match_id"]);
        let resumed = [
            (now - Duration::days(10), Some(now - Duration::days(5))),
            (now - Duration::days(1), None),
        ];
        assert!(check(&mut c.clone(), now, &resumed, &[]).is_ok());
        assert_eq!(check(&mut c.clone(), now, &[], &[]).unwrap_err(), ["match_id"]);
    }

    #[test]
    fn overlaps_with_other_records_are_refused() {
        let now = Utc::now();
        let active = [(now - Duration::days(10), None)];
        let c = content(now);
        let overlapping = [(c.start + Duration::minutes(30), c.end + Duration::hours(1))];
        assert_eq!(
            check(&mut c.clone(), now, &active, &overlapping).unwrap_err(),
            ["content.start_time"]
        );
        let adjacent = [
            (c.end, c.end + Duration::hours(1)),
            (c.start - Duration::hours(1), c.start),
        ];
        assert!(check(&mut c.clone(), now, &active, &adjacent).is_ok());
    }

    #[test]
    fn far_check_ins_are_flagged_not_refused() {
        let now = Utc::now();
        let active = [(now - Duration::days(10), None)];
        let mut far = content(now);
        far.check_in = Some((106.45, 29.45));
        let got = check(&mut far, now, &active, &[]).unwrap();
        assert!(got.far && got.distance_km > 10.0);
    }

    #[test]
    fn other_fields_are_checked_together() {
        let now = Utc::now();
        let active = [(now - Duration::days(10), None)];
        let mut bad = content(now);
        bad.service_type = "tourism".into();
        bad.summary = "太短".into();
        bad.residents_reached = -1;
        bad.participants = vec!["a".into(), "a".into()];
        bad.check_in = Some((f64::NAN, 29.0));
        assert_eq!(
            check(&mut bad, now, &active, &[]).unwrap_err(),
            [
                "content.service_type",
                "content.summary",
                "content.residents_reached",
                "content.participant_account_ids[1]",
                "content.check_in"
            ]
        );
        let mut missing = content(now);
        missing.check_in = None;
        assert_eq!(
            check(&mut missing, now, &active, &[]).unwrap_err(),
            ["content.check_in"]
        );
    }
}
