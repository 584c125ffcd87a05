//! gRPC mapping of IncentiveService: balances, entries and explanations.
//! A professional reads their own; city-wide admins and auditors anyone's
//! (district and street scope arrives with the region of each entry).

use crate::domain::points::Breakdown;
use crate::store::ledger::{self, Entry, Kind};
use chrono::Datelike;
use kit::auth::{Principal, Role};
use kit::region::RegionCode;
use kit::{ServiceError, ServiceResult};
use sanshi_proto::incentive::v1 as pb;
use sanshi_proto::incentive::v1::incentive_service_server::IncentiveService;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct Incentive {
    pub db: DatabaseConnection,
}

fn kind_to_proto(k: Kind) -> i32 {
    (match k {
        Kind::Award => pb::EntryKind::Award,
        Kind::Adjustment => pb::EntryKind::Adjustment,
        Kind::Compensation => pb::EntryKind::Compensation,
    }) as i32
}

fn entry_to_proto(e: &Entry) -> pb::PointsEntry {
    pb::PointsEntry {
        id: e.id.clone(),
        professional_account_id: e.professional_id.clone(),
        source: e.source.clone(),
        kind: kind_to_proto(e.kind),
        tenths: e.amount,
        year: e.year,
        rule_version: e.rule_version.clone(),
        compensates_entry_id: e.compensates.clone(),
        reason: e.reason.clone(),
        create_time: Some(kit::grpc::timestamp(e.created_at)),
    }
}

/// The account whose points the caller may read: "me"/"" is the caller.
fn readable(caller: &Principal, account_id: &str) -> ServiceResult<String> {
    let account = match account_id.trim() {
        "" | "me" => return Ok(caller.account_id.clone()),
        other => other.to_string(),
    };
    let city = RegionCode::parse("50").map_err(|_| ServiceError::internal(anyhow::anyhow!("city code")))?;
    if account == caller.account_id || caller.covers(&[Role::CityAdmin, Role::Auditor], &city) {
        Ok(account)
    } else {
        Err(ServiceError::PermissionDenied("只能查看本人的积分".into()))
    }
}

fn year_or_current(year: i32) -> ServiceResult<i32> {
    match year {
        0 => Ok(chrono::Utc::now().year()),
        y if (2000..=2100).contains(&y) => Ok(y),
        _ => Err(ServiceError::invalid("year", "年度无效")),
    }
}

impl Incentive {
    async fn balance(&self, caller: &Principal, req: pb::GetBalanceRequest) -> ServiceResult<pb::Balance> {
        let account = readable(caller, &req.account_id)?;
        let year = year_or_current(req.year)?;
        let entries = ledger::entries(&self.db, &account, Some(year)).await?;
        Ok(pb::Balance {
            account_id: account.clone(),
            year,
            tenths: ledger::balance(&self.db, &account, Some(year)).await?,
            entries: entries.len() as i32,
        })
    }

    async fn entries(&self, caller: &Principal, req: pb::ListEntriesRequest) -> ServiceResult<pb::ListEntriesResponse> {
        let account = readable(caller, &req.account_id)?;
        let year = year_or_current(req.year)?;
        let size = kit::page::size(req.page_size)?;
        let offset = kit::page::offset(&req.page_token)?;
        let mut all = ledger::entries(&self.db, &account, Some(year)).await?;
        all.reverse();
        let page: Vec<Entry> = all.into_iter().skip(offset as usize).take(size as usize + 1).collect();
        Ok(pb::ListEntriesResponse {
            next_page_token: kit::page::next(offset, size, page.len()),
            entries: page.iter().take(size as usize).map(entry_to_proto).collect(),
        })
    }

    async fn explain(&self, caller: &Principal, id: &str) -> ServiceResult<pb::Explanation> {
        let e = ledger::find(&self.db, id.trim())
            .await?
            .ok_or_else(|| ServiceError::not_found("积分记录", id.trim()))?;
        readable(caller, &e.professional_id)?;
        let text = match e.kind {
            Kind::Award => kit::db::from_json::<Breakdown>(&e.breakdown)?.explain(),
            _ => e.reason.clone(),
        };
        Ok(pb::Explanation {
            entry: Some(entry_to_proto(&e)),
            text,
        })
    }
}

pub struct Service(pub Arc<Incentive>);

#[tonic::async_trait]
impl IncentiveService for Service {
    async fn get_balance(&self, request: Request<pb::GetBalanceRequest>) -> Result<Response<pb::Balance>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(self.0.balance(&caller, request.into_inner()).await?))
    }

    async fn list_entries(
        &self,
        request: Request<pb::ListEntriesRequest>,
    ) -> Result<Response<pb::ListEntriesResponse>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(self.0.entries(&caller, request.into_inner()).await?))
    }

    async fn explain_points(
        &self,
        request: Request<pb::ExplainPointsRequest>,
    ) -> Result<Response<pb::Explanation>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(
            self.0.explain(&caller, &request.into_inner().entry_id).await?,
        ))
    }
}
