//! Giving freed memory back to the system.
//!
//! glibc's malloc raises its mmap threshold each time a large block is
//! freed, up to 32 MiB; after that, blocks such as Argon2id's 19 MiB
//! working memory come from the heap arenas and stay resident when freed
//! (identity grew to hundreds of MiB after a burst of logins and never
//! shrank). A fixed threshold keeps large blocks mapped on their own, so
//! that freeing one unmaps it at once. Every service's start calls
//! [`return_large_blocks`]; the first call configures the process.

/// Blocks from this size on are mapped on their own and unmapped when freed.
pub const MMAP_THRESHOLD_BYTES: usize = 1 << 20;

static CONFIGURED: std::sync::Once = std::sync::Once::new();

/// Fixes the allocator's mmap threshold at [`MMAP_THRESHOLD_BYTES`] (glibc
/// only; elsewhere nothing to do). Idempotent.
pub fn return_large_blocks() {
    CONFIGURED.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            // SAFETY: mallopt only sets allocator parameters; it is safe to
            // call at any time and has no pointer arguments.
            let set = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES as libc::c_int) };
            if set != 1 {
                tracing::warn!("mallopt refused the mmap threshold");
            }
        }
    });
}

/// This process's resident set size in bytes (Linux; None elsewhere):
/// what the memory benchmarks report.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
