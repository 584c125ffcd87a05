//! AccountService: admins manage accounts inside their region scope, with
//! roles below their own; everyone reads and edits their own profile.

use super::phone_codes::wrong_code;
use super::{Identity, decode_page_token, encode_page_token, page_size};
use crate::domain::account::{
    check_grant, check_manage, check_read, validate_display_name, validate_grant, validate_username,
};
use crate::domain::audit::{AuditEvent, Outcome};
use crate::domain::password::{Holder, NewPassword};
use crate::domain::phone_code;
use crate::passwords;
use crate::store;
use crate::store::accounts::{AccountChanges, AccountRecord, NewAccount};
use kit::auth::{Principal, Role, principal};
use kit::error::Violations;
use kit::pii::PhoneNumber;
use kit::region::RegionCode;
use kit::{ServiceError, ServiceResult};
use prost::Message;
use sanshi_proto::identity::v1 as pb;
use sanshi_proto::identity::v1::account_service_server::AccountService;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct Accounts {
    pub identity: Arc<Identity>,
}

const READERS: [Role; 4] = [Role::CityAdmin, Role::DistrictAdmin, Role::StreetAdmin, Role::Auditor];

fn parse_grant(field: &str, grant: Option<&pb::RoleGrant>, v: &mut Violations) -> Option<(Role, RegionCode)> {
    let Some(grant) = grant else {
        v.add(field, "缺少角色");
        return None;
    };
    let role = Role::from_proto(grant.role);
    if role.is_none() {
        v.add(format!("{field}.role"), "角色无效");
    }
    let region = v.check(&format!("{field}.region_code"), RegionCode::parse(&grant.region_code));
    let (role, region) = (role?, region?);
    if let Err(e) = validate_grant(role, &region) {
        v.add(format!("{field}.region_code"), e);
        return None;
    }
    Some((role, region))
}

impl Identity {
    fn require_region_exists(&self, field: &str, code: &RegionCode) -> ServiceResult<()> {
        let tree = self
            .regions
            .get()
            .ok_or_else(|| ServiceError::Unavailable("服务正在启动，请稍后重试".into()))?;
        if tree.contains(code.as_str()) {
            Ok(())
        } else {
            Err(ServiceError::invalid(field, format!("区划 {code} 不存在")))
        }
    }

    async fn load_account(&self, id: &str) -> ServiceResult<AccountRecord> {
        store::accounts::find(&self.db, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("账号", id))
    }

