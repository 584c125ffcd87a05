//! Notification follows qualification, matching, records and incentive: each
//! event that concerns a person becomes their notification, once per (event,
//! recipient) however often the event is delivered.

use crate::domain::templates;
use crate::store::{inbox, webhooks};
use futures::future::BoxFuture;
use kit::ServiceError;
use kit::events::{Event, EventHandler};
use sea_orm::DatabaseTransaction;

pub struct Events;

impl EventHandler for Events {
    fn apply<'a>(&'a self, txn: &'a DatabaseTransaction, event: &'a Event) -> BoxFuture<'a, Result<(), ServiceError>> {
        Box::pin(async move {
            let drafts = templates::render(event)
                .map_err(|e| ServiceError::internal(anyhow::anyhow!("undecodable event {}: {e}", event.r#type)))?;
            let now = chrono::Utc::now();
            for draft in &drafts {
                if let Some(id) = inbox::deliver(txn, &event.id, draft, now).await? {
                    // The recipient's webhooks get it too (sent by `delivery::Sender`).
                    let hooks = webhooks::of_owner(txn, &draft.recipient).await?;
                    webhooks::enqueue(txn, &id, &hooks, now).await?;
                    tracing::info!(event_id = %event.id, category = draft.category, webhooks = hooks.len(), "notified");
                }
            }
            Ok(())
        })
    }
}
