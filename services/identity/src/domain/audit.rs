//! The audit log's hash chain. Each entry's hash covers its fields and the
//! previous entry's hash, so editing or deleting any entry breaks every hash
//! after it; the head row catches entries deleted from the end. The hash is
//! an HMAC under a key from configuration: someone who can write to the
//! database but does not hold the key cannot forge a consistent chain.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        [Outcome::Success, Outcome::Failure, Outcome::Denied]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// What happened, before it is chained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Account id of whoever acted; empty when unknown (a failed login).
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: Outcome,
    pub detail: String,
}

impl AuditEvent {
    pub fn new(actor: impl Into<String>, action: &str, target: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            outcome,
            detail: String::new(),
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainedEntry {
    pub seq: i64,
    pub at: String,
    pub event: AuditEvent,
    pub prev_hash: String,
    pub hash: String,
}

/// Hash of an entry: HMAC-SHA-256 under `key` over a JSON array of its
/// fields, which keeps field boundaries unambiguous.
pub fn entry_hash(key: &[u8], prev_hash: &str, seq: i64, at: &str, event: &AuditEvent) -> String {
    let fields = serde_json::json!([
        prev_hash,
        seq,
        at,
        event.actor,
        event.action,
        event.target,
        event.outcome.as_str(),
        event.detail
    ]);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("hmac takes any key length");
    mac.update(fields.to_string().as_bytes());
    kit::pii::hex(&mac.finalize().into_bytes())
}

pub fn chain(key: &[u8], prev: Option<(&i64, &str)>, at: String, event: AuditEvent) -> ChainedEntry {
    let (seq, prev_hash) = match prev {
        Some((seq, hash)) => (seq + 1, hash.to_string()),
        None => (1, GENESIS_HASH.to_string()),
    };
    let hash = entry_hash(key, &prev_hash, seq, &at, &event);
    ChainedEntry {
        seq,
        at,
        event,
        prev_hash,
        hash,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub intact: bool,
    pub checked: i64,
    pub first_broken: i64,
    pub reason: String,
}

/// Walks the chain in sequence order. Verification state carries across
/// calls so that a long log can be checked page by page.
#[derive(Debug)]
pub struct ChainVerifier {
    key: Vec<u8>,
    expected_seq: i64,
    prev_hash: String,
    checked: i64,
    broken: Option<(i64, String)>,
}

impl ChainVerifier {
    pub fn new(key: &[u8]) -> Self {
        Self {
            key: key.to_vec(),
            expected_seq: 1,
            prev_hash: GENESIS_HASH.into(),
            checked: 0,
            broken: None,
        }
    }

    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    pub fn feed(&mut self, entry: &ChainedEntry) {
        if self.broken.is_some() {
            return;
        }
        self.checked += 1;
        let problem = if entry.seq != self.expected_seq {
            Some(format!("expected entry {} but found {}", self.expected_seq, entry.seq))
        } else if entry.prev_hash != self.prev_hash {
            Some("previous hash does not match".to_string())
        } else if entry_hash(&self.key, &entry.prev_hash, entry.seq, &entry.at, &entry.event) != entry.hash {
            Some("entry hash does not match its content".to_string())
        } else {
            None
        };
        match problem {
            Some(reason) => self.broken = Some((self.expected_seq.min(entry.seq), reason)),
            None => {
                self.expected_seq += 1;
                self.prev_hash = entry.hash.clone();
            }
        }
    }

    /// Ends the walk, comparing with the stored head (`None` when the log is empty).
    pub fn finish(self, head: Option<(i64, String)>) -> Verification {
        if let Some((first_broken, reason)) = self.broken {
            return Verification {
                intact: false,
                checked: self.checked,
                first_broken,
                reason,
            };
        }
        let last_seq = self.expected_seq - 1;
        let head = head.unwrap_or((0, GENESIS_HASH.into()));
        if head.0 != last_seq || head.1 != self.prev_hash {
            return Verification {
                intact: false,
                checked: self.checked,
                first_broken: last_seq + 1,
                reason: format!("log ends at entry {last_seq} but its head records entry {}", head.0),
            };
        }
        Verification {
            intact: true,
            checked: self.checked,
            first_broken: 0,
            reason: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"test audit key";

    fn log(n: usize) -> Vec<ChainedEntry> {
        let mut entries: Vec<ChainedEntry> = Vec::new();
        for i in 0..n {
            let prev = entries.last().map(|e| (&e.seq, e.hash.as_str()));
            let event = AuditEvent::new("a1", "login", format!("user{i}"), Outcome::Success);
            let entry = chain(KEY, prev, format!("2026-11-22T00:00:0{i}Z"), event);
            entries.push(entry);
        }
        entries
    }

    fn verify(entries: &[ChainedEntry], head: Option<(i64, String)>) -> Verification {
        let mut v = ChainVerifier::new(KEY);
        entries.iter().for_each(|e| v.feed(e));
        v.finish(head)
    }

    fn head(entries: &[ChainedEntry]) -> Option<(i64, String)> {
        entries.last().map(|e| (e.seq, e.hash.clone()))
    }

    #[test]
    fn intact_chain_verifies() {
        let entries = log(5);
        let h = head(&entries);
        assert!(verify(&entries, h).intact);
        assert!(verify(&[], None).intact);
    }

    #[test]
    fn edits_and_deletions_are_found() {
        let entries = log(5);
        let h = head(&entries);

        let mut edited = entries.clone();
        edited[2].event.outcome = Outcome::Failure;
        let v = verify(&edited, h.clone());
        assert!(!v.intact);
        assert_eq!(v.first_broken, 3);

        let mut deleted = entries.clone();
        deleted.remove(1);
        assert_eq!(verify(&deleted, h.clone()).first_broken, 2);

        let mut truncated = entries.clone();
        truncated.pop();
        assert!(
            !verify(&truncated, h.clone()).intact,
            "tail deletion is caught by the head"
        );

        // Rewriting an entry and recomputing its hash still breaks the next link.
        let mut rehashed = entries.clone();
        rehashed[1].event.detail = "forged".into();
        rehashed[1].hash = entry_hash(KEY, &rehashed[1].prev_hash, 2, &rehashed[1].at, &rehashed[1].event);
        assert_eq!(verify(&rehashed, h.clone()).first_broken, 3);

        // Rewriting the whole chain without the key does not verify either.
        let mut forged = entries.clone();
        forged[4].event.detail = "forged".into();
        forged[4].hash = entry_hash(b"guessed key", &forged[4].prev_hash, 5, &forged[4].at, &forged[4].event);
        let forged_head = head(&forged);
        assert_eq!(verify(&forged, forged_head).first_broken, 5);
    }
}