    pub async fn create_account(
        &self,
        caller: &Principal,
        req: pb::CreateAccountRequest,
    ) -> ServiceResult<pb::Account> {
        let mut v = Violations::new();
        let Some(account) = req.account else {
            return Err(ServiceError::invalid("account", "缺少账号信息"));
        };
        v.check("account.username", validate_username(&account.username));
        v.check("account.display_name", validate_display_name(&account.display_name));
        let phone = if account.phone.is_empty() {
            None
        } else {
            v.check("account.phone", PhoneNumber::parse(&account.phone))
        };
        let region = v.check("account.region_code", RegionCode::parse(&account.region_code));
        let holder = Holder {
            username: &account.username,
            phone: phone.as_ref(),
        };
        let password = v.check("initial_password", NewPassword::parse(&req.initial_password, holder));
        v.check("request_id", kit::idempotency::validate_key(&req.request_id));
        let roles: Vec<_> = account
            .roles
            .iter()
            .enumerate()
            .filter_map(|(i, g)| parse_grant(&format!("account.roles[{i}]"), Some(g), &mut v))
            .collect();
        v.into_result()?;
        let region = region.ok_or_else(|| ServiceError::invalid("account.region_code", "区划代码无效"))?;
        let password = password.ok_or_else(|| ServiceError::invalid("initial_password", "密码无效"))?;

        // Permission: the caller covers the account and outranks every role it gets.
        check_manage(caller, &region, &roles)?;
        for (role, role_region) in &roles {
            check_grant(caller, *role, role_region)?;
        }
        self.require_region_exists("account.region_code", &region)?;
        for (i, (_, role_region)) in roles.iter().enumerate() {
            self.require_region_exists(&format!("account.roles[{i}].region_code"), role_region)?;
        }

        let idempotency_scope = format!("CreateAccount:{}", caller.account_id);
        if !req.request_id.is_empty()
            && let Some(stored) = self
                .idempotency
                .lookup(&self.db, &idempotency_scope, &req.request_id)
                .await?
        {
            return pb::Account::decode(stored.as_slice()).map_err(ServiceError::internal);
        }

        let password_hash = passwords::hash(password.into_string()).await?;
        let id = uuid::Uuid::now_v7().to_string();
        let txn = kit::db::begin(&self.db).await?;
        let new = NewAccount {
            id: id.clone(),
            username: account.username.clone(),
            display_name: account.display_name.trim().to_string(),
            phone_sealed: phone.as_ref().map(|p| self.cipher.seal(p.as_str().as_bytes())),
            phone_hash: phone.as_ref().map(|p| self.cipher.lookup_hash("phone", p.as_str())),
            region_code: region.to_string(),
            kind: "person",
            password_hash,
            roles: roles.iter().map(|(r, c)| (*r, c.to_string())).collect(),
        };
        let record = store::accounts::insert(&txn, new).await?;
        crate::events::publish(&txn, &id, &super::account_created(&record)).await?;
        let grants = record
            .roles
            .iter()
            .map(|(r, c)| format!("{}@{c}", r.as_str()))
            .collect::<Vec<_>>()
            .join(",");
        self.audit(
            &txn,
            AuditEvent::new(&caller.account_id, "create_account", &id, Outcome::Success).with_detail(format!(
                "username={} region={region} roles=[{grants}]",
                record.account.username
            )),
        )
        .await?;
        let response = self.account_to_proto(&record, &caller.account_id);
        if !req.request_id.is_empty() {
            self.idempotency
                .remember(&txn, &idempotency_scope, &req.request_id, &response.encode_to_vec())
                .await?;
        }
        txn.commit().await?;
        self.events.notify();
        tracing::info!(account_id = id, actor = caller.account_id, "account created");
        Ok(response)
    }

    /// Self-registration, proven by the code texted to the phone. A wrong
    /// code and a phone that already has an account fail alike (INVALID_ARGUMENT
    /// on `phone_code`): registering tells nobody which numbers are registered.
    pub async fn register(&self, req: pb::RegisterAccountRequest) -> ServiceResult<pb::Account> {
        let mut v = Violations::new();
        v.check("username", validate_username(&req.username));
        v.check("display_name", validate_display_name(&req.display_name));
        let phone = v.check("phone", PhoneNumber::parse(&req.phone));
        let holder = Holder {
            username: &req.username,
            phone: phone.as_ref(),
        };
        let password = v.check("password", NewPassword::parse(&req.password, holder));
        let community = v.check("community_code", RegionCode::parse(&req.community_code));
        if let Some(code) = &community
            && code.level() != kit::region::RegionLevel::Community
        {
            v.add("community_code", "请选择所在社区（12 位社区代码）");
        }
        let code = v.check("phone_code", phone_code::parse_code(&req.phone_code));
        v.into_result()?;
        let (Some(phone), Some(community), Some(password), Some(code)) = (phone, community, password, code) else {
            return Err(ServiceError::invalid("phone", "手机号或社区代码无效"));
        };
        self.require_region_exists("community_code", &community)?;
        // The proof first: a wrong guess costs no password hashing.
        let proof = self
            .check_phone_code(phone_code::Purpose::Registration, &phone, &code)
            .await?;
        let password_hash = passwords::hash(password.into_string()).await?;
        let id = uuid::Uuid::now_v7().to_string();
        let phone_hash = self.cipher.lookup_hash("phone", phone.as_str());
        let txn = kit::db::begin(&self.db).await?;
        // Spent with the account's creation: if that fails (a taken
        // username), the code still serves the next try.
        self.spend_phone_code(&txn, &proof).await?;
        if store::accounts::phone_registered(&txn, &phone_hash).await? {
            // Only a number registered since its code was sent gets here (a
            // registered number is sent none): the same answer as a wrong code.
            return Err(wrong_code());
        }
        let new = NewAccount {
            id: id.clone(),
            username: req.username.clone(),
            display_name: req.display_name.trim().to_string(),
            phone_sealed: Some(self.cipher.seal(phone.as_str().as_bytes())),
            phone_hash: Some(phone_hash),
            region_code: community.to_string(),
            kind: "person",
            password_hash,
            roles: vec![(Role::Resident, community.to_string())],
        };
        let record = store::accounts::insert(&txn, new).await.map_err(|error| match error {
            // The username is no personal data; a number registered by a
            // concurrent registration is answered as a wrong code.
            ServiceError::AlreadyExists(message) if message.contains("手机号") => wrong_code(),
            other => other,
        })?;
        crate::events::publish(&txn, &id, &super::account_created(&record)).await?;
        self.audit(
            &txn,
            AuditEvent::new(&id, "register", &id, Outcome::Success).with_detail(format!("community={community}")),
        )
        .await?;
        txn.commit().await?;
        self.events.notify();
        tracing::info!(account_id = id, "account registered");
        Ok(self.account_to_proto(&record, &id))
    }

