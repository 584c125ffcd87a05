//! Chinese templates: an event of qualification, matching, records or
//! incentive becomes the notifications of the people it concerns. Events
//! that concern nobody in particular give none.

use kit::events::{Event, decode};
use sanshi_proto::incentive::v1 as incentive;
use sanshi_proto::matching::v1 as matching;
use sanshi_proto::qualification::v1 as qualification;
use sanshi_proto::records::v1 as records;

/// A notification before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// An account id, or an organisation's [`organisation`] id.
    pub recipient: String,
    pub category: &'static str,
    pub title: String,
    pub body: String,
    pub priority: Priority,
}

/// Low-priority notifications tell of what already happened and needs no
/// answer; a person who asks for the daily digest gets them bundled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Normal,
    Low,
}

/// The categories of notifications, as preferences name them.
pub const CATEGORIES: [&str; 5] = ["qualification", "matching", "records", "points", "announcement"];

/// Points, stars and confirmations are low priority; decisions, invitations,
/// needs and announcements are not.
pub fn priority(category: &str) -> Priority {
    match category {
        "points" | "records" => Priority::Low,
        _ => Priority::Normal,
    }
}

/// The recipient id of an organisation: the office or community of a region,
/// whose community workers and admins share its inbox.
pub fn organisation(region_code: &str) -> String {
    format!("region:{region_code}")
}

/// The region of an organisation's recipient id.
pub fn organisation_region(recipient: &str) -> Option<&str> {
    recipient.strip_prefix("region:")
}

fn draft(recipient: &str, category: &'static str, title: &str, body: String) -> Vec<Draft> {
    if recipient.is_empty() || recipient == organisation("") {
        return Vec::new();
    }
    vec![Draft {
        recipient: recipient.to_string(),
        category,
        title: title.to_string(),
        body,
        priority: priority(category),
    }]
}

/// District, street and community names ("渝中区解放碑街道民生路社区居民委员会") where the division data knows them, else the code.
fn community(code: &str) -> String {
    let parts: Vec<&str> = [6, 9, 12]
        .into_iter()
        .filter_map(|len| code.get(..len))
        .map(kit::region::name)
        .filter(|name| !name.is_empty())
        .collect();
    if parts.is_empty() {
        format!("社区 {code}")
    } else {
        parts.concat()
    }
}

fn with_reason(text: &str, reason: &str) -> String {
    if reason.trim().is_empty() {
        format!("{text}。")
    } else {
        format!("{text}，原因：{}。", reason.trim())
    }
}

/// "13.7" for 137 tenths.
fn points(tenths: i64) -> String {
    let sign = if tenths < 0 { "-" } else { "" };
    format!("{sign}{}.{}", tenths.unsigned_abs() / 10, tenths.unsigned_abs() % 10)
}

