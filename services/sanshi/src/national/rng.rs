//! Deterministic draws. Every item of the generated data (a professional, a
//! match, a visit) has a generator of its own, seeded from the run's seed,
//! what the item is and its index: any item can be made again alone, in any
//! order, and a smaller run makes the same first items as a larger one.

use chrono::{DateTime, Duration, Utc};
use matching_solver::geo::splitmix64;

/// What a generator is for; part of its seed.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    Official = 1,
    Professional = 2,
    MatchPlan = 3,
    Match = 4,
    Visit = 5,
    Award = 6,
}

/// SplitMix64: small, fast and good enough for synthetic data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// The generator of item `index` of `stream` in the run seeded with `seed`.
    pub fn item(seed: u64, stream: Stream, index: u64) -> Rng {
        Rng(splitmix64(splitmix64(seed ^ ((stream as u64) << 56)) ^ index))
    }

    pub fn next_u64(&mut self) -> u64 {
        let value = splitmix64(self.0);
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        value
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: i64, high: i64) -> i64 {
        low + self.below((high - low + 1).max(1) as u64) as i64
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A duration of `low..=high` seconds.
    pub fn seconds(&mut self, low: i64, high: i64) -> Duration {
        Duration::seconds(self.between(low, high))
    }

    /// A UUID of version 7 (time-ordered, as the services make with
    /// `Uuid::now_v7`) for something made at `at`, its random bits drawn here.
    pub fn uuid_v7(&mut self, at: DateTime<Utc>) -> String {
        let ms = (at.timestamp_millis().max(0) as u64) & 0xffff_ffff_ffff;
        let (a, b) = (self.next_u64(), self.next_u64());
        format!(
            "{:08x}-{:04x}-7{:03x}-{:04x}-{:012x}",
            ms >> 16,
            ms & 0xffff,
            a & 0xfff,
            0x8000 | ((a >> 12) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_reproducible_and_independent() {
        let mut a = Rng::item(20, Stream::Visit, 7);
        let mut b = Rng::item(20, Stream::Visit, 7);
        assert_eq!(a.next_u64(), b.next_u64());
        assert_ne!(
            Rng::item(20, Stream::Visit, 8).next_u64(),
            Rng::item(20, Stream::Visit, 7).next_u64()
        );
        assert_ne!(
            Rng::item(20, Stream::Match, 7).next_u64(),
            Rng::item(20, Stream::Visit, 7).next_u64()
        );
    }

    #[test]
    fn uuids_have_version_7_and_sort_by_time() {
        let mut rng = Rng::item(1, Stream::Match, 0);
        let early = rng.uuid_v7(DateTime::from_timestamp(1_700_000_000, 0).unwrap());
        let late = rng.uuid_v7(DateTime::from_timestamp(1_700_000_001, 0).unwrap());
        assert_eq!(early.len(), 36);
        assert_eq!(&early[14..15], "7");
        assert!(matches!(&early[19..20], "8" | "9" | "a" | "b"));
        assert!(early < late);
    }
}