    pub async fn get_account(&self, caller: &Principal, id: &str) -> ServiceResult<pb::Account> {
        let id = if id == "me" || id.is_empty() {
            caller.account_id.as_str()
        } else {
            id
        };
        let record = self.load_account(id).await?;
        let region = RegionCode::parse(&record.account.region_code).map_err(ServiceError::internal)?;
        check_read(caller, id, &region)?;
        Ok(self.account_to_proto(&record, &caller.account_id))
    }

    async fn list_accounts(
        &self,
        caller: &Principal,
        req: pb::ListAccountsRequest,
    ) -> ServiceResult<pb::ListAccountsResponse> {
        let limit = page_size(req.page_size, 50, 500)?;
        // Usernames (people's and services' client ids) are short printable ASCII.
        let after = decode_page_token(&req.page_token, |name| {
            name.len() <= 64 && name.bytes().all(|b| b.is_ascii_graphic())
        })?;
        let scopes = caller.scopes(&READERS);
        if scopes.is_empty() {
            return Err(ServiceError::permission_denied());
        }
        let prefixes: Vec<String> = if req.region_code.is_empty() {
            scopes.iter().map(|s| s.prefix().to_string()).collect()
        } else {
            let region =
                RegionCode::parse(&req.region_code).map_err(|e| ServiceError::invalid("region_code", e.to_string()))?;
            caller.require(&READERS, &region)?;
            vec![region.to_string()]
        };
        let mut records = store::accounts::list(&self.db, &prefixes, after.as_deref(), limit + 1).await?;
        let next_page_token = if records.len() as u64 > limit {
            records.truncate(limit as usize);
            records
                .last()
                .map(|r| encode_page_token(&r.account.username))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(pb::ListAccountsResponse {
            accounts: records
                .iter()
                .map(|r| self.account_to_proto(r, &caller.account_id))
                .collect(),
            next_page_token,
        })
    }

    async fn update_account(&self, caller: &Principal, req: pb::UpdateAccountRequest) -> ServiceResult<pb::Account> {
        let account = req
            .account
            .ok_or_else(|| ServiceError::invalid("account", "缺少账号信息"))?;
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
        if paths.is_empty() {
            return Err(ServiceError::invalid("update_mask", "请指明要修改的字段"));
        }
        let mut v = Violations::new();
        let mut changes = AccountChanges::default();
        let mut admin_only = false;
        for path in &paths {
            match path.as_str() {
                "display_name" => {
                    changes.display_name = v
                        .check("account.display_name", validate_display_name(&account.display_name))
                        .map(|_| account.display_name.trim().to_string())
                }
                "phone" => {
                    changes.phone = v.check("account.phone", PhoneNumber::parse(&account.phone)).map(|p| {
                        (
                            self.cipher.seal(p.as_str().as_bytes()),
                            self.cipher.lookup_hash("phone", p.as_str()),
                        )
                    })
                }
                "status" => {
                    admin_only = true;
                    changes.status = match pb::AccountStatus::try_from(account.status) {
                        Ok(pb::AccountStatus::Active) => Some("active"),
                        Ok(pb::AccountStatus::Disabled) => Some("disabled"),
                        _ => {
                            v.add("account.status", "状态无效");
                            None
                        }
                    }
                }
                other => v.add("update_mask", format!("字段 {other} 不可修改")),
            }
        }
        v.into_result()?;
        let record = self.load_account(&account.id).await?;
        let region = RegionCode::parse(&record.account.region_code).map_err(ServiceError::internal)?;
        let own = caller.account_id == record.account.id;
        if admin_only || !own {
            check_manage(caller, &region, &record.grants()?)?;
        }
        let disabling = changes.status == Some("disabled");
        let txn = kit::db::begin(&self.db).await?;
        let updated = store::accounts::update(&txn, record.account.clone(), changes).await?;
        if disabling {
            store::tokens::revoke_account(&txn, &updated.id).await?;
        }
        let status = if updated.status == "active" {
            pb::AccountStatus::Active
        } else {
            pb::AccountStatus::Disabled
        };
        let event = pb::AccountUpdated {
            account_id: updated.id.clone(),
            display_name: updated.display_name.clone(),
            status: status as i32,
        };
        crate::events::publish(&txn, &updated.id, &event).await?;
        self.audit(
            &txn,
            AuditEvent::new(&caller.account_id, "update_account", &updated.id, Outcome::Success)
                .with_detail(paths.join(",")),
        )
        .await?;
        txn.commit().await?;
        self.events.notify();
        Ok(self.account_to_proto(
            &AccountRecord {
                account: updated,
                roles: record.roles,
            },
            &caller.account_id,
        ))
    }

    async fn change_role(
        &self,
        caller: &Principal,
        account_id: &str,
        grant: Option<pb::RoleGrant>,
        add: bool,
    ) -> ServiceResult<pb::Account> {
        let mut v = Violations::new();
        let parsed = parse_grant("grant", grant.as_ref(), &mut v);
        v.into_result()?;
        let (role, region) = parsed.ok_or_else(|| ServiceError::invalid("grant", "角色无效"))?;
        let record = self.load_account(account_id).await?;
        if record.account.kind != "person" {
            return Err(ServiceError::FailedPrecondition("服务账号的角色不能修改".into()));
        }
        let account_region = RegionCode::parse(&record.account.region_code).map_err(ServiceError::internal)?;
        check_manage(caller, &account_region, &record.grants()?)?;
        check_grant(caller, role, &region)?;
        self.require_region_exists("grant.region_code", &region)?;
        let action = if add { "grant_role" } else { "revoke_role" };
        let txn = kit::db::begin(&self.db).await?;
        // Touching the account row serialises changes to one account, which
        // keeps its events in order.
        store::accounts::update(&txn, record.account.clone(), AccountChanges::default()).await?;
        let changed = if add {
            store::accounts::grant(&txn, account_id, role, region.as_str()).await?
        } else {
            store::accounts::revoke(&txn, account_id, role, region.as_str()).await?
        };
        if changed && !add {
            // Tokens carry roles: those issued before lose them everywhere now;
            // the sessions stay, and their next refresh carries the roles left.
            store::tokens::revoke_access(&txn, &kit::auth::Revocations::key("sub", account_id)).await?;
        }
        if changed {
            let grant = pb::RoleGrant {
                role: role.to_proto(),
                region_code: region.to_string(),
            };
            if add {
                crate::events::publish(
                    &txn,
                    account_id,
                    &pb::RoleGranted {
                        account_id: account_id.into(),
                        grant: Some(grant),
                    },
                )
                .await?;
            } else {
                crate::events::publish(
                    &txn,
                    account_id,
                    &pb::RoleRevoked {
                        account_id: account_id.into(),
                        grant: Some(grant),
                    },
                )
                .await?;
            }
            self.audit(
                &txn,
                AuditEvent::new(&caller.account_id, action, account_id, Outcome::Success)
                    .with_detail(format!("{}@{region}", role.as_str())),
            )
            .await?;
        }
        txn.commit().await?;
        self.events.notify();
        let record = self.load_account(account_id).await?;
        Ok(self.account_to_proto(&record, &caller.account_id))
    }
}

impl Accounts {
    /// Runs `f` for the caller and audits a refusal.
    async fn run<T>(
        &self,
        caller: &Principal,
        action: &str,
        target: &str,
        f: impl Future<Output = ServiceResult<T>>,
    ) -> Result<Response<T>, Status> {
        let result = f.await;
        Ok(Response::new(
            self.identity
                .audit_failure(&caller.account_id, action, target, result)
                .await?,
        ))
    }
}

#[tonic::async_trait]
impl AccountService for Accounts {
    async fn register_account(
        &self,
        request: Request<pb::RegisterAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        Ok(Response::new(self.identity.register(request.into_inner()).await?))
    }

