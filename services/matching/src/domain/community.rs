//! Community profiles: what community workers and street admins maintain.

use kit::error::Violations;
use kit::pii::PhoneNumber;

/// The tags a community can carry; each maps to the specialties that fit it.
pub const TAGS: &[(&str, &[&str])] = &[
    ("加装电梯", &["加装电梯", "建筑结构安全"]),
    ("适老化", &["适老化改造", "无障碍设计"]),
    ("儿童友好", &["儿童友好空间", "公共空间设计"]),
    ("停车", &["停车设施", "城市设计"]),
    ("管网", &["给排水", "燃气", "电气"]),
    ("公共空间", &["公共空间设计", "景观设计"]),
    ("房屋安全", &["房屋安全鉴定", "建筑结构安全", "抗震加固"]),
    ("消防", &["消防安全"]),
    ("节能", &["建筑节能改造", "暖通空调"]),
    ("历史风貌", &["历史街区保护", "历史建筑修缮"]),
    ("海绵城市", &["海绵城市", "给排水"]),
    ("社区商业", &["社区商业"]),
    ("物业", &["物业管理"]),
    ("居民参与", &["公众参与", "社区营造"]),
];

pub const MAX_TAGS: usize = 10;
pub const DEFAULT_DEMAND: i32 = 3;

/// The specialties that fit a tag (empty for an unknown one).
pub fn specialties_for_tag(tag: &str) -> &'static [&'static str] {
    TAGS.iter().find(|(t, _)| *t == tag).map(|(_, s)| *s).unwrap_or(&[])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Renovation {
    #[default]
    Unknown,
    /// 体检
    Assessment,
    /// 改造中
    Renovating,
    /// 已改造
    Renovated,
}

impl Renovation {
    pub fn as_str(self) -> &'static str {
        match self {
            Renovation::Unknown => "",
            Renovation::Assessment => "assessment",
            Renovation::Renovating => "renovating",
            Renovation::Renovated => "renovated",
        }
    }

    pub fn parse(s: &str) -> Renovation {
        match s {
            "assessment" => Renovation::Assessment,
            "renovating" => Renovation::Renovating,
            "renovated" => Renovation::Renovated,
            _ => Renovation::Unknown,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Profile {
    pub households: i32,
    pub year_built: i32,
    pub over_60_percent: i32,
    pub renovation: Renovation,
    pub tags: Vec<String>,
    pub contact_name: String,
    pub contact_phone: String,
    pub demand: i32,
}

impl Profile {
    /// Validates and normalises a profile (trimmed strings, the phone in its
    /// canonical form). `this_year` bounds the year built.
    pub fn validated(mut self, this_year: i32) -> kit::ServiceResult<Profile> {
        let mut v = Violations::new();
        if !(0..=200_000).contains(&self.households) {
            v.add("profile.households", "户数应在 0 到 200000 之间");
        }
        if self.year_built != 0 && !(1900..=this_year).contains(&self.year_built) {
            v.add("profile.year_built", format!("建成年份应在 1900 到 {this_year} 之间"));
        }
        if !(0..=100).contains(&self.over_60_percent) {
            v.add("profile.over_60_percent", "60岁以上居民占比应在 0 到 100 之间");
        }
        if self.tags.len() > MAX_TAGS {
            v.add("profile.tags", format!("标签最多 {MAX_TAGS} 个"));
        }
        let mut seen = Vec::new();
        for (i, tag) in self.tags.iter_mut().enumerate() {
            *tag = tag.trim().to_string();
            if specialties_for_tag(tag).is_empty() {
                v.add(format!("profile.tags[{i}]"), format!("未知的标签：{tag}"));
            } else if seen.contains(tag) {
                v.add(format!("profile.tags[{i}]"), format!("标签重复：{tag}"));
            } else {
                seen.push(tag.clone());
            }
        }
        self.contact_name = self.contact_name.trim().to_string();
        if self.contact_name.chars().count() > 32 {
            v.add("profile.contact_name", "联系人姓名不超过 32 个字");
        }
        let phone = self.contact_phone.trim();
        if !phone.is_empty() {
            match PhoneNumber::parse(phone) {
                Ok(p) => self.contact_phone = p.as_str().to_string(),
                Err(_) => v.add("profile.contact_phone", "请输入 11 位手机号码"),
            }
        }
        if self.demand == 0 {
            self.demand = DEFAULT_DEMAND;
        }
        if !(1..=10).contains(&self.demand) {
            v.add("profile.demand", "需要的专业人员数应在 1 到 10 之间");
        }
        v.into_result()?;
        Ok(self)
    }

    /// The specialties the community's tags call for.
    pub fn wanted_specialties(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for tag in &self.tags {
            for s in specialties_for_tag(tag) {
                if !out.contains(s) {
                    out.push(s);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(error: kit::ServiceError) -> Vec<String> {
        match error {
            kit::ServiceError::InvalidArgument(list) => list.into_iter().map(|f| f.field).collect(),
            _ => vec![],
        }
    }

    #[test]
    fn a_valid_profile_is_normalised() {
        let p = Profile {
            households: 1200,
            year_built: 1995,
            over_60_percent: 31,
            tags: vec![" 加装电梯".into(), "适老化".into()],
            contact_phone: "138 1234 5678".into(),
            ..Default::default()
        }
        .validated(2026)
        .unwrap();
        assert_eq!(p.tags, ["加装电梯", "适老化"]);
        assert_eq!(p.contact_phone, "13812345678");
        assert_eq!(p.demand, DEFAULT_DEMAND);
        assert!(p.wanted_specialties().contains(&"适老化改造"));
    }

    #[test]
    fn every_bad_field_is_reported() {
        let err = Profile {
            households: -1,
            year_built: 2030,
            over_60_percent: 101,
            tags: vec!["游泳池".into(), "停车".into(), "停车".into()],
            contact_phone: "12345".into(),
            demand: 11,
            ..Default::default()
        }
        .validated(2026)
        .unwrap_err();
        assert_eq!(
            fields(err),
            [
                "profile.households",
                "profile.year_built",
                "profile.over_60_percent",
                "profile.tags[0]",
                "profile.tags[2]",
                "profile.contact_phone",
                "profile.demand"
            ]
        );
    }

    #[test]
    fn every_tag_maps_to_known_specialties() {
        for (tag, specialties) in TAGS {
            assert!(!specialties.is_empty(), "{tag}");
        }
    }
}
