//! gRPC mapping of records' services: who may do what, validation, and
//! conversion to and from the contracts.

pub mod attachments;
pub mod records;
pub mod surveys;

use kit::auth::{Principal, Role};
use kit::events::EventLog;
use kit::pii::PiiCipher;
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
    pub idempotency: kit::idempotency::Idempotency,
    pub objects: Arc<dyn ObjectStore>,
    pub rules: Rules,
}

/// Roles that act for a community: its workers and the admins above it.
pub const COMMUNITY_SIDE: [Role; 4] = Role::COMMUNITY_SIDE;

/// Roles that see a region's records and survey results.
pub const REGION_VIEWERS: [Role; 6] = [
    Role::CommunityWorker,
    Role::StreetAdmin,
    Role::DistrictAdmin,
    Role::CityAdmin,
    Role::Reviewer,
    Role::Auditor,
];

pub use kit::auth::caller;
pub use kit::region::{filter_field as region_filter, parse_field as region};

/// Whether the caller acts for community `code`.
pub fn community_side(caller: &Principal, code: &str) -> bool {
    caller.acts_for(&COMMUNITY_SIDE, code)
}

pub fn prefixes(caller: &Principal, roles: &[Role]) -> Vec<String> {
    caller.prefixes(roles)
}

pub fn time(field: &str, t: Option<&prost_types::Timestamp>) -> ServiceResult<chrono::DateTime<chrono::Utc>> {
    let t = t.ok_or_else(|| ServiceError::invalid(field, "请填写时间"))?;
    chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
        .ok_or_else(|| ServiceError::invalid(field, "时间无效"))
}
