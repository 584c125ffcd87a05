//! gRPC mapping of NotificationService: each person reads and marks their own inbox.

use crate::store::inbox::{self, Notification};
use kit::auth::Principal;
use kit::{ServiceError, ServiceResult};
use sanshi_proto::notification::v1 as pb;
use sanshi_proto::notification::v1::notification_service_server::NotificationService;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct Inbox {
    pub db: DatabaseConnection,
}

fn to_proto(n: &Notification) -> pb::Notification {
    pb::Notification {
        id: n.id.clone(),
        recipient_account_id: n.recipient_id.clone(),
        title: n.title.clone(),
        body: n.body.clone(),
        channel: pb::Channel::InApp as i32,
        create_time: Some(kit::grpc::timestamp(n.created_at)),
        read_time: n.read_at.map(kit::grpc::timestamp),
        category: n.category.clone(),
        source_event_id: n.source_event_id.clone(),
    }
}

impl Inbox {
    async fn unread(&self, caller: &Principal) -> ServiceResult<i32> {
        Ok(inbox::unread(&self.db, &caller.account_id).await? as i32)
    }

    async fn list(
        &self,
        caller: &Principal,
        req: pb::ListNotificationsRequest,
    ) -> ServiceResult<pb::ListNotificationsResponse> {
        let size = kit::page::size(req.page_size)?;
        let offset = kit::page::offset(&req.page_token)?;
        let page = inbox::list(&self.db, &caller.account_id, req.unread_only, offset, size + 1).await?;
        Ok(pb::ListNotificationsResponse {
            next_page_token: kit::page::next(offset, size, page.len()),
            notifications: page.iter().take(size as usize).map(to_proto).collect(),
            unread_count: self.unread(caller).await?,
        })
    }

    async fn mark_read(&self, caller: &Principal, req: pb::MarkReadRequest) -> ServiceResult<pb::UnreadCount> {
        if !req.all && req.ids.is_empty() {
            return Err(ServiceError::invalid("ids", "请指定要标记为已读的通知，或选择全部"));
        }
        if req.ids.len() > 500 {
            return Err(ServiceError::invalid("ids", "一次最多标记 500 条"));
        }
        let ids = (!req.all).then_some(req.ids.as_slice());
        inbox::mark_read(&self.db, &caller.account_id, ids, chrono::Utc::now()).await?;
        Ok(pb::UnreadCount {
            unread_count: self.unread(caller).await?,
        })
    }
}

pub struct Service(pub Arc<Inbox>);

#[tonic::async_trait]
impl NotificationService for Service {
    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Result<Response<pb::ListNotificationsResponse>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(self.0.list(&caller, request.into_inner()).await?))
    }

    async fn get_unread_count(
        &self,
        request: Request<pb::GetUnreadCountRequest>,
    ) -> Result<Response<pb::UnreadCount>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(pb::UnreadCount {
            unread_count: self.0.unread(&caller).await?,
        }))
    }

    async fn mark_read(&self, request: Request<pb::MarkReadRequest>) -> Result<Response<pb::UnreadCount>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(self.0.mark_read(&caller, request.into_inner()).await?))
    }
}
