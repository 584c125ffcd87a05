//! Notification follows qualification, matching, records and incentive: each
//! event that concerns a person (or an organisation) becomes their
//! notification, once per (event, recipient) however often the event is
//! delivered, and goes out on the external channels their preferences choose.

use crate::domain::preferences::{Channels, Preferences};
use crate::domain::templates::{self, Draft, Priority};
use crate::store::webhooks::Target;
use crate::store::{inbox, preferences, webhooks};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use kit::events::{Event, EventHandler};
use kit::{ServiceError, ServiceResult};
use sea_orm::{ConnectionTrait, DatabaseTransaction};

pub struct Events {
    /// Whether e-mail can be sent (an SMTP relay is configured).
    pub email: bool,
}

impl EventHandler for Events {
    fn apply<'a>(&'a self, txn: &'a DatabaseTransaction, event: &'a Event) -> BoxFuture<'a, Result<(), ServiceError>> {
        Box::pin(async move {
            let drafts = templates::render(event)
                .map_err(|e| ServiceError::internal(anyhow::anyhow!("undecodable event {}: {e}", event.r#type)))?;
            let now = Utc::now();
            for draft in &drafts {
                if notify(txn, &event.id, draft, self.email, now).await? {
                    tracing::info!(event_id = %event.id, category = draft.category, "notified");
                }
            }
            Ok(())
        })
    }
}

/// Stores `draft` from `source` in its recipient's inbox and queues it for
/// their webhooks and e-mail, or for their daily digest when it is low
/// priority and they chose one. Returns false when the recipient had it already.
pub async fn notify(
    db: &impl ConnectionTrait,
    source: &str,
    draft: &Draft,
    email: bool,
    now: DateTime<Utc>,
) -> ServiceResult<bool> {
    let organisation = templates::organisation_region(&draft.recipient).is_some();
    // Organisations have no preferences: everything, at once.
    let prefs = if organisation {
        Preferences::default()
    } else {
        preferences::get(db, &draft.recipient).await?
    };
    let waits = prefs.daily_digest && draft.priority == Priority::Low;
    let digest = if waits { "waiting" } else { "" };
    let Some(id) = inbox::store(db, source, draft, "in_app", digest, now).await? else {
        return Ok(false);
    };
    if !waits {
        let targets = targets(db, &draft.recipient, &prefs, prefs.channels(draft.category), email).await?;
        webhooks::enqueue(db, &id, &targets, prefs.release(now), now).await?;
    }
    Ok(true)
}

/// Where `recipient`'s notification goes on `channels`.
pub async fn targets(
    db: &impl ConnectionTrait,
    recipient: &str,
    prefs: &Preferences,
    channels: Channels,
    email: bool,
) -> ServiceResult<Vec<Target>> {
    let mut targets = Vec::new();
    if channels.webhook {
        targets.extend(
            webhooks::of_recipient(db, recipient)
                .await?
                .into_iter()
                .map(|w| Target::Webhook {
                    id: w.id,
                    owner_id: w.owner_id,
                }),
        );
    }
    if channels.email && email {
        targets.push(Target::Email {
            address: prefs.email.clone(),
            owner_id: recipient.to_string(),
        });
    }
    Ok(targets)
}
