//! Account fields and who may do what to whom.
//!
//! Admins act only inside their region scope and only on roles below their
//! own rank. Scope itself is decided by `kit`'s `Principal`/`Scope`; this
//! module adds identity's rules on top: which level of region each role
//! belongs to and which roles can be granted by a person at all.

use kit::auth::{Principal, Role};
use kit::region::{RegionCode, RegionLevel};
use kit::{ServiceError, ServiceResult};

pub fn validate_username(username: &str) -> Result<(), &'static str> {
    let ok_len = (3..=32).contains(&username.len());
    let mut chars = username.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = username
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'));
    if ok_len && starts_with_letter && rest_ok {
        Ok(())
    } else {
        Err("用户名应为 3–32 位小写字母、数字、下划线、点或连字符，并以字母开头")
    }
}

pub fn validate_display_name(name: &str) -> Result<(), &'static str> {
    let len = name.trim().chars().count();
    if (1..=50).contains(&len) {
        Ok(())
    } else {
        Err("姓名应为 1–50 个字符")
    }
}

/// The levels of region a role may be granted at.
pub fn allowed_levels(role: Role) -> &'static [RegionLevel] {
    use RegionLevel::*;
    match role {
        Role::CityAdmin => &[Province, City],
        Role::DistrictAdmin => &[District],
        Role::StreetAdmin => &[Street],
        Role::CommunityWorker | Role::Resident => &[Community],
        Role::Reviewer => &[Province, City, District],
        // The audit log spans the whole installation, so auditors sit at its top.
        Role::Auditor => &[Province, City],
        Role::Professional => &[Province, City, District, Street, Community],
        Role::Service => &[],
    }
}

/// Checks a role grant's shape, independent of who grants it.
pub fn validate_grant(role: Role, region: &RegionCode) -> Result<(), String> {
    if !allowed_levels(role).contains(&region.level()) {
        return Err(format!(
            "角色 {} 不能设在{}级区划",
            role.as_str(),
            level_name(region.level())
        ));
    }
    Ok(())
}

fn level_name(level: RegionLevel) -> &'static str {
    match level {
        RegionLevel::Province => "省",
        RegionLevel::City => "市",
        RegionLevel::District => "区县",
        RegionLevel::Street => "街道",
        RegionLevel::Community => "社区",
    }
}

/// May `actor` grant (or revoke) `role` at `region`? Admins whose scope
/// covers the region and who rank above the role. The professional role is
/// granted by the platform's services only (on qualification); the service
/// role by configuration only.
pub fn check_grant(actor: &Principal, role: Role, region: &RegionCode) -> ServiceResult<()> {
    match role {
        Role::Service => Err(ServiceError::PermissionDenied("服务角色只能通过配置设置".into())),
        Role::Professional if actor.is_service() => Ok(()),
        Role::Professional => Err(ServiceError::PermissionDenied(
            "专业人员角色由资格审核通过后自动授予".into(),
        )),
        _ => match actor.rank_covering(region) {
            Some(rank) if rank > role.rank() => Ok(()),
            _ => Err(ServiceError::PermissionDenied(format!(
                "无权在区划 {region} 授予角色 {}",
                role.as_str()
            ))),
        },
    }
}

/// May `actor` change an account (status, profile, roles) that belongs to
/// `account_region` and holds `account_roles`? The actor must cover the
/// account's region, and for every role the account holds, cover that role's
/// region with a higher rank: a district admin cannot disable someone who is
/// also an admin elsewhere or a city-wide reviewer.
pub fn check_manage(
    actor: &Principal,
    account_region: &RegionCode,
    account_roles: &[(Role, RegionCode)],
) -> ServiceResult<()> {
    let outranks = |region: &RegionCode, rank: u8| actor.rank_covering(region).is_some_and(|own| own > rank);
    let lowest = Role::Resident.rank() - 1;
    if outranks(account_region, lowest) && account_roles.iter().all(|(role, region)| outranks(region, role.rank())) {
        Ok(())
    } else {
        Err(ServiceError::permission_denied())
    }
}

