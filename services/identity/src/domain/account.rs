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

pub fn validate_password(password: &str) -> Result<(), &'static str> {
    let len = password.chars().count();
    let has_letter = password.chars().any(|c| c.is_alphabetic());
    let has_digit = password.chars().any(|c| c.is_ascii_digit());
    if (8..=128).contains(&len) && has_letter && has_digit {
        Ok(())
    } else {
        Err("密码应为 8–128 位，且同时包含字母和数字")
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
        Role::Auditor => &[Province, City, District, Street],
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

/// May `actor` grant (or revoke) `role` at `region`? Only admins whose scope
/// covers the region and who rank above the role. Professionals are
/// qualified by the qualification service, services by configuration.
pub fn check_grant(actor: &Principal, role: Role, region: &RegionCode) -> ServiceResult<()> {
    if matches!(role, Role::Service) || (matches!(role, Role::Professional) && !actor.is_service()) {
        return Err(ServiceError::PermissionDenied(format!(
            "角色 {} 不能由管理员授予",
            role.as_str()
        )));
    }
    match actor.rank_covering(region) {
        Some(rank) if rank > role.rank() => Ok(()),
        _ => Err(ServiceError::PermissionDenied(format!(
            "无权在区划 {region} 授予角色 {}",
            role.as_str()
        ))),
    }
}

/// May `actor` change an account (status, profile, roles) whose region is
/// `account_region` and who holds `account_roles`? The actor must cover the
/// account and outrank every role it holds.
pub fn check_manage(actor: &Principal, account_region: &RegionCode, account_roles: &[Role]) -> ServiceResult<()> {
    let target_rank = account_roles.iter().map(|r| r.rank()).max().unwrap_or(0);
    match actor.rank_covering(account_region) {
        Some(rank) if rank > target_rank => Ok(()),
        _ => Err(ServiceError::permission_denied()),
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
        assert!(validate_password("Sanshi2026").is_ok());
        for bad in ["short1", "onlyletters", "12345678", &"a1".repeat(65)] {
            assert!(validate_password(bad).is_err(), "{bad}");
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
        assert!(check_manage(&yuzhong, &code("500103001"), &[Role::StreetAdmin]).is_ok());
        assert!(check_manage(&yuzhong, &code("500103"), &[Role::DistrictAdmin]).is_err());
        assert!(check_manage(&yuzhong, &code("500104"), &[]).is_err());
        assert!(check_read(&yuzhong, "other", &code("500103002")).is_ok());
        assert!(check_read(&yuzhong, "other", &code("500104")).is_err());
        assert!(check_read(&yuzhong, "actor", &code("500104")).is_ok(), "own account");
    }
}
