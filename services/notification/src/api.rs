//! gRPC mapping of NotificationService: each person reads and marks their own
//! inbox (and their organisations'), sets their preferences, registers
//! webhooks; admins publish announcements in their regions.

use crate::domain::addresses::AddressPolicy;
use crate::domain::announcements::{AUTHORS, Draft as AnnouncementDraft};
use crate::domain::preferences::{CategoryChannels, Preferences, QuietHours};
use crate::domain::templates;
use crate::domain::webhooks::WebhookUrl;
use crate::store::announcements::{self, Announcement};
use crate::store::inbox::{self, Notification};
use crate::store::preferences;
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
    /// Where webhooks may be sent (`webhook.allowed_private_cidrs`).
    pub addresses: AddressPolicy,
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

/// Roles whose holders share their region's organisation inbox.
const OFFICE_ROLES: [Role; 4] = [
    Role::CommunityWorker,
    Role::StreetAdmin,
    Role::DistrictAdmin,
    Role::CityAdmin,
];

/// The inboxes `caller` reads: their own, and their offices' (the exact
/// regions they work for; an office's read marks are shared).
fn recipients(caller: &Principal) -> Vec<String> {
    let mut all = vec![caller.account_id.clone()];
    for (role, scope) in &caller.roles {
        let office = templates::organisation(scope.prefix());
        if OFFICE_ROLES.contains(role) && !all.contains(&office) {
            all.push(office);
        }
    }
    all
}

impl Inbox {
    /// The caller's unread count, after their inbox took in announcements.
    async fn unread(&self, caller: &Principal) -> ServiceResult<i32> {
        announcements::sync_inbox(&self.db, caller).await?;
        Ok(inbox::unread(&self.db, &recipients(caller)).await? as i32)
    }

