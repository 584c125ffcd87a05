//! AuditService: reading and verifying the audit log (auditors and city admins).

use super::{Identity, page_size, timestamp};
use crate::domain::audit::{ChainVerifier, Outcome, Verification};
use crate::store;
use kit::ServiceResult;
use kit::auth::{Role, principal};
use sanshi_proto::identity::v1 as pb;
use sanshi_proto::identity::v1::audit_service_server::AuditService;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct Audit {
    pub identity: Arc<Identity>,
}

/// The audit log spans the installation: auditors and city admins, who are
/// granted only at province or city level, read it; services do not.
const AUDIT_READERS: [Role; 2] = [Role::Auditor, Role::CityAdmin];

impl Identity {
    async fn list_audit(&self, req: pb::ListAuditEntriesRequest) -> ServiceResult<pb::ListAuditEntriesResponse> {
        let limit = page_size(req.page_size, 100, 1000)?;
        let before =
            kit::page::keyset_after(&req.page_token, kit::page::is_sequence)?.and_then(|seq| seq.parse::<i64>().ok());
        let entries = store::audit::page_desc(&self.db, before, limit).await?;
        let next_page_token = match entries.last() {
            Some(last) if entries.len() as u64 == limit && last.seq > 1 => {
                kit::page::keyset_token(&last.seq.to_string())
            }
            _ => String::new(),
        };
        let entries = entries
            .into_iter()
            .map(|e| pb::AuditEntry {
                sequence: e.seq,
                time: chrono::DateTime::parse_from_rfc3339(&e.at)
                    .ok()
                    .map(|t| timestamp(t.to_utc())),
                actor: e.event.actor,
                action: e.event.action,
                target: e.event.target,
                outcome: match e.event.outcome {
                    Outcome::Success => pb::AuditOutcome::Success,
                    Outcome::Failure => pb::AuditOutcome::Failure,
                    Outcome::Denied => pb::AuditOutcome::Denied,
                } as i32,
                detail: e.event.detail,
                hash: e.hash,
            })
            .collect();
        Ok(pb::ListAuditEntriesResponse {
            entries,
            next_page_token,
        })
    }

    /// Walks the chain page by page up to its head. Entries appended during
    /// the walk lie past the head read at the start and are left for the next check.
    pub async fn verify_audit_chain(&self) -> ServiceResult<Verification> {
        let head = store::audit::head(&self.db).await?;
        let last = head.as_ref().map(|h| h.seq).unwrap_or(0);
        let checkpoint = self.audit_checkpoint.lock().map(|c| c.clone()).unwrap_or_default();
        let mut verifier = ChainVerifier::with_checkpoint(&self.audit_key, checkpoint.as_ref().map_or(0, |c| c.0));
        let mut after = 0;
        while after < last && !verifier.is_broken() {
            let page = store::audit::page(&self.db, after, 1000).await?;
            let Some(tail) = page.last() else { break };
            after = tail.seq;
            page.iter().filter(|e| e.seq <= last).for_each(|e| verifier.feed(e));
        }
        let verification = verifier.finish(head.clone(), checkpoint);
        if verification.intact
            && let Some(head) = head
        {
            // A checkpoint outside the database: the process remembers it, and
            // the audit stream (kept by the log pipeline) records it.
            tracing::info!(target: "sanshi::audit", seq = head.seq, hash = %head.hash, "audit chain checkpoint");
            if let Ok(mut kept) = self.audit_checkpoint.lock() {
                *kept = Some((head.seq, head.hash));
            }
        }
        if !verification.intact {
            tracing::error!(
                first_broken = verification.first_broken,
                reason = verification.reason,
                "audit chain broken"
            );
        }
        Ok(verification)
    }
}

#[tonic::async_trait]
impl AuditService for Audit {
    async fn list_audit_entries(
        &self,
        request: Request<pb::ListAuditEntriesRequest>,
    ) -> Result<Response<pb::ListAuditEntriesResponse>, Status> {
        let caller = principal(&request)?;
        let allowed = caller.require_any(&AUDIT_READERS);
        let actor = caller.account_id.clone();
        self.identity
            .audit_failure(&actor, "list_audit_entries", "audit_log", allowed)
            .await?;
        Ok(Response::new(self.identity.list_audit(request.into_inner()).await?))
    }

    async fn verify_audit_chain(
        &self,
        request: Request<pb::VerifyAuditChainRequest>,
    ) -> Result<Response<pb::VerifyAuditChainResponse>, Status> {
        let caller = principal(&request)?;
        let allowed = caller.require_any(&AUDIT_READERS);
        let actor = caller.account_id.clone();
        self.identity
            .audit_failure(&actor, "verify_audit_chain", "audit_log", allowed)
            .await?;
        let v = self.identity.verify_audit_chain().await?;
        Ok(Response::new(pb::VerifyAuditChainResponse {
            intact: v.intact,
            entries_checked: v.checked,
            first_broken_sequence: v.first_broken,
            reason: v.reason,
        }))
    }
}
