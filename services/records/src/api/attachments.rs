//! AttachmentService: record files in object storage (a local folder by
//! default, any S3-compatible store in production), with their SHA-256.

use super::{REGION_VIEWERS, RecordsService, caller, prefixes, timestamp};
use crate::store::{self, attachments::Attachment};
use chrono::Utc;
use kit::auth::Principal;
use kit::{ServiceError, ServiceResult};
use object_store::ObjectStoreExt as _;
use object_store::path::Path;
use sanshi_proto::records::v1 as pb;
use sanshi_proto::records::v1::attachment_service_server::AttachmentService;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tonic::{Request, Response, Status};

fn to_proto(a: &Attachment) -> pb::Attachment {
    pb::Attachment {
        id: a.id.clone(),
        file_name: a.file_name.clone(),
        content_type: a.content_type.clone(),
        size_bytes: a.size_bytes,
        sha256: a.sha256.clone(),
        uploader_account_id: a.uploader_id.clone(),
        create_time: Some(timestamp(a.created_at)),
    }
}

impl RecordsService {
    async fn upload(&self, caller: &Principal, req: pb::UploadAttachmentRequest) -> ServiceResult<pb::Attachment> {
        let mut v = kit::error::Violations::new();
        let file_name = req.file_name.trim().to_string();
        if !(1..=128).contains(&file_name.chars().count()) || file_name.contains(['/', '\\']) {
            v.add("file_name", "文件名应为 1 到 128 个字符，且不含路径");
        }
        if !self.rules.content_types.contains(&req.content_type) {
            v.add(
                "content_type",
                format!("只接受以下类型：{}", self.rules.content_types.join("、")),
            );
        }
        if req.content.is_empty() {
            v.add("content", "文件为空");
        } else if req.content.len() > self.rules.max_attachment_bytes {
            v.add(
                "content",
                format!("文件不能超过 {} MB", self.rules.max_attachment_bytes / (1024 * 1024)),
            );
        }
        v.into_result()?;
        let id = uuid::Uuid::now_v7().to_string();
        let sha256 = kit::pii::hex(&Sha256::digest(&req.content));
        let object_path = format!("attachments/{}/{id}", &sha256[..2]);
        let size = req.content.len() as i64;
        self.objects
            .put(
                &Path::from(object_path.as_str()),
                bytes::Bytes::from(req.content).into(),
            )
            .await
            .map_err(|e| ServiceError::Unavailable(format!("附件存储暂不可用：{e}")))?;
        let a = Attachment {
            id,
            object_path,
            file_name,
            content_type: req.content_type,
            size_bytes: size,
            sha256,
            uploader_id: caller.account_id.clone(),
            created_at: Utc::now(),
        };
        store::attachments::insert(&self.db, &a).await?;
        tracing::info!(attachment_id = %a.id, size, "attachment stored");
        Ok(to_proto(&a))
    }

    async fn download(&self, caller: &Principal, id: &str) -> ServiceResult<pb::AttachmentContent> {
        let a = store::attachments::find(&self.db, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("附件", id))?;
        // The uploader, and whoever sees a record that uses it.
        let viewers = prefixes(caller, &REGION_VIEWERS);
        let allowed = a.uploader_id == caller.account_id
            || store::attachments::record_communities(&self.db, &a.id)
                .await?
                .iter()
                .any(|(community, professional)| {
                    professional == &caller.account_id || viewers.iter().any(|p| community.starts_with(p.as_str()))
                });
        if !allowed {
            return Err(ServiceError::permission_denied());
        }
        let content = self
            .objects
            .get(&Path::from(a.object_path.as_str()))
            .await
            .map_err(|e| ServiceError::Unavailable(format!("附件存储暂不可用：{e}")))?
            .bytes()
            .await
            .map_err(|e| ServiceError::Unavailable(format!("附件读取失败：{e}")))?;
        Ok(pb::AttachmentContent {
            attachment: Some(to_proto(&a)),
            content: content.to_vec(),
        })
    }
}

pub struct Attachments(pub Arc<RecordsService>);

#[tonic::async_trait]
impl AttachmentService for Attachments {
    async fn upload_attachment(
        &self,
        request: Request<pb::UploadAttachmentRequest>,
    ) -> Result<Response<pb::Attachment>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(self.0.upload(&caller, request.into_inner()).await?))
    }

    async fn get_attachment(
        &self,
        request: Request<pb::GetAttachmentRequest>,
    ) -> Result<Response<pb::AttachmentContent>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(self.0.download(&caller, &request.into_inner().id).await?))
    }
}
