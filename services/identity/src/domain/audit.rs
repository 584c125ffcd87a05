//! The audit log's hash chain. Each entry's hash covers its fields and the
//! previous entry's hash, so editing or deleting any entry breaks every hash
//! after it; the head row catches entries deleted from the end. The hash is
//! an HMAC under a key from configuration: someone who can write to the
//! database but does not hold the key cannot forge a consistent chain.
//!
//! The head is anchored too: it carries its own MAC under that key, so
//! deleting the newest entries and rewriting the head to the new last entry
//! is found; and a checkpoint kept outside the database (the last verified
//! head, held by the process and written to the audit log stream) catches a
//! head replayed from an older copy of the database.

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
    kit::pii::mac_hex(key, &[fields.to_string().as_bytes()])
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

/// The newest entry as the head row records it, with the head's own MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
    pub mac: String,
}

impl Head {
    /// The head of `entry`, anchored under `key`.
    pub fn of(key: &[u8], seq: i64, hash: &str) -> Head {
        Head {
            seq,
            hash: hash.to_string(),
            mac: head_mac(key, seq, hash),
        }
    }
}

/// MAC of a head: who cannot compute it cannot move the head.
pub fn head_mac(key: &[u8], seq: i64, hash: &str) -> String {
    kit::pii::mac_hex(key, &[format!("audit-head:{seq}:{hash}").as_bytes()])
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
    /// The sequence number of the checkpoint to compare, and the hash found there.
    checkpoint_seq: i64,
    checkpoint_hash: Option<String>,
}

impl ChainVerifier {
    pub fn new(key: &[u8]) -> Self {
        Self::with_checkpoint(key, 0)
    }

    /// A verifier that also records the hash of entry `checkpoint_seq`.
    pub fn with_checkpoint(key: &[u8], checkpoint_seq: i64) -> Self {
        Self {
            key: key.to_vec(),
            expected_seq: 1,
            prev_hash: GENESIS_HASH.into(),
            checked: 0,
            broken: None,
            checkpoint_seq,
            checkpoint_hash: None,
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
                if entry.seq == self.checkpoint_seq {
                    self.checkpoint_hash = Some(entry.hash.clone());
                }
                self.expected_seq += 1;
                self.prev_hash = entry.hash.clone();
            }
        }
    }

    /// Ends the walk, comparing with the stored head (`None` when the log is
    /// empty) and with the last head verified before (`checkpoint`, kept
    /// outside the database): the log must still reach it, unchanged.
    pub fn finish(self, head: Option<Head>, checkpoint: Option<(i64, String)>) -> Verification {
        if let Some((first_broken, reason)) = self.broken {
            return Verification {
                intact: false,
                checked: self.checked,
                first_broken,
                reason,
            };
        }
        let last_seq = self.expected_seq - 1;
        let broken = |first_broken: i64, reason: String| Verification {
            intact: false,
            checked: self.checked,
            first_broken,
            reason,
        };
        if let Some((seq, hash)) = &checkpoint
            && (last_seq < *seq || self.checkpoint_hash.as_ref().is_some_and(|seen| seen != hash))
        {
            return broken(
                (*seq).min(last_seq + 1),
                format!("log no longer reaches checkpoint entry {seq} verified before"),
            );
        }
        let Some(head) = head else {
            if last_seq == 0 {
                return Verification {
                    intact: true,
                    checked: 0,
                    first_broken: 0,
                    reason: String::new(),
                };
            }
            return broken(last_seq + 1, "log has entries but no head".into());
        };
        if head.seq != last_seq || head.hash != self.prev_hash {
            return broken(
                last_seq + 1,
                format!("log ends at entry {last_seq} but its head records entry {}", head.seq),
            );
        }
        if head.mac != head_mac(&self.key, head.seq, &head.hash) {
            return broken(
                last_seq.max(1),
                "head is not anchored by this service's key (rewritten?)".into(),
            );
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

    fn verify(entries: &[ChainedEntry], head: Option<Head>) -> Verification {
        let mut v = ChainVerifier::new(KEY);
        entries.iter().for_each(|e| v.feed(e));
        v.finish(head, None)
    }

    fn head(entries: &[ChainedEntry]) -> Option<Head> {
        entries.last().map(|e| Head::of(KEY, e.seq, &e.hash))
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

    #[test]
    fn a_truncated_log_with_a_rewritten_head_is_found() {
        let entries = log(5);
        let mut truncated = entries.clone();
        truncated.truncate(3);
        // The head rewritten to the new last entry, without the key.
        let last = truncated.last().unwrap();
        let rewritten = Head {
            seq: last.seq,
            hash: last.hash.clone(),
            mac: head_mac(b"guessed key", last.seq, &last.hash),
        };
        let v = verify(&truncated, Some(rewritten));
        assert!(!v.intact);
        assert!(v.reason.contains("anchored"), "{}", v.reason);
        let unanchored = Head {
            mac: String::new(),
            ..head(&truncated).unwrap()
        };
        assert!(!verify(&truncated, Some(unanchored)).intact);
        // With the key's head it would verify: the MAC is what guards it.
        assert!(verify(&truncated, head(&truncated)).intact);
        assert!(!verify(&entries, None).intact, "entries without a head");
    }

    #[test]
    fn a_replayed_older_head_misses_the_checkpoint() {
        let entries = log(5);
        let checkpoint = Some((5, entries[4].hash.clone()));
        // An older copy of the log, with its own valid head.
        let older = &entries[..3];
        let mut v = ChainVerifier::with_checkpoint(KEY, 5);
        older.iter().for_each(|e| v.feed(e));
        let result = v.finish(head(older), checkpoint.clone());
        assert!(!result.intact);
        assert!(result.reason.contains("checkpoint"), "{}", result.reason);
        let mut v = ChainVerifier::with_checkpoint(KEY, 5);
        entries.iter().for_each(|e| v.feed(e));
        assert!(v.finish(head(&entries), checkpoint).intact);
    }
}