/// The notifications `event` gives (an undecodable payload gives none and is logged by the caller).
pub fn render(event: &Event) -> Result<Vec<Draft>, prost::DecodeError> {
    if let Some(e) = decode::<qualification::ProfessionalQualified>(event) {
        let e = e?;
        return Ok(draft(
            &e.account_id,
            "qualification",
            "入库申请已通过",
            format!(
                "您的入库申请已通过审核，您已纳入“三师”专家库，资格有效期至 {}。",
                e.qualified_until
            ),
        ));
    }
    if let Some(e) = decode::<qualification::QualificationRenewed>(event) {
        let e = e?;
        let body = format!("您的“三师”资格已续期至 {}。", e.qualified_until);
        return Ok(draft(&e.account_id, "qualification", "资格已续期", body));
    }
    if let Some(e) = decode::<qualification::QualificationSuspended>(event) {
        let e = e?;
        let body = with_reason("您的“三师”资格已被暂停，暂停期间的服务不计积分", &e.reason);
        return Ok(draft(&e.account_id, "qualification", "资格已暂停", body));
    }
    if let Some(e) = decode::<qualification::QualificationRevoked>(event) {
        let e = e?;
        let body = with_reason("您的“三师”资格已被撤销", &e.reason);
        return Ok(draft(&e.account_id, "qualification", "资格已撤销", body));
    }
    if let Some(e) = decode::<qualification::QualificationExpired>(event) {
        let e = e?;
        let body = "您的“三师”资格已到期，请及时申请续期。".to_string();
        return Ok(draft(&e.account_id, "qualification", "资格已到期", body));
    }
    if let Some(e) = decode::<matching::MatchProposed>(event) {
        let e = e?;
        let until = e
            .expire_time
            .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
            // The date in China Standard Time (UTC+8), as people read it.
            .map(|t| (t + chrono::Duration::hours(8)).format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        let message = if e.message.trim().is_empty() {
            String::new()
        } else {
            format!("（留言：{}）", e.message.trim())
        };
        if e.initiated_by != "community" {
            // An application: the community's office answers it.
            let body = format!("有“三师”专业人员申请到本社区开展服务{message}，请在 {until} 前答复。");
            return Ok(draft(
                &organisation(&e.community_code),
                "matching",
                "专业人员申请服务",
                body,
            ));
        }
        let name = if e.community_name.is_empty() {
            community(&e.community_code)
        } else {
            e.community_name.clone()
        };
        let body = format!("社区邀请您参与“三师”进社区服务：{name}{message}，请在 {until} 前答复。");
        return Ok(draft(&e.professional_account_id, "matching", "社区服务邀请", body));
    }
    if let Some(e) = decode::<matching::MatchConfirmed>(event) {
        let e = e?;
        let body = format!(
            "您与{}的服务对接已确认（距离约 {:.1} 公里），可以开始上门服务。",
            community(&e.community_code),
            e.distance_km
        );
        return Ok(draft(&e.professional_account_id, "matching", "社区对接已确认", body));
    }
    if let Some(e) = decode::<matching::MatchEnded>(event) {
        let e = e?;
        let body = with_reason(
            &format!("您与{}的服务对接已结束", community(&e.community_code)),
            &e.reason,
        );
        return Ok(draft(&e.professional_account_id, "matching", "服务对接已结束", body));
    }
    if let Some(e) = decode::<matching::MatchSuspended>(event) {
        let e = e?;
        let body = with_reason(
            &format!("您与{}的服务对接已暂停", community(&e.community_code)),
            &e.reason,
        );
        return Ok(draft(&e.professional_account_id, "matching", "服务对接已暂停", body));
    }
    if let Some(e) = decode::<matching::MatchResumed>(event) {
        let e = e?;
        let body = format!("您与{}的服务对接已恢复。", community(&e.community_code));
        return Ok(draft(&e.professional_account_id, "matching", "服务对接已恢复", body));
    }
    if let Some(e) = decode::<matching::NeedAssigned>(event) {
        let e = e?;
        // Another province's request (matching's federation kind) has no community of ours.
        if e.category_code == "federation" {
            let body = "其他省份平台请求的专家支援已分派给您，详情请在需求列表中查看。".to_string();
            return Ok(draft(&e.professional_account_id, "matching", "新的跨省支援请求", body));
        }
        let body = format!(
            "{}有一项居民需求分派给您，请尽快联系社区处理。",
            community(&e.community_code)
        );
        return Ok(draft(&e.professional_account_id, "matching", "新的居民需求", body));
    }
    if let Some(e) = decode::<records::ServiceRecordConfirmed>(event) {
        let e = e?;
        let body = format!("您在{}的服务记录已由社区确认。", community(&e.community_code));
        return Ok(draft(&e.professional_account_id, "records", "服务记录已确认", body));
    }
    if let Some(e) = decode::<incentive::PointsAwarded>(event) {
        let e = e?;
        let (title, body) = if e.source.starts_with("adjustment:") {
            ("积分调整", format!("管理员调整了您的积分：{}。", points(e.tenths)))
        } else if e.source.starts_with("reversal:") || e.source.contains(":v") {
            ("积分更正", format!("您的积分已更正：{}。", points(e.tenths)))
        } else {
            ("获得积分", format!("服务记录已计分，获得积分 {}。", points(e.tenths)))
        };
        return Ok(draft(&e.professional_account_id, "points", title, body));
    }
    if let Some(e) = decode::<incentive::StarRatingsChanged>(event) {
        let e = e?;
        return Ok(e
            .changes
            .iter()
            .flat_map(|c| {
                let body = format!("{} 年度星级评定：{}", c.year, c.reason);
                draft(&c.professional_account_id, "points", "星级评定结果", body)
            })
            .collect());
    }
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit::events::EventPayload;

    fn event<P: EventPayload>(payload: &P) -> Event {
        Event {
            id: "e1".into(),
            r#type: P::TYPE.into(),
            payload: payload.encode_to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn events_in_words() {
        let qualified = qualification::ProfessionalQualified {
            account_id: "p1".into(),
            qualified_until: "2029-11-22".into(),
            ..Default::default()
        };
        let got = render(&event(&qualified)).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].recipient, "p1");
        assert_eq!(got[0].title, "入库申请已通过");
        assert!(got[0].body.starts_with("您的入库申请已通过审核"), "{}", got[0].body);

        let confirmed = matching::MatchConfirmed {
            professional_account_id: "p1".into(),
            community_code: "500103003013".into(),
            distance_km: 6.66,
            ..Default::default()
        };
        let body = &render(&event(&confirmed)).unwrap()[0].body;
        assert!(body.contains("渝中区解放碑街道民生路社区"), "{body}");
        assert!(body.contains("6.7 公里"), "{body}");

        let awarded = incentive::PointsAwarded {
            professional_account_id: "p1".into(),
            source: "record:r1".into(),
            tenths: 137,
            ..Default::default()
        };
        assert_eq!(
            render(&event(&awarded)).unwrap()[0].body,
            "服务记录已计分，获得积分 13.7。"
        );
        assert_eq!(render(&event(&awarded)).unwrap()[0].priority, Priority::Low);
        let penalty = incentive::PointsAwarded {
            source: "adjustment:a:k".into(),
            tenths: -50,
            ..awarded
        };
        assert_eq!(
            render(&event(&penalty)).unwrap()[0].body,
            "管理员调整了您的积分：-5.0。"
        );

        let suspended = qualification::QualificationSuspended {
            account_id: "p1".into(),
            reason: "违规".into(),
            ..Default::default()
        };
        assert!(render(&event(&suspended)).unwrap()[0].body.ends_with("原因：违规。"));
    }

    #[test]
    fn invitations_reach_the_professional() {
        let invited = matching::MatchProposed {
            professional_account_id: "p1".into(),
            community_name: "民生路社区居民委员会".into(),
            initiated_by: "community".into(),
            message: "请协助老旧小区改造议事".into(),
            // 2026-11-29 20:00 UTC is already the 30th in Beijing.
            expire_time: Some(prost_types::Timestamp {
                seconds: 1_795_982_400,
                nanos: 0,
            }),
            ..Default::default()
        };
        let got = render(&event(&invited)).unwrap();
        assert_eq!(got[0].title, "社区服务邀请");
        assert_eq!(
            got[0].body,
            "社区邀请您参与“三师”进社区服务：民生路社区居民委员会（留言：请协助老旧小区改造议事），请在 2026-11-30 前答复。"
        );
        let applied = matching::MatchProposed {
            initiated_by: "professional".into(),
            community_code: "500103003013".into(),
            message: String::new(),
            ..invited
        };
        let got = render(&event(&applied)).unwrap();
        assert_eq!(got[0].recipient, "region:500103003013", "the community's office");
        assert_eq!(
            got[0].body,
            "有“三师”专业人员申请到本社区开展服务，请在 2026-11-30 前答复。"
        );
        assert_eq!(got[0].priority, Priority::Normal);
    }

    #[test]
    fn a_federation_request_is_announced_as_such() {
        let assigned = matching::NeedAssigned {
            need_id: "n1".into(),
            community_code: "50".into(),
            category_code: "federation".into(),
            professional_account_id: "p1".into(),
            ..Default::default()
        };
        let got = render(&event(&assigned)).unwrap();
        assert_eq!(got[0].recipient, "p1");
        assert_eq!(got[0].title, "新的跨省支援请求");
        assert!(!got[0].body.contains("50"), "{}", got[0].body);
    }

    #[test]
    fn events_for_nobody_give_nothing() {
        let team_need = matching::NeedAssigned {
            team_id: "t1".into(),
            ..Default::default()
        };
        assert!(render(&event(&team_need)).unwrap().is_empty());
        let updated = matching::CommunityUpdated::default();
        assert!(render(&event(&updated)).unwrap().is_empty());
    }
}
