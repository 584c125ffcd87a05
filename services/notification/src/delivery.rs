//! Sends deliveries on the external channels: a signed JSON POST per
//! (notification, webhook) and an e-mail per (notification, address),
//! retried with exponential backoff and jitter until delivered or, after
//! `webhook.max_attempts`, dead-lettered for an admin to retry. Also bundles
//! the daily digests when they are due.
//!
//! Every replica runs a sender. A sender claims a delivery with a lease
//! before it sends, so two replicas never send the same one at once; a claim
//! whose sender died lapses and the delivery is sent again (receivers dedupe
//! on the notification id).
//!
//! A webhook goes only where `domain::addresses` permits: its host is
//! resolved at each attempt, every address is checked, and the request is
//! pinned to the checked addresses (a second lookup by the HTTP client could
//! answer differently: DNS rebinding). Redirects are not followed, and no
//! proxy is used. A refused address is dead at once: retrying will not help.

use crate::config::{EmailConfig, WebhookConfig};
use crate::consumers::targets;
use crate::domain::addresses::AddressPolicy;
use crate::domain::preferences::Channels;
use crate::domain::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use crate::domain::templates::{Draft, Priority};
use crate::domain::webhooks::{Host, WebhookUrl};
use crate::store::inbox::Notification;
use crate::store::{inbox, preferences, webhooks, webhooks::Delivery};
use chrono::{DateTime, Utc};
use kit::ServiceResult;
use kit::events::Backoff;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sea_orm::{DatabaseConnection, TransactionTrait};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::time::Instant;
use tracing::Instrument as _;

/// Deliveries claimed at a time; the lease covers all of them timing out.
const CLAIM: u64 = 10;

pub struct Sender {
    pub db: DatabaseConnection,
    pub config: WebhookConfig,
    pub email: EmailConfig,
    /// Where webhooks may be sent (`webhook.allowed_private_cidrs`).
    addresses: AddressPolicy,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
}

/// How an attempt ended.
enum Outcome {
    Delivered,
    /// Worth trying again later.
    Failed(String),
    /// Will never work (a bad address, a permanent SMTP refusal).
    Rejected(String),
}

impl Sender {
    pub fn new(db: DatabaseConnection, config: WebhookConfig, email: EmailConfig) -> anyhow::Result<Sender> {
        let timeout = Duration::from_millis(config.timeout_ms);
        let addresses = config.addresses()?;
        let smtp = if email.enabled() {
            let host = email.smtp_host.as_str();
            let builder = match email.tls.as_str() {
                "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?,
                "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(host)?,
                _ => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            };
            let mut builder = builder.port(email.smtp_port).timeout(Some(timeout));
            if !email.username.is_empty() {
                builder = builder.credentials(Credentials::new(email.username.clone(), email.password.clone()));
            }
            Some(builder.build())
        } else {
            None
        };
        Ok(Sender {
            db,
            config,
            email,
            addresses,
            smtp,
        })
    }