    async fn list(
        &self,
        caller: &Principal,
        req: pb::ListNotificationsRequest,
    ) -> ServiceResult<pb::ListNotificationsResponse> {
        let size = kit::page::size(req.page_size)?;
        let offset = kit::page::offset(&req.page_token)?;
        let unread_count = self.unread(caller).await?;
        let page = inbox::list(&self.db, &recipients(caller), req.unread_only, offset, size + 1).await?;
        Ok(pb::ListNotificationsResponse {
            next_page_token: kit::page::next(offset, size, page.len()),
            notifications: page.iter().take(size as usize).map(to_proto).collect(),
            unread_count,
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
        announcements::sync_inbox(&self.db, caller).await?;
        inbox::mark_read(&self.db, &recipients(caller), ids, chrono::Utc::now()).await?;
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
        channel: (if d.channel == "email" {
            pb::Channel::Email
        } else {
            pb::Channel::Webhook
        }) as i32,
        email: d.email.clone(),
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
        // An address written in the URL is judged now; a host name at each delivery.
        WebhookUrl::register(&req.url, &self.addresses)?;
        let url = req.url.trim();
        let organisation = req.organisation_region_code.trim();
        if !organisation.is_empty() && !caller.acts_for(&OFFICE_ROLES, organisation) {
            return Err(ServiceError::permission_denied());
        }
        let secret: String = (0..32).map(|_| format!("{:02x}", rand::random::<u8>())).collect();
        let hook = Webhook {
            id: uuid::Uuid::now_v7().to_string(),
            owner_id: caller.account_id.clone(),
            url: url.to_string(),
            secret,
            region_code: organisation.to_string(),
        };
        webhooks::add(&self.db, &hook, chrono::Utc::now()).await?;
        tracing::info!(webhook_id = %hook.id, organisation = %hook.region_code, "webhook registered");
        Ok(pb::Webhook {
            id: hook.id,
            url: hook.url,
            secret: hook.secret,
            organisation_region_code: hook.region_code,
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
        // Delivered: nothing to retry; answered as it is (the retry of a retry
        // whose answer was lost finds it so), never sent again.
        if d.state == "delivered" {
            return Ok(delivery_to_proto(&d));
        }
        let now = chrono::Utc::now();
        // A fresh start: the full number of attempts again, the first one now.
        webhooks::record_attempt(&self.db, &d.id, "pending", 0, &d.last_error, now, now).await?;
        tracing::info!(delivery_id = %d.id, actor = %caller.account_id, "delivery retried");
        let d = webhooks::find_delivery(&self.db, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("投递", id))?;
        Ok(delivery_to_proto(&d))
    }
}

fn preferences_to_proto(p: &Preferences) -> pb::Preferences {
    pb::Preferences {
        email: p.email.clone(),
        categories: p
            .categories
            .iter()
            .map(|c| pb::CategoryChannels {
                category: c.category.clone(),
                webhook: c.webhook,
                email: c.email,
            })
            .collect(),
        daily_digest: p.daily_digest,
        digest_hour: p.digest_hour,
        quiet_hours: Some(pb::QuietHours {
            start_minute: p.quiet.start_minute,
            end_minute: p.quiet.end_minute,
        }),
    }
}

fn announcement_to_proto(a: &Announcement) -> pb::Announcement {
    pb::Announcement {
        id: a.id.clone(),
        region_code: a.region_code.clone(),
        roles: a.roles.clone(),
        title: a.title.clone(),
        body: a.body.clone(),
        state: (match a.state.as_str() {
            "published" => pb::AnnouncementState::Published,
            "withdrawn" => pb::AnnouncementState::Withdrawn,
            _ => pb::AnnouncementState::Draft,
        }) as i32,
        author_account_id: a.author_id.clone(),
        create_time: Some(kit::grpc::timestamp(a.created_at)),
        publish_time: a.published_at.map(kit::grpc::timestamp),
        withdraw_time: a.withdrawn_at.map(kit::grpc::timestamp),
        withdraw_reason: a.withdraw_reason.clone(),
    }
}

impl Inbox {
    async fn update_preferences(
        &self,
        caller: &Principal,
        req: pb::UpdatePreferencesRequest,
    ) -> ServiceResult<pb::Preferences> {
        let p = req
            .preferences
            .ok_or_else(|| ServiceError::invalid("preferences", "请填写通知偏好"))?;
        let quiet = p.quiet_hours.unwrap_or_default();
        let prefs = Preferences {
            email: p.email.trim().to_string(),
            categories: p
                .categories
                .into_iter()
                .map(|c| CategoryChannels {
                    category: c.category.trim().to_string(),
                    webhook: c.webhook,
                    email: c.email,
                })
                .collect(),
            daily_digest: p.daily_digest,
            digest_hour: p.digest_hour,
            quiet: QuietHours {
                start_minute: quiet.start_minute,
                end_minute: quiet.end_minute,
            },
        };
        prefs.validate()?;
        preferences::put(&self.db, &caller.account_id, &prefs, chrono::Utc::now()).await?;
        Ok(preferences_to_proto(&prefs))
    }

    async fn create_announcement(
        &self,
        caller: &Principal,
        req: pb::CreateAnnouncementRequest,
    ) -> ServiceResult<pb::Announcement> {
        let draft = AnnouncementDraft::parse(caller, &req.region_code, &req.roles, &req.title, &req.body)?;
        let a = announcements::create(&self.db, &caller.account_id, &draft, chrono::Utc::now()).await?;
        tracing::info!(announcement_id = %a.id, region = %a.region_code, "announcement drafted");
        Ok(announcement_to_proto(&a))
    }

    /// Publishes (draft → published) or withdraws (published → withdrawn)
    /// an announcement of a region the caller administers.
    async fn transition(
        &self,
        caller: &Principal,
        id: &str,
        from: &str,
        to: &str,
        reason: &str,
    ) -> ServiceResult<pb::Announcement> {
        let id = id.trim();
        let a = announcements::find(&self.db, id)
            .await?
            .filter(|a| caller.acts_for(&AUTHORS, &a.region_code))
            .ok_or_else(|| ServiceError::not_found("公告", id))?;
        if a.state == to {
            // A retried publish or withdrawal changes nothing.
            return Ok(announcement_to_proto(&a));
        }
        if !announcements::transition(&self.db, id, from, to, reason.trim(), chrono::Utc::now()).await? {
            let now = match a.state.as_str() {
                "draft" => "草稿",
                "published" => "已发布",
                _ => "已撤回",
            };
            return Err(ServiceError::FailedPrecondition(format!("该公告{now}，不能进行此操作")));
        }
        tracing::info!(announcement_id = %id, state = to, actor = %caller.account_id, "announcement moved");
        let a = announcements::find(&self.db, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("公告", id))?;
        Ok(announcement_to_proto(&a))
    }

    async fn list_announcements(
        &self,
        caller: &Principal,
        req: pb::ListAnnouncementsRequest,
    ) -> ServiceResult<pb::ListAnnouncementsResponse> {
        caller.require_any(&AUTHORS)?;
        let size = kit::page::size(req.page_size)?;
        let offset = kit::page::offset(&req.page_token)?;
        let state = match pb::AnnouncementState::try_from(req.state) {
            Ok(pb::AnnouncementState::Unspecified) => None,
            Ok(pb::AnnouncementState::Draft) => Some("draft"),
            Ok(pb::AnnouncementState::Published) => Some("published"),
            Ok(pb::AnnouncementState::Withdrawn) => Some("withdrawn"),
            Err(_) => return Err(ServiceError::invalid("state", "公告状态无效")),
        };
        let page = announcements::list(&self.db, &caller.prefixes(&AUTHORS), state, offset, size + 1).await?;
        Ok(pb::ListAnnouncementsResponse {
            next_page_token: kit::page::next(offset, size, page.len()),
            announcements: page.iter().take(size as usize).map(announcement_to_proto).collect(),
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

    async fn get_preferences(
        &self,
        request: Request<pb::GetPreferencesRequest>,
    ) -> Result<Response<pb::Preferences>, Status> {
        let caller = kit::auth::caller(&request)?;
        let prefs = preferences::get(&self.0.db, &caller.account_id)
            .await
            .map_err(Status::from)?;
        Ok(Response::new(preferences_to_proto(&prefs)))
    }

    async fn update_preferences(
        &self,
        request: Request<pb::UpdatePreferencesRequest>,
    ) -> Result<Response<pb::Preferences>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(
            self.0.update_preferences(&caller, request.into_inner()).await?,
        ))
    }

    async fn create_announcement(
        &self,
        request: Request<pb::CreateAnnouncementRequest>,
    ) -> Result<Response<pb::Announcement>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(
            self.0.create_announcement(&caller, request.into_inner()).await?,
        ))
    }

    async fn publish_announcement(
        &self,
        request: Request<pb::PublishAnnouncementRequest>,
    ) -> Result<Response<pb::Announcement>, Status> {
        let caller = kit::auth::caller(&request)?;
        let req = request.into_inner();
        Ok(Response::new(
            self.0.transition(&caller, &req.id, "draft", "published", "").await?,
        ))
    }

    async fn withdraw_announcement(
        &self,
        request: Request<pb::WithdrawAnnouncementRequest>,
    ) -> Result<Response<pb::Announcement>, Status> {
        let caller = kit::auth::caller(&request)?;
        let req = request.into_inner();
        if req.reason.trim().is_empty() {
            return Err(ServiceError::invalid("reason", "请填写撤回原因").into());
        }
        Ok(Response::new(
            self.0
                .transition(&caller, &req.id, "published", "withdrawn", &req.reason)
                .await?,
        ))
    }

    async fn list_announcements(
        &self,
        request: Request<pb::ListAnnouncementsRequest>,
    ) -> Result<Response<pb::ListAnnouncementsResponse>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(
            self.0.list_announcements(&caller, request.into_inner()).await?,
        ))
    }
}
