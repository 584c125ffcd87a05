use super::entities::{account, role_grant};
use super::unique_violation;
use chrono::{DateTime, Utc};
use kit::auth::Role;
use kit::{ServiceError, ServiceResult};
use sea_orm::sea_query::{Asterisk, Condition, Expr, ExprTrait, Order, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

/// An account with its role grants.
#[derive(Debug, Clone)]
pub struct AccountRecord {
    pub account: account::Model,
    pub roles: Vec<(Role, String)>,
}

impl AccountRecord {
    /// The grants with parsed region codes (stored codes were validated on write).
    pub fn grants(&self) -> ServiceResult<Vec<(Role, kit::region::RegionCode)>> {
        self.roles
            .iter()
            .map(|(role, region)| {
                Ok((
                    *role,
                    kit::region::RegionCode::parse(region).map_err(ServiceError::internal)?,
                ))
            })
            .collect()
    }
}

pub struct NewAccount {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub phone_sealed: Option<Vec<u8>>,
    pub phone_hash: Option<String>,
    pub region_code: String,
    pub kind: &'static str,
    pub password_hash: String,
    pub roles: Vec<(Role, String)>,
}

pub async fn insert(db: &impl ConnectionTrait, new: NewAccount) -> ServiceResult<AccountRecord> {
    if find_by_username(db, &new.username).await?.is_some() {
        return Err(ServiceError::AlreadyExists("用户名已存在".into()));
    }
    if let Some(hash) = &new.phone_hash
        && account::Entity::find()
            .filter(account::Column::PhoneHash.eq(hash.clone()))
            .one(db)
            .await?
            .is_some()
    {
        return Err(ServiceError::AlreadyExists("手机号已被其他账号使用".into()));
    }
    let now = Utc::now();
    let model = account::ActiveModel {
        id: Set(new.id.clone()),
        username: Set(new.username),
        display_name: Set(new.display_name),
        phone_sealed: Set(new.phone_sealed),
        phone_hash: Set(new.phone_hash),
        region_code: Set(new.region_code),
        status: Set("active".into()),
        kind: Set(new.kind.into()),
        password_hash: Set(new.password_hash),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(|e| unique_violation(e, "用户名或手机号已存在"))?;
    for (role, region) in &new.roles {
        grant(db, &new.id, *role, region).await?;
    }
    Ok(AccountRecord {
        account: model,
        roles: new.roles,
    })
}

/// Inserts new accounts with their grants, each created at the time given
/// with it, many rows per statement (bulk loads). Unlike [`insert`] it does
/// not look for taken usernames or numbers first: a duplicate fails the
/// statement on the table's unique keys.
pub async fn insert_many(db: &impl ConnectionTrait, accounts: &[(NewAccount, DateTime<Utc>)]) -> Result<(), DbErr> {
    let size = |(a, _): &(NewAccount, DateTime<Utc>)| {
        160 + a.username.len()
            + a.display_name.len()
            + a.password_hash.len()
            + 2 * a.phone_sealed.as_ref().map_or(0, Vec::len)
    };
    for chunk in kit::db::chunks_by_width(accounts, 11, size) {
        let mut insert = Query::insert();
        insert.into_table("accounts").columns([
            "id",
            "username",
            "display_name",
            "phone_sealed",
            "phone_hash",
            "region_code",
            "status",
            "kind",
            "password_hash",
            "created_at",
            "updated_at",
        ]);
        for (a, at) in chunk {
            insert.values_panic([
                a.id.clone().into(),
                a.username.clone().into(),
                a.display_name.clone().into(),
                a.phone_sealed.clone().into(),
                a.phone_hash.clone().into(),
                a.region_code.clone().into(),
                "active".into(),
                a.kind.into(),
                a.password_hash.clone().into(),
                (*at).into(),
                (*at).into(),
            ]);
        }
        db.execute(&insert).await?;
    }
    let grants: Vec<(&str, Role, &str, DateTime<Utc>)> = accounts
        .iter()
        .flat_map(|(a, at)| {
            a.roles
                .iter()
                .map(move |(role, region)| (a.id.as_str(), *role, region.as_str(), *at))
        })
        .collect();
    for chunk in kit::db::chunks_by_width(&grants, 4, |g| 80 + g.2.len()) {
        let mut insert = Query::insert();
        insert
            .into_table("role_grants")
            .columns(["account_id", "role", "region_code", "created_at"]);
        for (id, role, region, at) in chunk {
            insert.values_panic([(*id).into(), role.as_str().into(), (*region).into(), (*at).into()]);
        }
        db.execute(&insert).await?;
    }
    Ok(())
}

/// Whether an account has the number whose lookup hash (`lookup_hash("phone", …)`) is `phone_hash`.
pub async fn phone_registered(db: &impl ConnectionTrait, phone_hash: &str) -> Result<bool, DbErr> {
    Ok(account::Entity::find()
        .filter(account::Column::PhoneHash.eq(phone_hash))
        .one(db)
        .await?
        .is_some())
}

pub async fn find_by_username(db: &impl ConnectionTrait, username: &str) -> Result<Option<account::Model>, DbErr> {
    account::Entity::find()
        .filter(account::Column::Username.eq(username))
        .one(db)
        .await
}

/// An account and its grants, in one query (a read on every authenticated page).
pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<AccountRecord>, DbErr> {
    let select = Query::select()
        .column(("accounts", Asterisk))
        .expr_as(Expr::col(("role_grants", "role")), "grant_role")
        .expr_as(Expr::col(("role_grants", "region_code")), "grant_region")
        .from("accounts")
        .left_join(
            "role_grants",
            Expr::col(("role_grants", "account_id")).equals(("accounts", "id")),
        )
        .and_where(Expr::col(("accounts", "id")).eq(id))
        .order_by(("role_grants", "role"), Order::Asc)
        .order_by(("role_grants", "region_code"), Order::Asc)
        .to_owned();
    let rows = db.query_all(&select).await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let account = account::Model::from_query_result(first, "")?;
    let mut roles = Vec::new();
    for row in &rows {
        let role: Option<String> = row.try_get("", "grant_role")?;
        let region: Option<String> = row.try_get("", "grant_region")?;
        if let (Some(role), Some(region)) = (role.as_deref().and_then(Role::parse), region) {
            roles.push((role, region));
        }
    }
    Ok(Some(AccountRecord { account, roles }))
}

pub async fn roles_of(db: &impl ConnectionTrait, id: &str) -> Result<Vec<(Role, String)>, DbErr> {
    let grants = role_grant::Entity::find()
        .filter(role_grant::Column::AccountId.eq(id))
        .order_by_asc(role_grant::Column::Role)
        .order_by_asc(role_grant::Column::RegionCode)
        .all(db)
        .await?;
    Ok(grants
        .into_iter()
        .filter_map(|g| Some((Role::parse(&g.role)?, g.region_code)))
        .collect())
}

/// Accounts whose region starts with one of `prefixes`, by username after `after`.
pub async fn list(
    db: &impl ConnectionTrait,
    prefixes: &[String],
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<AccountRecord>, DbErr> {
    let mut in_scope = Condition::any();
    for prefix in prefixes {
        in_scope = in_scope.add(account::Column::RegionCode.starts_with(prefix));
    }
    let mut query = account::Entity::find().filter(in_scope);
    if let Some(after) = after {
        query = query.filter(account::Column::Username.gt(after));
    }
    let accounts = query
        .order_by_asc(account::Column::Username)
        .limit(limit)
        .all(db)
        .await?;
    let ids: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
    let grants = role_grant::Entity::find()
        .filter(role_grant::Column::AccountId.is_in(ids))
        .all(db)
        .await?;
    Ok(accounts
        .into_iter()
        .map(|account| {
            let roles = grants
                .iter()
                .filter(|g| g.account_id == account.id)
                .filter_map(|g| Some((Role::parse(&g.role)?, g.region_code.clone())))
                .collect();
            AccountRecord { account, roles }
        })
        .collect())
}

#[derive(Default)]
pub struct AccountChanges {
    pub display_name: Option<String>,
    pub phone: Option<(Vec<u8>, String)>,
    pub status: Option<&'static str>,
    pub password_hash: Option<String>,
}

pub async fn update(
    db: &impl ConnectionTrait,
    current: account::Model,
    changes: AccountChanges,
) -> ServiceResult<account::Model> {
    let mut model = current.into_active_model();
    if let Some(name) = changes.display_name {
        model.display_name = Set(name);
    }
    if let Some((sealed, hash)) = changes.phone {
        model.phone_sealed = Set(Some(sealed));
        model.phone_hash = Set(Some(hash));
    }
    if let Some(status) = changes.status {
        model.status = Set(status.into());
    }
    if let Some(hash) = changes.password_hash {
        model.password_hash = Set(hash);
    }
    model.updated_at = Set(Utc::now());
    model
        .update(db)
        .await
        .map_err(|e| unique_violation(e, "手机号已被其他账号使用"))
}

/// Adds a grant; granting one the account already has changes nothing.
pub async fn grant(db: &impl ConnectionTrait, id: &str, role: Role, region: &str) -> Result<bool, DbErr> {
    let exists = role_grant::Entity::find_by_id((id.to_string(), role.as_str().to_string(), region.to_string()))
        .one(db)
        .await?
        .is_some();
    if exists {
        return Ok(false);
    }
    role_grant::ActiveModel {
        account_id: Set(id.into()),
        role: Set(role.as_str().into()),
        region_code: Set(region.into()),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await?;
    Ok(true)
}

pub async fn revoke(db: &impl ConnectionTrait, id: &str, role: Role, region: &str) -> Result<bool, DbErr> {
    let result = role_grant::Entity::delete_by_id((id.to_string(), role.as_str().to_string(), region.to_string()))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

pub async fn count(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    account::Entity::find().count(db).await
}