    async fn create_account(
        &self,
        request: Request<pb::CreateAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        let caller = principal(&request)?.clone();
        let target = request
            .get_ref()
            .account
            .as_ref()
            .map(|a| a.username.clone())
            .unwrap_or_default();
        self.run(
            &caller,
            "create_account",
            &target,
            self.identity.create_account(&caller, request.into_inner()),
        )
        .await
    }

    async fn get_account(&self, request: Request<pb::GetAccountRequest>) -> Result<Response<pb::Account>, Status> {
        let caller = principal(&request)?.clone();
        let id = request.into_inner().id;
        self.run(&caller, "get_account", &id, self.identity.get_account(&caller, &id))
            .await
    }

    async fn list_accounts(
        &self,
        request: Request<pb::ListAccountsRequest>,
    ) -> Result<Response<pb::ListAccountsResponse>, Status> {
        let caller = principal(&request)?.clone();
        let req = request.into_inner();
        let target = req.region_code.clone();
        self.run(
            &caller,
            "list_accounts",
            &target,
            self.identity.list_accounts(&caller, req),
        )
        .await
    }

    async fn update_account(
        &self,
        request: Request<pb::UpdateAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        let caller = principal(&request)?.clone();
        let req = request.into_inner();
        let target = req.account.as_ref().map(|a| a.id.clone()).unwrap_or_default();
        self.run(
            &caller,
            "update_account",
            &target,
            self.identity.update_account(&caller, req),
        )
        .await
    }

    async fn grant_role(&self, request: Request<pb::GrantRoleRequest>) -> Result<Response<pb::Account>, Status> {
        let caller = principal(&request)?.clone();
        let req = request.into_inner();
        self.run(
            &caller,
            "grant_role",
            &req.account_id.clone(),
            self.identity.change_role(&caller, &req.account_id, req.grant, true),
        )
        .await
    }

    async fn revoke_role(&self, request: Request<pb::RevokeRoleRequest>) -> Result<Response<pb::Account>, Status> {
        let caller = principal(&request)?.clone();
        let req = request.into_inner();
        self.run(
            &caller,
            "revoke_role",
            &req.account_id.clone(),
            self.identity.change_role(&caller, &req.account_id, req.grant, false),
        )
        .await
    }
}
