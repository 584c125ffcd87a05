//! Attachment metadata (content lives in object storage).

use chrono::{DateTime, Utc};
use kit::ServiceResult;
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DbErr};

#[derive(Debug, Clone)]
pub struct Attachment {
    pub id: String,
    pub object_path: String,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub uploader_id: String,
    pub created_at: DateTime<Utc>,
}

pub async fn insert(db: &impl ConnectionTrait, a: &Attachment) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table("attachments")
        .columns([
            "id",
            "object_path",
            "file_name",
            "content_type",
            "size_bytes",
            "sha256",
            "uploader_id",
            "created_at",
        ])
        .values_panic([
            a.id.clone().into(),
            a.object_path.clone().into(),
            a.file_name.clone().into(),
            a.content_type.clone().into(),
            a.size_bytes.into(),
            a.sha256.clone().into(),
            a.uploader_id.clone().into(),
            a.created_at.into(),
        ])
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> ServiceResult<Option<Attachment>> {
    let select = Query::select()
        .column(Asterisk)
        .from("attachments")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    let Some(r) = db.query_one(&select).await? else {
        return Ok(None);
    };
    Ok(Some(Attachment {
        id: r.try_get("", "id")?,
        object_path: r.try_get("", "object_path")?,
        file_name: r.try_get("", "file_name")?,
        content_type: r.try_get("", "content_type")?,
        size_bytes: r.try_get("", "size_bytes")?,
        sha256: r.try_get("", "sha256")?,
        uploader_id: r.try_get("", "uploader_id")?,
        created_at: r.try_get("", "created_at")?,
    }))
}

/// Communities of the records that reference attachment `id` (its readers' scope).
pub async fn record_communities(db: &impl ConnectionTrait, id: &str) -> ServiceResult<Vec<(String, String)>> {
    // Attachment ids sit in the content JSON as quoted strings.
    let select = Query::select()
        .columns(["community_code", "professional_id"])
        .from("records")
        .and_where(kit::db::contains("content", &format!("\"{id}\"")))
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("", "community_code")?, r.try_get("", "professional_id")?)))
        .collect()
}
