//! Teams: Beijing's responsible-planner teams (one per street), Chengdu's three
//! tiers (mentor team → planners → residents' crowd-creation group) and
//! city-level expert teams.

use kit::region::{RegionCode, RegionLevel};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamKind {
    ResponsiblePlanner,
    Mentor,
    Planner,
    Crowd,
    CityExpert,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberRole {
    Lead,
    Member,
    Mentor,
}

impl MemberRole {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Lead => "lead",
            MemberRole::Member => "member",
            MemberRole::Mentor => "mentor",
        }
    }

    pub fn parse(s: &str) -> Option<MemberRole> {
        match s {
            "lead" => Some(MemberRole::Lead),
            "member" => Some(MemberRole::Member),
            "mentor" => Some(MemberRole::Mentor),
            _ => None,
        }
    }
}

impl TeamKind {
    pub const ALL: [TeamKind; 5] = [
        TeamKind::ResponsiblePlanner,
        TeamKind::Mentor,
        TeamKind::Planner,
        TeamKind::Crowd,
        TeamKind::CityExpert,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TeamKind::ResponsiblePlanner => "responsible_planner",
            TeamKind::Mentor => "mentor",
            TeamKind::Planner => "planner",
            TeamKind::Crowd => "crowd",
            TeamKind::CityExpert => "city_expert",
        }
    }

    pub fn parse(s: &str) -> Option<TeamKind> {
        TeamKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The region levels a team of this kind is bound to.
    pub fn levels(self) -> &'static [RegionLevel] {
        match self {
            TeamKind::ResponsiblePlanner => &[RegionLevel::Street],
            TeamKind::Mentor => &[RegionLevel::Province, RegionLevel::City, RegionLevel::District],
            TeamKind::Planner => &[RegionLevel::Street, RegionLevel::Community],
            TeamKind::Crowd => &[RegionLevel::Community],
            TeamKind::CityExpert => &[RegionLevel::Province, RegionLevel::City],
        }
    }

    /// The kind of the tier above, if the kind has one.
    pub fn parent_kind(self) -> Option<TeamKind> {
        match self {
            TeamKind::Planner => Some(TeamKind::Mentor),
            TeamKind::Crowd => Some(TeamKind::Planner),
            _ => None,
        }
    }

    /// Crowd-creation groups are residents; all other teams are professionals.
    pub fn members_are_residents(self) -> bool {
        self == TeamKind::Crowd
    }

    /// Beijing's rule: one responsible-planner team per street.
    pub fn one_per_region(self) -> bool {
        self == TeamKind::ResponsiblePlanner
    }

    pub fn allows_role(self, role: MemberRole) -> bool {
        match role {
            MemberRole::Mentor => self == TeamKind::Mentor,
            MemberRole::Lead | MemberRole::Member => true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TeamError {
    #[error("{kind}须绑定到{levels}")]
    WrongLevel { kind: &'static str, levels: &'static str },
    #[error("上级团队应为{0}")]
    WrongParent(&'static str),
    #[error("上级团队须覆盖本团队所在区域")]
    ParentOutsideRegion,
    #[error("该成员角色不适用于此类团队")]
    RoleNotAllowed,
    #[error("团队已有负责人")]
    LeadTaken,
}

pub fn kind_name(kind: TeamKind) -> &'static str {
    match kind {
        TeamKind::ResponsiblePlanner => "责任规划师团队",
        TeamKind::Mentor => "导师团",
        TeamKind::Planner => "社区规划师团队",
        TeamKind::Crowd => "居民众创组",
        TeamKind::CityExpert => "市级专家团队",
    }
}

fn level_names(kind: TeamKind) -> &'static str {
    match kind {
        TeamKind::ResponsiblePlanner => "街道",
        TeamKind::Mentor => "市或区县",
        TeamKind::Planner => "街道或社区",
        TeamKind::Crowd => "社区",
        TeamKind::CityExpert => "市",
    }
}

/// Checks where a new team sits; `parent` is the kind and region of its parent team.
pub fn check_new_team(
    kind: TeamKind,
    region: &RegionCode,
    parent: Option<(TeamKind, &RegionCode)>,
) -> Result<(), TeamError> {
    if !kind.levels().contains(&region.level()) {
        return Err(TeamError::WrongLevel {
            kind: kind_name(kind),
            levels: level_names(kind),
        });
    }
    if let Some((parent_kind, parent_region)) = parent {
        match kind.parent_kind() {
            Some(expected) if expected == parent_kind => {}
            Some(expected) => return Err(TeamError::WrongParent(kind_name(expected))),
            None => return Err(TeamError::WrongParent("无")),
        }
        if !parent_region.contains(region) {
            return Err(TeamError::ParentOutsideRegion);
        }
    }
    Ok(())
}

/// Checks a new member's role against the team and its current leads.
pub fn check_member(kind: TeamKind, role: MemberRole, leads: usize) -> Result<(), TeamError> {
    if !kind.allows_role(role) {
        return Err(TeamError::RoleNotAllowed);
    }
    if role == MemberRole::Lead && leads > 0 {
        return Err(TeamError::LeadTaken);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(code: &str) -> RegionCode {
        RegionCode::parse(code).unwrap()
    }

    #[test]
    fn teams_sit_at_their_level() {
        assert!(check_new_team(TeamKind::ResponsiblePlanner, &r("500103003"), None).is_ok());
        assert!(matches!(
            check_new_team(TeamKind::ResponsiblePlanner, &r("500103"), None),
            Err(TeamError::WrongLevel { .. })
        ));
        assert!(check_new_team(TeamKind::Crowd, &r("500103003013"), None).is_ok());
        assert!(check_new_team(TeamKind::CityExpert, &r("50"), None).is_ok());
        assert!(check_new_team(TeamKind::CityExpert, &r("500103"), None).is_err());
    }

    #[test]
    fn chengdu_tiers_nest() {
        let district = r("500103");
        let community = r("500103003013");
        assert!(check_new_team(TeamKind::Planner, &community, Some((TeamKind::Mentor, &district))).is_ok());
        assert_eq!(
            check_new_team(TeamKind::Crowd, &community, Some((TeamKind::Mentor, &district))),
            Err(TeamError::WrongParent("社区规划师团队"))
        );
        assert_eq!(
            check_new_team(TeamKind::Planner, &community, Some((TeamKind::Mentor, &r("500104")))),
            Err(TeamError::ParentOutsideRegion)
        );
        assert!(check_new_team(TeamKind::Mentor, &district, Some((TeamKind::CityExpert, &r("50")))).is_err());
    }

    #[test]
    fn one_lead_and_mentors_only_in_mentor_teams() {
        assert!(check_member(TeamKind::ResponsiblePlanner, MemberRole::Lead, 0).is_ok());
        assert_eq!(
            check_member(TeamKind::ResponsiblePlanner, MemberRole::Lead, 1),
            Err(TeamError::LeadTaken)
        );
        assert_eq!(
            check_member(TeamKind::Crowd, MemberRole::Mentor, 0),
            Err(TeamError::RoleNotAllowed)
        );
        assert!(check_member(TeamKind::Mentor, MemberRole::Mentor, 1).is_ok());
        assert!(TeamKind::Crowd.members_are_residents() && !TeamKind::Planner.members_are_residents());
        for k in TeamKind::ALL {
            assert_eq!(TeamKind::parse(k.as_str()), Some(k));
        }
    }
}
