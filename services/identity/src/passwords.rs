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

/// Each hash holds 19 MiB for tens of milliseconds: bound how many run at
/// once so that a burst of logins queues instead of exhausting memory.
static HASHING: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    tokio::sync::Semaphore::new(cores * 2)
});

pub async fn hash(password: String) -> Result<String, ServiceError> {
    let _permit = HASHING.acquire().await.map_err(ServiceError::internal)?;
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
    let Ok(_permit) = HASHING.acquire().await else {
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
