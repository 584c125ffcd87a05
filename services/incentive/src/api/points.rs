//! Balances, entries, explanations, adjustments, reversals and leaderboards.

use super::{Incentive, REGION_READERS, entry_to_proto, profession_from_proto, profession_to_proto, year_or_current};
use crate::consumers::publish_awarded;
use crate::domain::format_points;
use crate::domain::points::{Adjustment, Breakdown, Overflow, checked_sum};
use crate::store::ledger::{self, Entry, Kind};
use crate::store::{audit, awards, professionals, years};
use chrono::Utc;
use kit::auth::{Principal, Role};
use kit::error::Violations;
use kit::region as regions;
use kit::{ServiceError, ServiceResult};
use sanshi_proto::incentive::v1 as pb;
use sea_orm::TransactionTrait;

fn reason_of(v: &mut Violations, reason: &str) -> String {
    let reason = reason.trim().to_string();
    let chars = reason.chars().count();
    if !(2..=500).contains(&chars) {
        v.add("reason", "请填写 2 到 500 个字的理由");
    }
    reason
}

impl Incentive {
    pub(super) async fn balance(&self, caller: &Principal, req: pb::GetBalanceRequest) -> ServiceResult<pb::Balance> {
        let account = self.readable(caller, &req.account_id).await?;
        let year = year_or_current("year", req.year)?;
        let entries = ledger::entries(&self.db, &account, Some(year)).await?;
        Ok(pb::Balance {
            account_id: account,
            year,
            tenths: checked_sum(entries.iter().map(|e| e.amount)).map_err(ServiceError::internal)?,
            entries: entries.len() as i32,
        })
    }

