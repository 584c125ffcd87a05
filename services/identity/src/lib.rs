//! The identity service: accounts, roles scoped to regions, the region tree,
//! tokens (Ed25519 JWT + JWKS) and the hash-chained audit log.
//!
//! [`serve`] runs it until `shutdown` resolves; [`start`] returns once it is
//! listening (tests use it with port 0); [`start_with`] as well, texting
//! one-time codes with the given [`sms::SmsSender`] (tests and `sanshi dev`
//! pass an [`sms::Outbox`] to read them).

pub mod api;
pub mod config;
pub mod consumers;
pub mod domain;
pub mod events;
pub mod migrations;
pub mod passwords;
pub mod sms;
pub mod store;
pub mod testing;

use crate::api::{Identity, TokenSettings};
use crate::domain::lockout::LockoutPolicy;
use crate::store::accounts::NewAccount;
use anyhow::Context as _;
pub use config::Config;
use kit::auth::{KeySource, Role, Verifier};
use kit::events::{EventLog, EventLogOptions};
use kit::server::{Running, Services};
use sanshi_proto::identity::v1::{
    account_service_server::AccountServiceServer, audit_service_server::AuditServiceServer,
    auth_service_server::AuthServiceServer, region_service_server::RegionServiceServer,
};
use std::sync::Arc;

pub const NAME: &str = "identity";

/// Applies identity's migrations (`sanshi migrate identity`).
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let db = kit::db::connect(&config.database).await?;
    kit::db::migrate::<migrations::Migrator>(&db).await
}

pub async fn serve(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    start(config, shutdown).await?.wait().await
}

