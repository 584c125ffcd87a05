//! The shared runtime of every Sanshi service.
//!
//! - [`config`]: defaults → TOML file → `SANSHI_*` environment, validated.
//! - [`db`]: sea-orm connections, migrations, per-test databases.
//! - [`error`]: the one error type and its gRPC / HTTP mapping.
//! - [`auth`]: JWT verification, JWKS cache, roles and region scope checks.
//! - [`region`]: region codes and [`region::Scope::covers`].
//! - [`pii`]: validated personal data and its encryption at rest.
//! - [`server`]: serving a service with health, reflection and tower layers.
//! - [`grpc`]: clients that propagate trace context and tokens.
//! - [`events`]: transactional outbox, event streams and consumers.
//! - [`idempotency`]: retried writes apply once.
//! - [`telemetry`]: logs, traces, W3C propagation.

pub mod auth;
pub mod config;
pub mod db;
#[cfg(feature = "dev-certs")]
pub mod dev_certs;
pub mod error;
pub mod events;
pub mod grpc;
pub mod idempotency;
pub mod memory;
pub mod metrics;
pub mod page;
pub mod pii;
pub mod region;
pub mod server;
pub mod telemetry;

pub use error::{ServiceError, ServiceResult};
