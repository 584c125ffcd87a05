//! gRPC mapping of records' services: who may do what, validation, and
//! conversion to and from the contracts.

pub mod attachments;
pub mod records;
pub mod surveys;

use kit::auth::{Principal, Role};
use kit::events::EventLog;
use kit::pii::PiiCipher;
use kit::region::{RegionCode, Scope};
use kit::{ServiceError, ServiceResult};
use object_store::ObjectStore;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

pub use kit::grpc::timestamp;

pub const PRODUCER: &str = "records";

/// The programme's rules, from configuration.
#[derive(Debug, Clone)]
pub struct Rules {
    pub limits: crate::domain::record::Limits,
    pub rating_window: chrono::Duration,
    pub max_ratings_per_code: i64,
    pub max_attachment_bytes: usize,
    pub content_types: Vec<String>,
}

pub struct RecordsService {
    pub db: DatabaseConnection,
    pub events: Arc<EventLog>,
    pub cipher: PiiCipher,
    pub objects: Arc<dyn ObjectStore>,
    pub rules: Rules,
}

/// Roles that act for a community: its workers and the admins above it.
pub const COMMUNITY_SIDE: [Role; 4] = [
    Role::CommunityWorker,
    Role::StreetAdmin,
    Role::DistrictAdmin,
    Role::CityAdmin,
];

/// Roles that see a region's records and survey results.
pub const REGION_VIEWERS: [Role; 6] = [
    Role::CommunityWorker,
    Role::StreetAdmin,
    Role::DistrictAdmin,
    Role::CityAdmin,
    Role::Reviewer,
    Role::Auditor,
];

pub fn region(field: &str, code: &str) -> ServiceResult<RegionCode> {
    RegionCode::parse(code).map_err(|_| ServiceError::invalid(field, "区划代码应为 2、4、6、9 或 12 位数字"))
}

pub fn region_filter(field: &str, code: &str) -> ServiceResult<String> {
    let code = code.trim();
    if code.is_empty() {
        Ok(String::new())
    } else {
        Ok(region(field, code)?.as_str().to_string())
    }
}

/// Whether the caller acts for community `code`.
pub fn community_side(caller: &Principal, code: &str) -> bool {
    RegionCode::parse(code).is_ok_and(|r| caller.covers(&COMMUNITY_SIDE, &r))
}

pub fn prefixes(caller: &Principal, roles: &[Role]) -> Vec<String> {
    caller
        .scopes(roles)
        .iter()
        .map(|s| match s {
            Scope::All => String::new(),
            Scope::Region(r) => r.as_str().to_string(),
        })
        .collect()
}

/// The verified caller, or UNAUTHENTICATED.
pub fn caller<T>(request: &tonic::Request<T>) -> ServiceResult<Principal> {
    kit::auth::principal(request).cloned()
}

pub fn time(field: &str, t: Option<&prost_types::Timestamp>) -> ServiceResult<chrono::DateTime<chrono::Utc>> {
    let t = t.ok_or_else(|| ServiceError::invalid(field, "请填写时间"))?;
    chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
        .ok_or_else(|| ServiceError::invalid(field, "时间无效"))
}
