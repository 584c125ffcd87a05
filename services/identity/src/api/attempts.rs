//! Credential checks: where they come from, and one at a time per lockout bucket.

use crate::domain::lockout::LoginSource;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tonic::Request;

/// The metadata a platform service that calls on behalf of clients (the
/// gateway) sets to the client's address.
pub const CLIENT_IP_METADATA: &str = "x-sanshi-client-ip";

/// Where a login, service-token or password-change attempt comes from, for
/// the lockout (which counts failures per account *and* source), and where a
/// phone-code request comes from, for its limit per client address.
///
/// The source is the peer address of the gRPC connection, with one
/// exception: a caller holding a verified service token (the gateway, which
/// calls on behalf of many clients from its own address) names the client's
/// address in `x-sanshi-client-ip`. Anyone else could forge that header to
/// escape a lockout, so without a service token it is ignored. A call with no
/// peer address (not over TCP) counts as one shared "unknown" source.
pub fn source_of<T>(request: &Request<T>) -> LoginSource {
    let from_service = kit::auth::principal(request).is_ok_and(|caller| caller.is_service());
    if from_service && let Some(value) = request.metadata().get(CLIENT_IP_METADATA) {
        match value.to_str().ok().and_then(LoginSource::parse) {
            Some(source) => return source,
            // The service's own address, below, is still a source.
            None => tracing::warn!(header = CLIENT_IP_METADATA, "unparsable client address from a service"),
        }
    }
    request
        .remote_addr()
        .map(|addr| LoginSource::from_ip(addr.ip()))
        .unwrap_or_else(LoginSource::unknown)
}

/// Gates kept at most; past it, the idle ones are dropped.
const MAX_GATES: usize = 10_000;

/// One credential check at a time per lockout bucket in this process. The
/// lock check, the password verification and the recording of a failure
/// happen in turn, so that parallel guesses cannot all pass the check before
/// any failure is recorded, while nothing is recorded before the password is
/// known to be wrong (so parallel correct logins never lock anyone out).
/// Replicas each have their own: with R replicas a source gets at most R - 1
/// guesses beyond the limit. No database lock is held while verifying.
#[derive(Default)]
pub struct AttemptGates {
    gates: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The turn of one attempt on a bucket; the next waits until it is dropped.
pub struct Turn<'a> {
    gates: &'a AttemptGates,
    bucket: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl AttemptGates {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        self.gates.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for the bucket's turn.
    pub async fn turn(&self, bucket: &str) -> Turn<'_> {
        let gate = {
            let mut map = self.map();
            if map.len() >= MAX_GATES {
                // Gates left behind by cancelled waiters: nobody holds them.
                map.retain(|_, gate| Arc::strong_count(gate) > 1);
            }
            map.entry(bucket.to_string()).or_default().clone()
        };
        let guard = gate.lock_owned().await;
        Turn {
            gates: self,
            bucket: bucket.to_string(),
            guard: Some(guard),
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.gates.map();
        // Only the map's own reference left: nobody holds or awaits the gate.
        if map.get(&self.bucket).is_some_and(|gate| Arc::strong_count(gate) == 1) {
            map.remove(&self.bucket);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn turns_on_one_bucket_are_taken_one_at_a_time() {
        let gates = Arc::new(AttemptGates::default());
        let inside = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (gates, inside, most) = (gates.clone(), inside.clone(), most.clone());
                tokio::spawn(async move {
                    let _turn = gates.turn("person:city@203.0.113.7").await;
                    let now = inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    most.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(gates.map().is_empty(), "idle gates are dropped");
    }

    #[tokio::test]
    async fn other_buckets_do_not_wait() {
        let gates = AttemptGates::default();
        let _held = gates.turn("person:city@203.0.113.7").await;
        let other = tokio::time::timeout(Duration::from_secs(5), gates.turn("person:city@198.51.100.1")).await;
        assert!(other.is_ok());
    }

    #[test]
    fn the_header_is_trusted_from_services_only() {
        let mut anonymous = Request::new(());
        anonymous
            .metadata_mut()
            .insert(CLIENT_IP_METADATA, "198.51.100.9".parse().unwrap());
        assert_eq!(
            source_of(&anonymous),
            LoginSource::unknown(),
            "no token, no peer address"
        );

        let mut from_service = Request::new(());
        from_service
            .metadata_mut()
            .insert(CLIENT_IP_METADATA, "198.51.100.9".parse().unwrap());
        from_service.extensions_mut().insert(kit::auth::Principal {
            account_id: "gateway".into(),
            username: "gateway".into(),
            kind: kit::auth::PrincipalKind::Service,
            roles: vec![(kit::auth::Role::Service, kit::region::Scope::All)],
            token: String::new(),
        });
        assert_eq!(source_of(&from_service).as_str(), "198.51.100.9");

        let mut from_person = Request::new(());
        from_person
            .metadata_mut()
            .insert(CLIENT_IP_METADATA, "198.51.100.9".parse().unwrap());
        from_person.extensions_mut().insert(kit::auth::Principal {
            account_id: "someone".into(),
            username: "someone".into(),
            kind: kit::auth::PrincipalKind::Person,
            roles: vec![],
            token: String::new(),
        });
        assert_eq!(source_of(&from_person), LoginSource::unknown());
    }
}