    pub(super) async fn entries(
        &self,
        caller: &Principal,
        req: pb::ListEntriesRequest,
    ) -> ServiceResult<pb::ListEntriesResponse> {
        let account = self.readable(caller, &req.account_id).await?;
        let year = year_or_current("year", req.year)?;
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

    pub(super) async fn explain(
        &self,
        caller: &Principal,
        req: pb::ExplainPointsRequest,
    ) -> ServiceResult<pb::Explanation> {
        let id = req.entry_id.trim();
        let e = ledger::find(&self.db, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("积分记录", id))?;
        self.readable(caller, &e.professional_id).await?;
        let text = match e.kind {
            Kind::Award => kit::db::from_json::<Breakdown>(&e.breakdown)?.explain(),
            _ => format!("{}（{}）", e.reason, format_points(e.amount)),
        };
        Ok(pb::Explanation {
            entry: Some(entry_to_proto(&e)),
            text,
        })
    }

    pub(super) async fn adjust(
        &self,
        caller: &Principal,
        req: pb::AdjustPointsRequest,
    ) -> ServiceResult<pb::PointsEntry> {
        let mut v = Violations::new();
        let account = req.account_id.trim().to_string();
        if account.is_empty() {
            v.add("account_id", "请指定专业人员");
        }
        let adjustment = Adjustment::new(req.tenths);
        if adjustment.is_none() {
            v.add("tenths", "调整分值不能为 0，且不超过 1000 分");
        }
        let reason = reason_of(&mut v, &req.reason);
        let region = v.take(kit::region::parse_field("region_code", &req.region_code));
        let year = v.take(year_or_current("year", req.year));
        if let Err(e) = kit::idempotency::validate_key(&req.request_id) {
            v.add("request_id", e);
        }
        v.into_result()?;
        let (Some(region), Some(year), Some(adjustment)) = (region, year, adjustment) else {
            return Err(ServiceError::invalid("region_code", "行政区划代码无效"));
        };
        if !caller.covers(&Role::ADMINS, &region) {
            return Err(ServiceError::PermissionDenied("只能在本辖区内调整积分".into()));
        }
        let professional = professionals::find(&self.db, &account)
            .await?
            .ok_or_else(|| ServiceError::not_found("专业人员", account.clone()))?;
        let serves = professional
            .service_regions
            .iter()
            .any(|r| r.starts_with(region.as_str()) || region.as_str().starts_with(r.as_str()));
        if !serves {
            return Err(ServiceError::FailedPrecondition("该专业人员不在此区域服务".into()));
        }
        let source = if req.request_id.is_empty() {
            format!("adjustment:{}", uuid::Uuid::now_v7())
        } else {
            format!("adjustment:{}:{}", caller.account_id, req.request_id)
        };
        if let Some(done) = ledger::by_source(&self.db, &source).await? {
            // A retry: the first attempt's entry, if it was the same adjustment.
            if done.professional_id != account || done.amount != adjustment.tenths() {
                return Err(ServiceError::FailedPrecondition(
                    "该 request_id 已用于另一笔调整".into(),
                ));
            }
            return Ok(entry_to_proto(&done));
        }
        let label = if adjustment.tenths() > 0 { "奖励" } else { "扣减" };
        let entry = Entry {
            id: uuid::Uuid::now_v7().to_string(),
            professional_id: account.clone(),
            source,
            kind: Kind::Adjustment,
            amount: adjustment.tenths(),
            year,
            rule_version: String::new(),
            breakdown: "{}".into(),
            compensates: String::new(),
            reason: format!("管理员{label}：{reason}"),
            actor_id: caller.account_id.clone(),
            created_at: Utc::now(),
            region_code: region.as_str().to_string(),
        };
        let txn = self.db.begin().await?;
        if !ledger::append(&txn, &entry).await? {
            txn.rollback().await?;
            let done = ledger::by_source(&self.db, &entry.source)
                .await?
                .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("adjustment vanished")))?;
            return Ok(entry_to_proto(&done));
        }
        audit::log(
            &txn,
            &caller.account_id,
            "adjust_points",
            &format!("professional:{account}"),
            &format!(
                "{} {}：{reason}（{}）",
                entry.id,
                format_points(entry.amount),
                region.as_str()
            ),
        )
        .await?;
        publish_awarded(&txn, &entry).await?;
        txn.commit().await?;
        self.events.notify();
        Ok(entry_to_proto(&entry))
    }

    pub(super) async fn reverse(
        &self,
        caller: &Principal,
        req: pb::ReverseEntryRequest,
    ) -> ServiceResult<pb::PointsEntry> {
        let mut v = Violations::new();
        let reason = reason_of(&mut v, &req.reason);
        if req.entry_id.trim().is_empty() {
            v.add("entry_id", "请指定积分记录");
        }
        v.into_result()?;
        let id = req.entry_id.trim();
        let original = ledger::find(&self.db, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("积分记录", id))?;
        let scope = if original.region_code.is_empty() {
            super::CITY
        } else {
            original.region_code.as_str()
        };
        if !caller.acts_for(&Role::ADMINS, scope) {
            return Err(ServiceError::PermissionDenied("只能冲正本辖区的积分".into()));
        }
        let source = format!("reversal:{}", original.id);
        if let Some(done) = ledger::by_source(&self.db, &source).await? {
            return Ok(entry_to_proto(&done));
        }
        if original.kind == Kind::Compensation {
            return Err(ServiceError::FailedPrecondition(
                "更正记录不能再冲正，请冲正原记录".into(),
            ));
        }
        let txn = self.db.begin().await?;
        let net = ledger::net_of(&txn, &original).await?;
        if net == 0 {
            return Err(ServiceError::FailedPrecondition("该记录已无可冲正的积分".into()));
        }
        let entry = Entry {
            id: uuid::Uuid::now_v7().to_string(),
            professional_id: original.professional_id.clone(),
            source,
            kind: Kind::Compensation,
            amount: net.checked_neg().ok_or_else(|| ServiceError::internal(Overflow))?,
            year: original.year,
            rule_version: original.rule_version.clone(),
            breakdown: "{}".into(),
            compensates: original.id.clone(),
            reason: format!("冲正：{reason}"),
            actor_id: caller.account_id.clone(),
            created_at: Utc::now(),
            region_code: original.region_code.clone(),
        };
        if !ledger::append(&txn, &entry).await? {
            return Err(ServiceError::FailedPrecondition("该记录已冲正".into()));
        }
        if original.kind == Kind::Award {
            awards::add_points(&txn, &original.id, -net).await?;
        }
        audit::log(
            &txn,
            &caller.account_id,
            "reverse_entry",
            &format!("entry:{}", original.id),
            &format!("{} {}：{reason}", entry.id, format_points(entry.amount)),
        )
        .await?;
        publish_awarded(&txn, &entry).await?;
        txn.commit().await?;
        self.events.notify();
        Ok(entry_to_proto(&entry))
    }

    pub(super) async fn leaderboard(
        &self,
        caller: &Principal,
        req: pb::GetLeaderboardRequest,
    ) -> ServiceResult<pb::Leaderboard> {
        let mut v = Violations::new();
        let region = v.take(kit::region::parse_field("region_code", &req.region_code));
        let profession = v.take(profession_from_proto(req.profession));
        let year = v.take(year_or_current("year", req.year));
        let size = v.take(kit::page::size(req.page_size));
        let offset = v.take(kit::page::offset(&req.page_token));
        v.into_result()?;
        let (Some(region), Some(profession), Some(year), Some(size), Some(offset)) =
            (region, profession, year, size, offset)
        else {
            return Err(ServiceError::invalid("region_code", "请求无效"));
        };
        if !caller.covers(&REGION_READERS, &region) {
            return Err(ServiceError::PermissionDenied("只能查看本辖区的排行榜".into()));
        }
        let stars_year = years::last_closed(&self.db).await?.unwrap_or(0);
        let rows = ledger::leaderboard(
            &self.db,
            region.as_str(),
            profession.as_deref(),
            year,
            stars_year,
            offset,
            size + 1,
        )
        .await?;
        Ok(pb::Leaderboard {
            region_code: region.as_str().to_string(),
            region_name: regions::name(region.as_str()).to_string(),
            year,
            next_page_token: kit::page::next(offset, size, rows.len()),
            rows: rows
                .iter()
                .take(size as usize)
                .enumerate()
                .map(|(i, r)| pb::LeaderboardRow {
                    rank: (offset as usize + i + 1) as i32,
                    account_id: r.professional_id.clone(),
                    real_name: r.real_name.clone(),
                    profession: profession_to_proto(&r.profession),
                    tenths: r.points,
                    services: r.services,
                    stars: r.stars,
                })
                .collect(),
        })
    }
}
