//! Token signing keys, stored sealed.

use super::entities::signing_key;
use chrono::{DateTime, Utc};
use kit::auth::{PublicJwk, SigningKey};
use kit::pii::PiiCipher;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};

pub async fn insert(db: &impl ConnectionTrait, cipher: &PiiCipher, key: &SigningKey) -> Result<(), DbErr> {
    signing_key::ActiveModel {
        kid: Set(key.kid.clone()),
        private_key_sealed: Set(cipher.seal(key.pkcs8_der())),
        public_x: Set(key.public_jwk().x),
        created_at: Set(Utc::now()),
        retired_at: Set(None),
    }
    .insert(db)
    .await
    .map(|_| ())
}

/// The key that signs new tokens: the newest one not retired.
pub async fn current(db: &impl ConnectionTrait, cipher: &PiiCipher) -> anyhow::Result<Option<SigningKey>> {
    let Some(row) = signing_key::Entity::find()
        .filter(signing_key::Column::RetiredAt.is_null())
        .order_by_desc(signing_key::Column::CreatedAt)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let der = cipher.open(&row.private_key_sealed)?;
    Ok(Some(SigningKey::from_pkcs8_der(row.kid, &der)?))
}

/// Retires every current key (a newer one takes over).
pub async fn retire_current(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    signing_key::Entity::update_many()
        .col_expr(
            signing_key::Column::RetiredAt,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .filter(signing_key::Column::RetiredAt.is_null())
        .exec(db)
        .await
        .map(|_| ())
}

/// Keys to publish: current ones and those retired after `retired_after`
/// (tokens they signed may still be alive).
pub async fn published(db: &impl ConnectionTrait, retired_after: DateTime<Utc>) -> Result<Vec<PublicJwk>, DbErr> {
    Ok(signing_key::Entity::find()
        .filter(
            signing_key::Column::RetiredAt
                .is_null()
                .or(signing_key::Column::RetiredAt.gt(retired_after)),
        )
        .order_by_desc(signing_key::Column::CreatedAt)
        .all(db)
        .await?
        .into_iter()
        .map(|k| PublicJwk {
            kid: k.kid,
            x: k.public_x,
        })
        .collect())
}