    /// Sends what is due every `poll_ms` until `shutdown`.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let poll = Duration::from_millis(self.config.poll_ms);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(poll) => {
                    if let Err(error) = self.send_digests(Utc::now()).await {
                        tracing::warn!(error = %error, "daily digests failed");
                    }
                    if let Err(error) = self.send_due().await {
                        tracing::warn!(error = %error, "deliveries failed");
                    }
                }
            }
        }
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::milliseconds((self.config.timeout_ms * (CLAIM + 2)) as i64)
    }

    /// Attempts every delivery that is due now; returns how many were attempted.
    pub async fn send_due(&self) -> ServiceResult<usize> {
        let mut attempted = 0;
        loop {
            let claimed = webhooks::claim_due(&self.db, Utc::now(), self.lease(), CLAIM).await?;
            if claimed.is_empty() {
                return Ok(attempted);
            }
            for d in &claimed {
                // One span per attempt; no address or URL in it (personal
                // data, and a webhook URL may carry a secret).
                let span = tracing::info_span!(
                    "deliver",
                    otel.name = %format!("deliver {}", d.channel),
                    otel.kind = "client",
                    delivery_id = %d.id,
                    channel = %d.channel,
                    attempt = d.attempts + 1,
                    trace_id = tracing::field::Empty,
                    span_id = tracing::field::Empty,
                );
                kit::telemetry::record_ids(&span);
                self.attempt(d).instrument(span).await?;
            }
            attempted += claimed.len();
        }
    }

    async fn attempt(&self, d: &Delivery) -> ServiceResult<()> {
        let attempts = d.attempts + 1;
        let Some(notification) = inbox::find(&self.db, &d.notification_id).await? else {
            return self
                .settle(d, attempts, Outcome::Rejected("notification no longer exists".into()))
                .await;
        };
        let outcome = if d.channel == "email" {
            self.send_email(&d.email, &notification).await
        } else {
            match webhooks::find(&self.db, &d.webhook_id).await? {
                Some(hook) => self.post(&hook, &notification).await,
                None => Outcome::Rejected("webhook no longer exists".into()),
            }
        };
        self.settle(d, attempts, outcome).await
    }

    /// A client that reaches `hook`'s host only at addresses checked now,
    /// and the URL to post to; or how the attempt ends without a request.
    /// The lookup and the request share one time limit (`timeout_ms`).
    async fn pinned(&self, hook: &webhooks::Webhook) -> Result<(reqwest::Client, reqwest::Url), Outcome> {
        let deadline = Instant::now() + Duration::from_millis(self.config.timeout_ms);
        let Ok(target) = WebhookUrl::parse(&hook.url) else {
            return Err(Outcome::Rejected("not an http or https url".into()));
        };
        let port = target.port();
        let found: Vec<IpAddr> = match target.host() {
            Host::Address(ip) => vec![ip],
            Host::Name(name) => match tokio::time::timeout_at(deadline, tokio::net::lookup_host((name, port))).await {
                Ok(Ok(addresses)) => addresses.map(|a| a.ip()).collect(),
                Ok(Err(_)) => return Err(Outcome::Failed("host name not resolved".into())),
                Err(_) => return Err(Outcome::Failed("timed out".into())),
            },
        };
        if found.is_empty() {
            return Err(Outcome::Failed("host name not resolved".into()));
        }
        // Every address must pass: a name that also resolves to a private
        // address is refused, not tried at its public one.
        if let Some(refused) = found.iter().find(|ip| !self.addresses.permits(**ip)) {
            tracing::warn!(
                webhook_id = %hook.id,
                host = target.url().host_str().unwrap_or_default(),
                address = %refused,
                "webhook refused: address is not public and not allow-listed"
            );
            return Err(Outcome::Rejected("address not permitted: not a public address".into()));
        }
        let mut builder = reqwest::Client::builder()
            .timeout(deadline.saturating_duration_since(Instant::now()))
            // The next hop would be an address nobody checked.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(NoLookups);
        if let Host::Name(name) = target.host() {
            let pinned: Vec<SocketAddr> = found.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
            builder = builder.resolve_to_addrs(name, &pinned);
        }
        match builder.build() {
            Ok(client) => Ok((client, target.url().clone())),
            Err(e) => Err(Outcome::Failed(format!("no http client: {}", e.without_url()))),
        }
    }

    async fn post(&self, hook: &webhooks::Webhook, n: &Notification) -> Outcome {
        let (client, url) = match self.pinned(hook).await {
            Ok(pinned) => pinned,
            Err(outcome) => return outcome,
        };
        let body = match serde_json::to_vec(&serde_json::json!({
            "id": n.id,
            "recipient_account_id": n.recipient_id,
            "category": n.category,
            "title": n.title,
            "body": n.body,
            "create_time": n.created_at.to_rfc3339(),
        })) {
            Ok(body) => body,
            Err(e) => return Outcome::Rejected(format!("cannot encode: {e}")),
        };
        let timestamp = Utc::now().timestamp();
        let Some(signature) = sign(&hook.secret, timestamp, &body) else {
            return Outcome::Rejected("webhook secret cannot sign".into());
        };
        let sent = client
            .post(url)
            .header("content-type", "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => Outcome::Delivered,
            Ok(response) if response.status().is_redirection() => Outcome::Failed(format!(
                "HTTP {} (redirects are not followed)",
                response.status().as_u16()
            )),
            Ok(response) => Outcome::Failed(format!("HTTP {}", response.status().as_u16())),
            Err(e) if e.is_timeout() => Outcome::Failed("timed out".into()),
            // Without the URL: its path or query may carry a secret.
            Err(e) => Outcome::Failed(format!("request failed: {}", causes(&e.without_url()))),
        }
    }

    async fn send_email(&self, address: &str, n: &Notification) -> Outcome {
        let Some(smtp) = &self.smtp else {
            return Outcome::Rejected("e-mail is not configured".into());
        };
        let (Ok(from), Ok(to)) = (
            self.email.from.parse::<lettre::message::Mailbox>(),
            address.parse::<lettre::message::Mailbox>(),
        ) else {
            return Outcome::Rejected("bad e-mail address".into());
        };
        let message = lettre::Message::builder()
            .from(from)
            .to(to)
            .subject(n.title.as_str())
            // Lets a mail client thread and dedupe repeated sends.
            .message_id(Some(format!("<{}@sanshi>", n.id)))
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(format!("{}\n\n—— 三师进社区平台", n.body));
        let message = match message {
            Ok(m) => m,
            Err(e) => return Outcome::Rejected(format!("cannot build e-mail: {e}")),
        };
        match smtp.send(message).await {
            Ok(_) => Outcome::Delivered,
            Err(e) if e.is_permanent() => Outcome::Rejected(format!("smtp refused: {e}")),
            Err(e) if e.is_timeout() => Outcome::Failed("timed out".into()),
            Err(e) => Outcome::Failed(format!("smtp failed: {e}")),
        }
    }

    async fn settle(&self, d: &Delivery, attempts: i32, outcome: Outcome) -> ServiceResult<()> {
        let now = Utc::now();
        let (error, give_up) = match outcome {
            Outcome::Delivered => {
                webhooks::record_attempt(&self.db, &d.id, "delivered", attempts, "", now, now).await?;
                delivery_outcome(&d.channel, "delivered");
                tracing::info!(delivery_id = %d.id, channel = %d.channel, attempts, "delivered");
                return Ok(());
            }
            Outcome::Failed(error) => (error, false),
            Outcome::Rejected(error) => (error, true),
        };
        let dead = give_up || attempts >= self.config.max_attempts;
        let backoff = Backoff {
            initial: Duration::from_millis(self.config.initial_backoff_ms),
            max: Duration::from_millis(self.config.max_backoff_ms),
        };
        let wait = chrono::Duration::from_std(backoff.delay(attempts as u32)).unwrap_or(chrono::Duration::zero());
        let state = if dead { "dead" } else { "pending" };
        webhooks::record_attempt(&self.db, &d.id, state, attempts, &error, now + wait, now).await?;
        delivery_outcome(&d.channel, if dead { "dead" } else { "retry" });
        if dead {
            tracing::warn!(delivery_id = %d.id, channel = %d.channel, attempts, error, "delivery dead-lettered");
        } else {
            tracing::info!(delivery_id = %d.id, channel = %d.channel, attempts, error, "delivery failed, will retry");
        }
        Ok(())
    }

    /// Bundles the waiting notifications of everyone whose digest is due at
    /// `now` into one digest each, queued for their external channels.
    /// Returns how many digests were made.
    pub async fn send_digests(&self, now: DateTime<Utc>) -> ServiceResult<usize> {
        let mut made = 0;
        for recipient in inbox::waiting_recipients(&self.db).await? {
            let prefs = preferences::get(&self.db, &recipient).await?;
            let Some(date) = prefs.digest_due(now) else {
                continue;
            };
            let txn = self.db.begin().await?;
            let items = inbox::waiting(&txn, &recipient).await?;
            let Some(first) = items.first() else {
                continue;
            };
            // One digest a day; with the digest turned off, whatever still waits goes now.
            let source = if prefs.daily_digest {
                format!("digest:{date}")
            } else {
                format!("digest:flush:{}", first.id)
            };
            let draft = digest(&recipient, &date.format("%Y-%m-%d").to_string(), &items);
            let Some(id) = inbox::store(&txn, &source, &draft, "digest", "", now).await? else {
                // Today's digest went out before these arrived: tomorrow's takes them.
                continue;
            };
            let ids: Vec<String> = items.iter().map(|n| n.id.clone()).collect();
            inbox::bundle(&txn, &ids).await?;
            let channels = items.iter().fold(
                Channels {
                    webhook: false,
                    email: false,
                },
                |all, n| {
                    let c = prefs.channels(&n.category);
                    Channels {
                        webhook: all.webhook || c.webhook,
                        email: all.email || c.email,
                    }
                },
            );
            let targets = targets(&txn, &recipient, &prefs, channels, self.smtp.is_some()).await?;
            webhooks::enqueue(&txn, &id, &targets, prefs.release(now), now).await?;
            txn.commit().await?;
            tracing::info!(
                notifications = items.len(),
                targets = targets.len(),
                "daily digest made"
            );
            made += 1;
        }
        Ok(made)
    }
}

