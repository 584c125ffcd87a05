//! The professions a volunteer qualifies in.
//!
//! The programme began with the three registered professions (规划师, 建筑师,
//! 工程师) and keeps adding "三师+" disciplines, so the list is an enum that
//! grows: ids from [`Profession::as_str`] are stored and sent over the wire
//! and never change; new professions only add ids.

/// A profession. `#[non_exhaustive]` because the 三师+ list grows, and other
/// crates must not assume they have seen every profession.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Profession {
    Planner,
    Architect,
    Engineer,
    ConsultingManagement,
    EngineeringEconomics,
    BusinessOperations,
    HistoryCulture,
    ArtTherapy,
    SocialWork,
    RealEstateAppraisal,
}

impl Profession {
    /// Every profession, core ones first, in the order forms list them.
    pub const ALL: &[Profession] = &[
        Self::Planner,
        Self::Architect,
        Self::Engineer,
        Self::ConsultingManagement,
        Self::EngineeringEconomics,
        Self::BusinessOperations,
        Self::HistoryCulture,
        Self::ArtTherapy,
        Self::SocialWork,
        Self::RealEstateAppraisal,
    ];

    /// Stable snake_case id, as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planner => "planner",
            Self::Architect => "architect",
            Self::Engineer => "engineer",
            Self::ConsultingManagement => "consulting_management",
            Self::EngineeringEconomics => "engineering_economics",
            Self::BusinessOperations => "business_operations",
            Self::HistoryCulture => "history_culture",
            Self::ArtTherapy => "art_therapy",
            Self::SocialWork => "social_work",
            Self::RealEstateAppraisal => "real_estate_appraisal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.as_str() == s)
    }

    /// Chinese name shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Planner => "规划师",
            Self::Architect => "建筑师",
            Self::Engineer => "工程师",
            Self::ConsultingManagement => "咨询管理",
            Self::EngineeringEconomics => "工程经济与造价",
            Self::BusinessOperations => "商业运营",
            Self::HistoryCulture => "历史文化",
            Self::ArtTherapy => "艺术疗愈",
            Self::SocialWork => "社会工作",
            Self::RealEstateAppraisal => "房地产估价",
        }
    }

    /// One of the three registered professions the programme is named after
    /// (三师). They hold national registration certificates, so the pre-check
    /// requires one; the 三师+ disciplines often have none.
    pub fn is_core(self) -> bool {
        matches!(self, Self::Planner | Self::Architect | Self::Engineer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_round_trip_and_are_unique() {
        let mut ids = HashSet::new();
        let mut labels = HashSet::new();
        for &p in Profession::ALL {
            assert_eq!(Profession::parse(p.as_str()), Some(p));
            assert!(ids.insert(p.as_str()), "duplicate id {}", p.as_str());
            assert!(labels.insert(p.label()), "duplicate label {}", p.label());
            let snake = p.as_str().bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            assert!(snake, "{} is not snake_case", p.as_str());
        }
        assert_eq!(ids.len(), 10);
    }

    #[test]
    fn parse_is_exact() {
        assert_eq!(Profession::parse("planner"), Some(Profession::Planner));
        assert_eq!(Profession::parse("social_work"), Some(Profession::SocialWork));
        for bad in ["", "Planner", " planner", "规划师", "other"] {
            assert_eq!(Profession::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_the_three_registered_professions_are_core() {
        let core: Vec<_> = Profession::ALL
            .iter()
            .filter(|p| p.is_core())
            .map(|p| p.label())
            .collect();
        assert_eq!(core, ["规划师", "建筑师", "工程师"]);
    }
}
