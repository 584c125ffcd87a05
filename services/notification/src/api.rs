//! gRPC mapping of NotificationService: each person reads and marks their own inbox.

use crate::store::inbox::{self, Notification};
use crate::store::webhooks::{self, Delivery, Webhook};
use kit::auth::Principal;
use kit::auth::Role;
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

fn delivery_to_proto(d: &Delivery) -> pb::Delivery {
    pb::Delivery {
        id: d.id.clone(),
        notification_id: d.notification_id.clone(),
        webhook_id: d.webhook_id.clone(),
        state: (match d.state.as_str() {
            "delivered" => pb::DeliveryState::Delivered,
            "dead" => pb::DeliveryState::Dead,
            _ => pb::DeliveryState::Pending,
        }) as i32,
        attempts: d.attempts,
        last_error: d.last_error.clone(),
        next_attempt_time: Some(kit::grpc::timestamp(d.next_attempt_at)),
        update_time: Some(kit::grpc::timestamp(d.updated_at)),
    }
}

/// City admins see and retry every delivery; others their own.
fn sees_all(caller: &Principal) -> bool {
    caller.acts_for(&[Role::CityAdmin], "50")
}

impl Inbox {
    async fn register_webhook(
        &self,
        caller: &Principal,
        req: pb::RegisterWebhookRequest,
    ) -> ServiceResult<pb::Webhook> {
        let url = req.url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 500 || url.contains(' ') {
            return Err(ServiceError::invalid(
                "url",
                "请填写以 http:// 或 https:// 开头、不超过 500 个字符的地址",
            ));
        }
        let secret: String = (0..32).map(|_| format!("{:02x}", rand::random::<u8>())).collect();
        let hook = Webhook {
            id: uuid::Uuid::now_v7().to_string(),
            owner_id: caller.account_id.clone(),
            url: url.to_string(),
            secret,
        };
        webhooks::add(&self.db, &hook, chrono::Utc::now()).await?;
        tracing::info!(webhook_id = %hook.id, "webhook registered");
        Ok(pb::Webhook {
            id: hook.id,
            url: hook.url,
            secret: hook.secret,
        })
    }

    async fn deliveries(
        &self,
        caller: &Principal,
        req: pb::ListDeliveriesRequest,
    ) -> ServiceResult<pb::ListDeliveriesResponse> {
        let size = kit::page::size(req.page_size)?;
        let offset = kit::page::offset(&req.page_token)?;
        let state = match pb::DeliveryState::try_from(req.state) {
            Ok(pb::DeliveryState::Unspecified) => None,
            Ok(pb::DeliveryState::Pending) => Some("pending"),
            Ok(pb::DeliveryState::Delivered) => Some("delivered"),
            Ok(pb::DeliveryState::Dead) => Some("dead"),
            Err(_) => return Err(ServiceError::invalid("state", "投递状态无效")),
        };
        let owner = (!sees_all(caller)).then_some(caller.account_id.as_str());
        let page = webhooks::list(&self.db, owner, state, offset, size + 1).await?;
        Ok(pb::ListDeliveriesResponse {
            next_page_token: kit::page::next(offset, size, page.len()),
            deliveries: page.iter().take(size as usize).map(delivery_to_proto).collect(),
        })
    }

    async fn retry(&self, caller: &Principal, req: pb::RetryDeliveryRequest) -> ServiceResult<pb::Delivery> {
        let id = req.id.trim();
        let d = webhooks::find_delivery(&self.db, id)
            .await?
            .filter(|d| sees_all(caller) || d.owner_id == caller.account_id)
            .ok_or_else(|| ServiceError::not_found("投递", id))?;
        if d.state == "delivered" {
            return Err(ServiceError::FailedPrecondition("该通知已送达，无需重试".into()));
        }
        let now = chrono::Utc::now();
        // A fresh start: the full number of attempts again, the first one now.
        webhooks::record_attempt(&self.db, &d.id, "pending", 0, &d.last_error, now, now).await?;
        tracing::info!(delivery_id = %d.id, actor = %caller.account_id, "webhook delivery retried");
        let d = webhooks::find_delivery(&self.db, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("投递", id))?;
        Ok(delivery_to_proto(&d))
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

    async fn register_webhook(
        &self,
        request: Request<pb::RegisterWebhookRequest>,
    ) -> Result<Response<pb::Webhook>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(
            self.0.register_webhook(&caller, request.into_inner()).await?,
        ))
    }

    async fn list_deliveries(
        &self,
        request: Request<pb::ListDeliveriesRequest>,
    ) -> Result<Response<pb::ListDeliveriesResponse>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(self.0.deliveries(&caller, request.into_inner()).await?))
    }

    async fn retry_delivery(
        &self,
        request: Request<pb::RetryDeliveryRequest>,
    ) -> Result<Response<pb::Delivery>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(self.0.retry(&caller, request.into_inner()).await?))
    }
}