/// The resolver of a webhook's client: the one name it may reach is pinned
/// to checked addresses (`resolve_to_addrs`), so any other lookup is refused
/// rather than made unchecked.
struct NoLookups;

impl reqwest::dns::Resolve for NoLookups {
    fn resolve(&self, _: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let refused: Result<reqwest::dns::Addrs, Box<dyn std::error::Error + Send + Sync>> =
            Err("webhook hosts are resolved and checked before connecting".into());
        Box::pin(std::future::ready(refused))
    }
}

/// An error and its causes, "a: b: c" (reqwest's own text stops at the first).
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The digest of `items` for `recipient` on `date`, in words.
fn digest(recipient: &str, date: &str, items: &[Notification]) -> Draft {
    let mut body = format!("{date} 您有 {} 条通知：\n", items.len());
    for n in items {
        body.push_str(&format!("· {}：{}\n", n.title, n.body));
    }
    Draft {
        recipient: recipient.to_string(),
        category: "digest",
        title: format!("每日通知摘要（{} 条）", items.len()),
        body,
        priority: Priority::Normal,
    }
}
/// Counts an attempt's outcome: delivered, retry (failed, tried again
/// later) or dead (failed for good).
fn delivery_outcome(channel: &str, outcome: &str) {
    kit::metrics::add(
        "sanshi_notification_deliveries_total",
        &[("channel", channel), ("outcome", outcome)],
        1.0,
    );
}