/// Starts serving: health reports NOT_SERVING (and other RPCs UNAVAILABLE)
/// until migrations, the signing key and bootstrap accounts are in place.
/// One-time codes go through the configured `sms.provider`.
pub async fn start(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<Running> {
    let sms = sms::from_config(&config.sms);
    start_with(config, sms, shutdown).await
}

/// As [`start`], with one-time codes texted by `sms` (none: codes cannot be
/// requested) instead of the configured provider.
pub async fn start_with(
    config: Config,
    sms: Option<Arc<dyn sms::SmsSender>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    match (&sms, config.sms.provider.as_str()) {
        (None, _) => tracing::info!("no sms provider: phone codes cannot be requested, so nobody can register"),
        (Some(_), "log") => {
            tracing::warn!("sms provider \"log\": codes are written to the log, not sent (development only)")
        }
        _ => {}
    }
    kit::memory::return_large_blocks();
    passwords::bound_memory(config.passwords.hashing_memory_mib);
    let db = kit::db::connect(&config.database)
        .await
        .context("connect identity database")?;
    let cipher = config.pii.cipher()?;
    // The sequencer starts once migrations have created the outbox.
    let events = EventLog::new(db.clone(), events::PRODUCER, EventLogOptions::default());
    let regions = Arc::new(std::sync::OnceLock::new());
    let audit_key = cipher.derive_key("audit-chain");
    let phone_codes = api::phone_codes::PhoneCodes {
        policy: config.phone_codes.policy(),
        key: cipher.derive_key("phone-codes"),
        sms,
    };
    let identity = Arc::new(Identity {
        audit_key,
        audit_checkpoint: std::sync::Mutex::new(None),
        db: db.clone(),
        idempotency: kit::idempotency::Idempotency::new(cipher.clone(), config.database.idempotency_ttl()),
        cipher,
        tokens: TokenSettings {
            issuer: config.tokens.issuer.clone(),
            audience: config.tokens.audience.clone(),
            access_ttl: chrono::Duration::seconds(config.tokens.access_ttl_secs),
            refresh_ttl: chrono::Duration::seconds(config.tokens.refresh_ttl_secs),
            service_ttl: chrono::Duration::seconds(config.tokens.service_ttl_secs),
        },
        lockout: LockoutPolicy {
            max_failures: config.lockout.max_failures,
            window: chrono::Duration::seconds(config.lockout.window_secs),
            base_delay: chrono::Duration::seconds(config.lockout.base_delay_secs),
            max_delay: chrono::Duration::seconds(config.lockout.max_delay_secs),
        },
        attempts: Default::default(),
        events: events.clone(),
        regions: regions.clone(),
        phone_codes,
    });

    // Identity verifies its own tokens from its own key table.
    let key_source: KeySource = {
        let identity = identity.clone();
        Arc::new(move || {
            let identity = identity.clone();
            Box::pin(async move { identity.jwks().await.map_err(|e| anyhow::anyhow!("{e}")) })
        })
    };
    let verifier = Arc::new(Verifier::new(
        &config.tokens.issuer,
        &config.tokens.audience,
        key_source,
    ));
    // Identity follows its own revocations from its database (once migrated).
    let revocation_source: kit::auth::RevocationSource = {
        let identity = identity.clone();
        Arc::new(move |after| {
            let identity = identity.clone();
            Box::pin(async move {
                let listed = identity.revocations(after).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                let last = listed.iter().map(|r| r.sequence).max().unwrap_or(after);
                Ok((
                    listed.into_iter().map(|r| (r.key_hash, r.refused_until)).collect(),
                    last,
                ))
            })
        })
    };
    let own_verifier = verifier.clone();

    let max = config.server.max_message_bytes;
    let services = Services::new()
        .with(RegionServiceServer::new(api::regions::Regions { tree: regions.clone() }).max_decoding_message_size(max))
        .with(
            AccountServiceServer::new(api::accounts::Accounts {
                identity: identity.clone(),
            })
            .max_decoding_message_size(max),
        )
        .with(
            AuthServiceServer::new(api::auth::Auth {
                identity: identity.clone(),
            })
            .max_decoding_message_size(max),
        )
        .with(
            AuditServiceServer::new(api::audit::Audit {
                identity: identity.clone(),
            })
            .max_decoding_message_size(max),
        )
        .with(events.stream_service());
    // One shutdown signal, for the server and the consumers.
    let stop = kit::events::Stop::new(shutdown, events.clone());
    let running = kit::server::start(NAME, &config.server, verifier, services, stop.wait()).await?;

    kit::db::migrate::<migrations::Migrator>(&db)
        .await
        .context("migrate identity database")?;
    kit::metrics::watch_database(NAME, db.clone());
    own_verifier.follow_revocations(revocation_source, kit::auth::REVOCATION_POLL);
    identity.idempotency.spawn_sweeper(db.clone(), events.clone());
    events.start_sequencer();
    let tree = domain::region::RegionTree::new(store::regions::all(&db).await?);
    tracing::info!(regions = tree.len(), "region tree loaded");
    let _ = regions.set(tree);
    identity.ensure_signing_key().await?;
    bootstrap(&identity, &config.bootstrap).await?;
    if !config.consumers.qualification_url.is_empty() {
        let handler = Arc::new(consumers::QualificationEvents {
            identity: identity.clone(),
        });
        kit::events::Consumer::new(
            consumers::QUALIFICATION_CONSUMER,
            "qualification",
            db.clone(),
            &config.consumers.qualification_url,
            self_service_tokens(identity.clone()),
            handler,
        )?
        .spawn(stop.wait());
    }
    running.watch_database(db.clone(), &config.database);
    running.set_ready().await;
    Ok(running)
}

/// Identity's own service token, signed locally: it needs no credentials to
/// ask itself for one.
fn self_service_tokens(identity: Arc<Identity>) -> kit::grpc::TokenSource {
    Arc::new(move || {
        let identity = identity.clone();
        Box::pin(async move { identity.self_service_token().await.map_err(tonic::Status::from) })
    })
}

/// Creates the configured accounts that do not exist yet.
async fn bootstrap(identity: &Identity, bootstrap: &config::Bootstrap) -> anyhow::Result<()> {
    for account in &bootstrap.accounts {
        let role = Role::parse(&account.role).context("bootstrap role validated at load")?;
        ensure_account(
            identity,
            &account.username,
            &account.password,
            &account.display_name,
            &account.region_code,
            "person",
            vec![(role, account.region_code.clone())],
        )
        .await?;
    }
    for service in &bootstrap.services {
        // Service accounts belong to the root of the region tree they serve.
        ensure_account(
            identity,
            &service.client_id,
            &service.client_secret,
            &service.client_id,
            "50",
            "service",
            vec![],
        )
        .await?;
    }
    Ok(())
}

async fn ensure_account(
    identity: &Identity,
    username: &str,
    password: &str,
    display_name: &str,
    region_code: &str,
    kind: &'static str,
    roles: Vec<(Role, String)>,
) -> anyhow::Result<()> {
    if store::accounts::find_by_username(&identity.db, username)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let password_hash = passwords::hash(password.to_string())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let new = NewAccount {
        id: uuid::Uuid::now_v7().to_string(),
        username: username.into(),
        display_name: display_name.into(),
        phone_sealed: None,
        phone_hash: None,
        region_code: region_code.into(),
        kind,
        password_hash,
        roles,
    };
    let id = new.id.clone();
    let txn = kit::db::begin(&identity.db).await?;
    let record = store::accounts::insert(&txn, new)
        .await
        .map_err(|e| anyhow::anyhow!("bootstrap account {username}: {e}"))?;
    events::publish(&txn, &id, &api::account_created(&record)).await?;
    let audit = domain::audit::AuditEvent::new("", "bootstrap_account", &id, domain::audit::Outcome::Success);
    identity.audit(&txn, audit.with_detail(username)).await?;
    txn.commit().await?;
    identity.events.notify();
    tracing::info!(username, kind, "bootstrap account created");
    Ok(())
}
