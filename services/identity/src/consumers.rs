//! Identity applies qualification's decisions: a qualified professional gets
//! the `professional` role in each region they serve; a suspended, revoked or
//! expired qualification takes it away. Each event is applied once, in the
//! consumer's transaction (see `kit::events::Consumer`).

use crate::api::{Identity, grants_to_proto};
use crate::domain::audit::{AuditEvent, Outcome};
use crate::store;
use futures::future::BoxFuture;
use kit::auth::Role;
use kit::events::{Event, EventHandler, decode};
use kit::region::RegionCode;
use kit::{ServiceError, ServiceResult};
use sanshi_proto::identity::v1 as pb;
use sanshi_proto::qualification::v1 as qualification;
use sea_orm::DatabaseTransaction;
use std::sync::Arc;

pub const QUALIFICATION_CONSUMER: &str = "identity.qualification";

pub struct QualificationEvents {
    pub identity: Arc<Identity>,
}

impl EventHandler for QualificationEvents {
    fn apply<'a>(&'a self, txn: &'a DatabaseTransaction, event: &'a Event) -> BoxFuture<'a, Result<(), ServiceError>> {
        Box::pin(self.handle(txn, event))
    }
}

fn bad_payload(error: prost::DecodeError) -> ServiceError {
    ServiceError::internal(anyhow::anyhow!("undecodable qualification event: {error}"))
}

impl QualificationEvents {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> ServiceResult<()> {
        if let Some(qualified) = decode::<qualification::ProfessionalQualified>(event) {
            let qualified = qualified.map_err(bad_payload)?;
            let regions: Vec<RegionCode> = qualified
                .service_region_codes
                .iter()
                .filter_map(|c| RegionCode::parse(c).ok())
                .collect();
            return self
                .set_professional(txn, &qualified.account_id, &regions, "qualified")
                .await;
        }
        let revoked_account = if let Some(e) = decode::<qualification::QualificationSuspended>(event) {
            Some((e.map_err(bad_payload)?.account_id, "suspended"))
        } else if let Some(e) = decode::<qualification::QualificationRevoked>(event) {
            Some((e.map_err(bad_payload)?.account_id, "revoked"))
        } else if let Some(e) = decode::<qualification::QualificationExpired>(event) {
            Some((e.map_err(bad_payload)?.account_id, "expired"))
        } else {
            None // Renewals and events of later versions change no role.
        };
        if let Some((account_id, why)) = revoked_account {
            self.set_professional(txn, &account_id, &[], why).await?;
        }
        Ok(())
    }

    /// Makes the account's professional grants exactly `regions`.
    async fn set_professional(
        &self,
        txn: &DatabaseTransaction,
        account_id: &str,
        regions: &[RegionCode],
        why: &str,
    ) -> ServiceResult<()> {
        let Some(record) = store::accounts::find(txn, account_id).await? else {
            tracing::warn!(account_id, "qualification event for an unknown account");
            return Ok(());
        };
        // Touch the row: it orders this account's events with its other changes.
        store::accounts::update(txn, record.account.clone(), Default::default()).await?;
        let current: Vec<String> = record
            .roles
            .iter()
            .filter(|(r, _)| *r == Role::Professional)
            .map(|(_, c)| c.clone())
            .collect();
        let wanted: Vec<String> = regions.iter().map(|r| r.to_string()).collect();
        for region in current.iter().filter(|c| !wanted.contains(c)) {
            store::accounts::revoke(txn, account_id, Role::Professional, region).await?;
            let grant = grants_to_proto(&[(Role::Professional, region.clone())]).pop();
            crate::events::publish(
                txn,
                account_id,
                &pb::RoleRevoked {
                    account_id: account_id.into(),
                    grant,
                },
            )
            .await?;
        }
        for region in wanted.iter().filter(|c| !current.contains(c)) {
            store::accounts::grant(txn, account_id, Role::Professional, region).await?;
            let grant = grants_to_proto(&[(Role::Professional, region.clone())]).pop();
            crate::events::publish(
                txn,
                account_id,
                &pb::RoleGranted {
                    account_id: account_id.into(),
                    grant,
                },
            )
            .await?;
        }
        let detail = format!("professional@[{}] ({why})", wanted.join(","));
        self.identity
            .audit(
                txn,
                AuditEvent::new("qualification", "set_professional", account_id, Outcome::Success).with_detail(detail),
            )
            .await?;
        tracing::info!(account_id, why, regions = wanted.len(), "professional role updated");
        Ok(())
    }
}
