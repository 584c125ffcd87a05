//! Specialties: tags a professional picks from a curated list.
//!
//! Matching pairs a community's needs with professionals by these tags, so
//! they come from one list instead of free text (free text would split
//! "加装电梯" and "既有住宅加装电梯" into two needs nobody matches). The list
//! grows by editing [`SPECIALTIES`]; tags are never renamed, because stored
//! applications and community needs refer to them verbatim.

use kit::error::FieldViolation;
use std::collections::HashSet;

/// The curated tags, grouped loosely by discipline for the picker.
pub const SPECIALTIES: &[&str] = &[
    // Planning and design
    "城市更新",
    "老旧小区改造",
    "社区规划",
    "城市设计",
    "公共空间设计",
    "景观设计",
    "适老化改造",
    "无障碍设计",
    "儿童友好空间",
    "海绵城市",
    "历史街区保护",
    "历史建筑修缮",
    // Building safety and services
    "建筑结构安全",
    "房屋安全鉴定",
    "抗震加固",
    "消防安全",
    "给排水",
    "电气",
    "燃气",
    "暖通空调",
    "建筑节能改造",
    "加装电梯",
    "停车设施",
    // Cost, operation and community
    "造价咨询",
    "物业管理",
    "社区商业",
    "社区营造",
    "公众参与",
];

/// At most this many tags: a professional who claims everything helps
/// matching as little as one who claims nothing.
pub const MAX_SPECIALTIES: usize = 10;

pub fn is_known(tag: &str) -> bool {
    SPECIALTIES.contains(&tag)
}

/// Checks a list of tags: each known, none repeated, at most
/// [`MAX_SPECIALTIES`]. Tags are compared trimmed. Violations point at
/// `{field}[i]` for a bad tag and at `{field}` for too many; past the limit
/// the tags themselves are not checked, so a huge list yields one violation.
/// Whether the list may be empty is the caller's rule.
pub fn check(field: &str, tags: &[String]) -> Vec<FieldViolation> {
    if tags.len() > MAX_SPECIALTIES {
        return vec![FieldViolation::new(
            field,
            format!("专业特长最多选择{MAX_SPECIALTIES}项"),
        )];
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (i, tag) in tags.iter().enumerate() {
        let tag = tag.trim();
        if !is_known(tag) {
            out.push(FieldViolation::new(
                format!("{field}[{i}]"),
                format!("未知的专业特长：{tag}"),
            ));
        } else if !seen.insert(tag) {
            out.push(FieldViolation::new(
                format!("{field}[{i}]"),
                format!("专业特长重复：{tag}"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn curated_list_has_no_duplicates_or_padding() {
        let unique: HashSet<_> = SPECIALTIES.iter().collect();
        assert_eq!(unique.len(), SPECIALTIES.len());
        assert!(SPECIALTIES.iter().all(|t| !t.is_empty() && t.trim() == *t));
        assert!((20..=40).contains(&SPECIALTIES.len()));
    }

    #[test]
    fn known_tags_pass_and_are_compared_trimmed() {
        assert!(check("s", &tags(&["城市更新", " 加装电梯 ", "社区营造"])).is_empty());
        assert!(check("s", &[]).is_empty(), "emptiness is the caller's rule");
    }

    #[test]
    fn unknown_and_repeated_tags_point_at_their_index() {
        let v = check("application.specialties", &tags(&["城市更新", "风水", "城市更新 ", ""]));
        let fields: Vec<_> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "application.specialties[1]",
                "application.specialties[2]",
                "application.specialties[3]"
            ]
        );
        assert_eq!(v[0].description, "未知的专业特长：风水");
        assert_eq!(v[1].description, "专业特长重复：城市更新");
    }

    #[test]
    fn at_most_ten() {
        let ten: Vec<String> = SPECIALTIES[..10].iter().map(|s| s.to_string()).collect();
        assert!(check("s", &ten).is_empty());
        let eleven: Vec<String> = SPECIALTIES[..11].iter().map(|s| s.to_string()).collect();
        let v = check("s", &eleven);
        assert_eq!(v, [FieldViolation::new("s", "专业特长最多选择10项")]);
    }
}
