//! Sends webhook deliveries: a signed JSON POST per (notification, webhook),
//! retried with exponential backoff and jitter until delivered or, after
//! `webhook.max_attempts`, dead-lettered for an admin to retry.
//!
//! One sender per process; with several replicas a delivery may be sent
//! twice when two pick it at once (receivers dedupe on the notification id).

use crate::config::WebhookConfig;
use crate::domain::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use crate::store::{inbox, webhooks, webhooks::Delivery};
use chrono::Utc;
use kit::ServiceResult;
use kit::events::Backoff;
use sea_orm::DatabaseConnection;
use std::time::Duration;

pub struct Sender {
    pub db: DatabaseConnection,
    pub client: reqwest::Client,
    pub config: WebhookConfig,
}

impl Sender {
    pub fn new(db: DatabaseConnection, config: WebhookConfig) -> anyhow::Result<Sender> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()?;
        Ok(Sender { db, client, config })
    }

    /// Sends what is due every `poll_ms` until `shutdown`.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let poll = Duration::from_millis(self.config.poll_ms);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(poll) => {
                    if let Err(error) = self.send_due().await {
                        tracing::warn!(error = %error, "webhook deliveries failed");
                    }
                }
            }
        }
    }

    /// Attempts every delivery that is due now; returns how many were attempted.
    pub async fn send_due(&self) -> ServiceResult<usize> {
        let due = webhooks::due(&self.db, Utc::now(), 100).await?;
        for d in &due {
            self.attempt(d).await?;
        }
        Ok(due.len())
    }

    async fn attempt(&self, d: &Delivery) -> ServiceResult<()> {
        let attempts = d.attempts + 1;
        let (hook, notification) = match (
            webhooks::find(&self.db, &d.webhook_id).await?,
            inbox::find(&self.db, &d.notification_id).await?,
        ) {
            (Some(h), Some(n)) => (h, n),
            _ => {
                return self
                    .failed(d, attempts, "webhook or notification no longer exists", true)
                    .await;
            }
        };
        let body = serde_json::to_vec(&serde_json::json!({
            "id": notification.id,
            "recipient_account_id": notification.recipient_id,
            "category": notification.category,
            "title": notification.title,
            "body": notification.body,
            "create_time": notification.created_at.to_rfc3339(),
        }))
        .map_err(kit::ServiceError::internal)?;
        let timestamp = Utc::now().timestamp();
        let Some(signature) = sign(&hook.secret, timestamp, &body) else {
            return self.failed(d, attempts, "webhook secret cannot sign", true).await;
        };
        let sent = self
            .client
            .post(&hook.url)
            .header("content-type", "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                let now = Utc::now();
                webhooks::record_attempt(&self.db, &d.id, "delivered", attempts, "", now, now).await?;
                tracing::info!(delivery_id = %d.id, attempts, "webhook delivered");
                Ok(())
            }
            Ok(response) => {
                let error = format!("HTTP {}", response.status().as_u16());
                self.failed(d, attempts, &error, false).await
            }
            Err(e) if e.is_timeout() => self.failed(d, attempts, "timed out", false).await,
            Err(e) => self.failed(d, attempts, &format!("request failed: {e}"), false).await,
        }
    }

    async fn failed(&self, d: &Delivery, attempts: i32, error: &str, give_up: bool) -> ServiceResult<()> {
        let now = Utc::now();
        let dead = give_up || attempts >= self.config.max_attempts;
        let backoff = Backoff {
            initial: Duration::from_millis(self.config.initial_backoff_ms),
            max: Duration::from_millis(self.config.max_backoff_ms),
        };
        let wait = chrono::Duration::from_std(backoff.delay(attempts as u32)).unwrap_or(chrono::Duration::zero());
        let state = if dead { "dead" } else { "pending" };
        webhooks::record_attempt(&self.db, &d.id, state, attempts, error, now + wait, now).await?;
        if dead {
            tracing::warn!(delivery_id = %d.id, attempts, error, "webhook delivery dead-lettered");
        } else {
            tracing::info!(delivery_id = %d.id, attempts, error, "webhook delivery failed, will retry");
        }
        Ok(())
    }
}
