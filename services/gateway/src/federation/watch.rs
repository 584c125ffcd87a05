//! `WatchSupportRequests`: a peer's support requests as they change,
//! polled from matching (each status change, from the need's history).
//!
//! The cursor is the last change's time. A change is stamped before its
//! transaction commits, so one that commits late can carry an earlier time
//! than one already sent: each poll therefore looks [`OVERLAP`] behind the
//! cursor and skips what it sent already. Streams per peer are capped, and
//! all end when the gateway shuts down.

use super::server::{Federation, support_request};
use prost_types::Timestamp;
use sanshi_proto::federation::v1 as pb;
use sanshi_proto::matching::v1 as matching;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::Status;

/// How far behind the cursor each poll looks again.
pub const OVERLAP: Duration = Duration::from_secs(2);
/// Open watch streams per peer.
pub const MAX_PER_PEER: usize = 4;
const PAGE: i32 = 100;

pub type Stream = tokio_stream::wrappers::ReceiverStream<Result<pb::SupportRequest, Status>>;

/// Open streams per peer.
#[derive(Default)]
pub struct Watches(Mutex<HashMap<String, usize>>);

/// One open stream of a peer, counted until dropped.
struct Slot {
    watches: Arc<Federation>,
    peer: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.watches.watches.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.peer) {
            *n = n.saturating_sub(1);
        }
    }
}

fn nanos_of(t: &Timestamp) -> i128 {
    i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos)
}

fn timestamp_of(nanos: i128) -> Timestamp {
    Timestamp {
        seconds: nanos.div_euclid(1_000_000_000) as i64,
        nanos: nanos.rem_euclid(1_000_000_000) as i32,
    }
}

/// Starts streaming `peer`'s changes after `since`.
pub fn start(federation: &Arc<Federation>, peer: &str, since: Option<Timestamp>) -> Result<Stream, Status> {
    if since.as_ref().is_some_and(|t| !(0..1_000_000_000).contains(&t.nanos)) {
        return Err(Status::from(kit::ServiceError::invalid("since", "时间无效")));
    }
    {
        let mut open = federation.watches.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(peer.to_string()).or_default();
        if *n >= MAX_PER_PEER {
            return Err(Status::resource_exhausted(format!(
                "每个平台最多同时订阅 {MAX_PER_PEER} 个变更流"
            )));
        }
        *n += 1;
    }
    let slot = Slot {
        watches: federation.clone(),
        peer: peer.to_string(),
    };
    let (tx, rx) = tokio::sync::mpsc::channel(32);
    tokio::spawn(run(federation.clone(), peer.to_string(), since, tx, slot));
    Ok(Stream::new(rx))
}

async fn run(
    federation: Arc<Federation>,
    peer: String,
    since: Option<Timestamp>,
    tx: tokio::sync::mpsc::Sender<Result<pb::SupportRequest, Status>>,
    _slot: Slot,
) {
    let mut shutdown = federation.shutdown.clone();
    let mut cursor: Option<i128> = since.as_ref().map(nanos_of);
    // What was sent within OVERLAP of the cursor: (need id, change time).
    let mut sent: HashSet<(String, i128)> = HashSet::new();
    let mut look_back = true;
    loop {
        if *shutdown.borrow() {
            let _ = tx.send(Err(Status::unavailable("平台正在重启，请稍后重新订阅"))).await;
            return;
        }
        let after = cursor.map(|c| {
            if look_back {
                timestamp_of(c - OVERLAP.as_nanos() as i128)
            } else {
                timestamp_of(c)
            }
        });
        let page = match changes(&federation, &peer, after).await {
            Ok(page) => page,
            Err(status) => {
                tracing::warn!(peer, code = ?status.code(), "watch support requests failed");
                let _ = tx.send(Err(status)).await;
                return;
            }
        };
        let full = page.len() as i32 == PAGE;
        let mut fresh = 0;
        for need in page {
            let at = need
                .need
                .as_ref()
                .and_then(|n| n.update_time.as_ref())
                .map(nanos_of)
                .unwrap_or_default();
            let id = need.need.as_ref().map(|n| n.id.clone()).unwrap_or_default();
            if !sent.insert((id, at)) {
                continue;
            }
            fresh += 1;
            cursor = Some(cursor.map_or(at, |c| c.max(at)));
            if tx
                .send(Ok(support_request(need, &federation.province_code)))
                .await
                .is_err()
            {
                return;
            }
        }
        if let Some(c) = cursor {
            let horizon = c - OVERLAP.as_nanos() as i128;
            sent.retain(|(_, at)| *at >= horizon);
        }
        // A full page of what was sent already: step past the overlap once.
        look_back = !(full && fresh == 0);
        if full {
            continue;
        }
        tokio::select! {
            _ = tx.closed() => return,
            _ = shutdown.changed() => {}
            _ = tokio::time::sleep(federation.watch_poll) => {}
        }
    }
}

async fn changes(
    federation: &Federation,
    peer: &str,
    after: Option<Timestamp>,
) -> Result<Vec<matching::SupportNeed>, Status> {
    let token = federation.token().await?;
    Ok(federation
        .matching()?
        .list_support_needs(kit::grpc::with_token(
            matching::ListSupportNeedsRequest {
                origin_peer: peer.to_string(),
                updated_after: after,
                page_size: PAGE,
            },
            &token,
        ))
        .await?
        .into_inner()
        .needs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_nanoseconds() {
        let t = Timestamp {
            seconds: 1_795_000_000,
            nanos: 123_456_789,
        };
        assert_eq!(timestamp_of(nanos_of(&t)), t);
        let earlier = timestamp_of(nanos_of(&t) - OVERLAP.as_nanos() as i128);
        assert_eq!((earlier.seconds, earlier.nanos), (1_794_999_998, 123_456_789));
        assert_eq!(
            timestamp_of(-1),
            Timestamp {
                seconds: -1,
                nanos: 999_999_999
            }
        );
    }
}