/// May `actor` read the account? Its holder, and admins and auditors whose scope covers it.
pub fn check_read(actor: &Principal, account_id: &str, account_region: &RegionCode) -> ServiceResult<()> {
    if actor.account_id == account_id {
        return Ok(());
    }
    actor.require(
        &[Role::CityAdmin, Role::DistrictAdmin, Role::StreetAdmin, Role::Auditor],
        account_region,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit::auth::PrincipalKind;
    use kit::region::Scope;

    fn code(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap()
    }

    fn admin(role: Role, region: &str) -> Principal {
        Principal {
            account_id: "actor".into(),
            username: "actor".into(),
            kind: PrincipalKind::Person,
            roles: vec![(role, Scope::Region(code(region)))],
            token: String::new(),
        }
    }

    #[test]
    fn field_rules() {
        assert!(validate_username("yuzhong_admin").is_ok());
        for bad in ["ab", "1abc", "Admin", "a b c", "管理员"] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
        assert!(validate_display_name("王工").is_ok());
        assert!(validate_display_name("  ").is_err());
    }

    #[test]
    fn district_admin_grants_inside_own_district_only() {
        let yuzhong = admin(Role::DistrictAdmin, "500103");
        assert!(check_grant(&yuzhong, Role::StreetAdmin, &code("500103001")).is_ok());
        assert!(check_grant(&yuzhong, Role::CommunityWorker, &code("500103001001")).is_ok());
        assert!(
            check_grant(&yuzhong, Role::StreetAdmin, &code("500104001")).is_err(),
            "other district"
        );
        assert!(
            check_grant(&yuzhong, Role::DistrictAdmin, &code("500103")).is_err(),
            "same rank"
        );
        assert!(
            check_grant(&yuzhong, Role::Professional, &code("500103")).is_err(),
            "qualification grants it"
        );
        assert!(check_grant(&yuzhong, Role::Service, &code("500103")).is_err());
        assert!(
            check_grant(&yuzhong, Role::Auditor, &code("50")).is_err(),
            "auditors are city-wide"
        );
    }

    #[test]
    fn services_grant_professionals_and_nothing_else() {
        let service = Principal {
            account_id: "svc".into(),
            username: "qualification".into(),
            kind: PrincipalKind::Service,
            roles: vec![(Role::Service, Scope::All)],
            token: String::new(),
        };
        assert!(check_grant(&service, Role::Professional, &code("500103")).is_ok());
        assert!(check_grant(&service, Role::CityAdmin, &code("50")).is_err());
        assert!(check_grant(&service, Role::Reviewer, &code("500103")).is_err());
        assert!(check_manage(&service, &code("500103"), &[]).is_err());
    }

    #[test]
    fn street_admin_cannot_create_a_district_admin() {
        let street = admin(Role::StreetAdmin, "500103001");
        assert!(check_grant(&street, Role::DistrictAdmin, &code("500103")).is_err());
        assert!(check_grant(&street, Role::DistrictAdmin, &code("500103001")).is_err());
        assert!(check_grant(&street, Role::CommunityWorker, &code("500103001001")).is_ok());
    }

    #[test]
    fn roles_belong_to_region_levels() {
        assert!(validate_grant(Role::DistrictAdmin, &code("500103")).is_ok());
        assert!(validate_grant(Role::DistrictAdmin, &code("500103001")).is_err());
        assert!(validate_grant(Role::CityAdmin, &code("50")).is_ok());
        assert!(validate_grant(Role::CommunityWorker, &code("500103001")).is_err());
    }

    #[test]
    fn managing_needs_a_higher_rank_over_the_account() {
        let yuzhong = admin(Role::DistrictAdmin, "500103");
        assert!(check_manage(&yuzhong, &code("500103001"), &[(Role::StreetAdmin, code("500103001"))]).is_ok());
        assert!(check_manage(&yuzhong, &code("500103"), &[(Role::DistrictAdmin, code("500103"))]).is_err());
        assert!(check_manage(&yuzhong, &code("500104"), &[]).is_err());
        assert!(check_manage(&yuzhong, &code("500103"), &[]).is_ok());
        // At home in 500103 but an admin next door, or a reviewer city-wide.
        assert!(check_manage(&yuzhong, &code("500103"), &[(Role::StreetAdmin, code("500104001"))]).is_err());
        assert!(check_manage(&yuzhong, &code("500103"), &[(Role::Reviewer, code("50"))]).is_err());
        assert!(check_read(&yuzhong, "other", &code("500103002")).is_ok());
        assert!(check_read(&yuzhong, "other", &code("500104")).is_err());
        assert!(check_read(&yuzhong, "actor", &code("500104")).is_ok(), "own account");
    }
}
