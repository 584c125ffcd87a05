//! Argon2id password hashing (OWASP minimum: m = 19 MiB, t = 2, p = 1),
//! run on the blocking pool so that hashing never stalls the async runtime.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use kit::ServiceError;
use std::sync::LazyLock;

/// Verified against when the username does not exist, so that a missing
/// account costs as much time as a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    Argon2::default()
        .hash_password(b"no such account")
        .map(|h| h.to_string())
        .unwrap_or_default()
});

/// Argon2id's working memory per hash or check (the OWASP minimum, m = 19 MiB).
pub const MIB_PER_HASH: usize = 19;

/// Hashing memory when [`bound_memory`] was not called (tests, tools).
const DEFAULT_MEMORY_MIB: usize = 40;

/// Each hash holds 19 MiB for tens of milliseconds: bound how many run at
/// once so that a burst of logins queues instead of exhausting memory.
static HASHING: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();

/// How many hashes fit in `memory_mib` at once (at least one).
pub fn concurrent_hashes(memory_mib: usize) -> usize {
    (memory_mib / MIB_PER_HASH).max(1)
}

/// Lets hashing hold at most `memory_mib` at once (`passwords.hashing_memory_mib`).
/// The first call sets it for the process (one identity per process).
pub fn bound_memory(memory_mib: usize) {
    let permits = concurrent_hashes(memory_mib);
    if HASHING.set(tokio::sync::Semaphore::new(permits)).is_ok() {
        tracing::info!(memory_mib, concurrent_hashes = permits, "password hashing bounded");
    }
}

fn hashing() -> &'static tokio::sync::Semaphore {
    HASHING.get_or_init(|| tokio::sync::Semaphore::new(concurrent_hashes(DEFAULT_MEMORY_MIB)))
}

pub async fn hash(password: String) -> Result<String, ServiceError> {
    let _permit = hashing().acquire().await.map_err(ServiceError::internal)?;
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| ServiceError::internal(anyhow::anyhow!("argon2 hash: {e}")))
    })
    .await
    .map_err(ServiceError::internal)?
}

/// Verifies `password` against `stored` (or a dummy hash when `None`).
pub async fn verify(password: String, stored: Option<String>) -> bool {
    let Ok(_permit) = hashing().acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        let exists = stored.is_some();
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok() && exists
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_memory_bounds_concurrent_hashes() {
        assert_eq!(concurrent_hashes(19), 1);
        assert_eq!(concurrent_hashes(40), 2);
        assert_eq!(concurrent_hashes(57), 3);
        assert_eq!(concurrent_hashes(0), 1, "one hash always runs");
    }
}
