//! Announcements (信息发布): who may write one, and whom it reaches.

use kit::auth::{Principal, Role};
use kit::error::Violations;
use kit::region::RegionCode;
use kit::{ServiceError, ServiceResult};

/// Admins publish for their own region (and everything inside it).
pub const AUTHORS: [Role; 3] = [Role::CityAdmin, Role::DistrictAdmin, Role::StreetAdmin];

/// Roles an announcement may be addressed to (the service role is no audience).
const AUDIENCE_ROLES: [Role; 8] = [
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::StreetAdmin,
    Role::CommunityWorker,
    Role::Reviewer,
    Role::Professional,
    Role::Resident,
    Role::Auditor,
];

/// A checked announcement draft.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub region: RegionCode,
    pub roles: Vec<Role>,
    pub title: String,
    pub body: String,
}

impl Draft {
    /// Checks every field; `author` must administer the region.
    pub fn parse(author: &Principal, region: &str, roles: &[String], title: &str, body: &str) -> ServiceResult<Draft> {
        let mut v = Violations::default();
        let region = v.check("region_code", RegionCode::parse(region.trim()));
        let mut parsed = Vec::new();
        for (i, name) in roles.iter().enumerate() {
            match Role::parse(name.trim()).filter(|r| AUDIENCE_ROLES.contains(r)) {
                Some(role) if !parsed.contains(&role) => parsed.push(role),
                Some(_) => {}
                None => v.add(format!("roles[{i}]"), "未知的角色"),
            }
        }
        let (title, body) = (title.trim(), body.trim());
        if title.is_empty() || title.chars().count() > 100 {
            v.add("title", "请填写标题（不超过 100 个字）");
        }
        if body.is_empty() || body.chars().count() > 5000 {
            v.add("body", "请填写正文（不超过 5000 个字）");
        }
        v.into_result()?;
        let region = region.ok_or_else(|| ServiceError::invalid("region_code", "区划代码无效"))?;
        author.require(&AUTHORS, &region)?;
        Ok(Draft {
            region,
            roles: parsed,
            title: title.to_string(),
            body: body.to_string(),
        })
    }
}

/// Whether an announcement for `region` and `roles` (empty: every role)
/// reaches `person`: one of their roles is among `roles` and its region lies
/// inside `region` (a professional's roles are their service regions).
pub fn reaches(region: &str, roles: &[Role], person: &Principal) -> bool {
    person.roles.iter().any(|(role, scope)| {
        *role != Role::Service && (roles.is_empty() || roles.contains(role)) && scope.prefix().starts_with(region)
    })
}

/// The region codes whose announcements may reach `person`: every level
/// above and including each of their roles' regions.
pub fn candidate_regions(person: &Principal) -> Vec<String> {
    let mut codes = Vec::new();
    for (role, scope) in &person.roles {
        if *role == Role::Service {
            continue;
        }
        let code = scope.prefix();
        for len in [2, 4, 6, 9, 12] {
            if let Some(prefix) = code.get(..len)
                && !codes.iter().any(|c| c == prefix)
            {
                codes.push(prefix.to_string());
            }
        }
    }
    codes
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit::region::Scope;

    fn person(roles: &[(Role, &str)]) -> Principal {
        Principal {
            account_id: "a".into(),
            username: "a".into(),
            kind: kit::auth::PrincipalKind::Person,
            roles: roles
                .iter()
                .map(|(r, c)| (*r, Scope::Region(RegionCode::parse(c).unwrap())))
                .collect(),
            token: String::new(),
        }
    }

    #[test]
    fn announcements_reach_the_roles_inside_their_region() {
        let yuzhong_professional = person(&[(Role::Professional, "500103003")]);
        let jiangbei_professional = person(&[(Role::Professional, "500105001")]);
        let yuzhong_worker = person(&[(Role::CommunityWorker, "500103003013")]);
        let city_admin = person(&[(Role::CityAdmin, "50")]);
        let professionals = [Role::Professional];
        assert!(reaches("500103", &professionals, &yuzhong_professional));
        assert!(
            !reaches("500103", &professionals, &jiangbei_professional),
            "another district"
        );
        assert!(!reaches("500103", &professionals, &yuzhong_worker), "another role");
        assert!(reaches("500103", &[], &yuzhong_worker), "every role");
        assert!(
            !reaches("500103", &[], &city_admin),
            "the city is not inside the district"
        );
        assert!(reaches("50", &[], &city_admin));
        assert_eq!(
            candidate_regions(&yuzhong_worker),
            ["50", "5001", "500103", "500103003", "500103003013"]
        );
    }

    #[test]
    fn authors_write_for_their_own_region() {
        let district = person(&[(Role::DistrictAdmin, "500103")]);
        let ok = Draft::parse(&district, "500103003", &["professional".into()], "通知", "正文").unwrap();
        assert_eq!(ok.roles, [Role::Professional]);
        let other = Draft::parse(&district, "500105", &[], "通知", "正文").unwrap_err();
        assert!(matches!(other, ServiceError::PermissionDenied(_)), "{other:?}");
        let worker = person(&[(Role::CommunityWorker, "500103003013")]);
        assert!(matches!(
            Draft::parse(&worker, "500103003013", &[], "通知", "正文"),
            Err(ServiceError::PermissionDenied(_))
        ));
        let Err(ServiceError::InvalidArgument(bad)) = Draft::parse(&district, "5x", &["service".into()], " ", "")
        else {
            panic!("bad draft accepted")
        };
        let fields: Vec<&str> = bad.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["region_code", "roles[0]", "title", "body"]);
    }
}
