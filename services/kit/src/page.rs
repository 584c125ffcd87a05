//! Offset page tokens for list RPCs: lists here are small (a city's
//! communities, a region's records), and some are ordered by computed values
//! that keyset paging cannot follow.

use crate::{ServiceError, ServiceResult};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub const DEFAULT_SIZE: u64 = 50;
pub const MAX_SIZE: u64 = 500;
/// The deepest offset a token may name: beyond any list here, and within
/// what the databases take (a larger one would not fit their integers).
pub const MAX_OFFSET: u64 = 10_000_000;

pub fn size(requested: i32) -> ServiceResult<u64> {
    match requested {
        0 => Ok(DEFAULT_SIZE),
        n if n < 0 => Err(ServiceError::invalid("page_size", "每页条数不能为负数")),
        n => Ok((n as u64).min(MAX_SIZE)),
    }
}

pub fn offset(token: &str) -> ServiceResult<u64> {
    if token.is_empty() {
        return Ok(0);
    }
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("o:").and_then(digits))
        .filter(|n| *n <= MAX_OFFSET)
        .ok_or_else(|| ServiceError::invalid("page_token", "分页标记无效"))
}

/// A number written as plain digits only ("+5", " 5" and "" are not).
fn digits(text: &str) -> Option<u64> {
    (!text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// The token of a keyset page that ends at `last_key` (an id, a username, a
/// sequence number).
pub fn keyset_token(last_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("k:{last_key}"))
}

/// The key a keyset token resumes after (`None` for the first page). Only
/// tokens this module made, whose key `valid` accepts, are taken: anything
/// else is INVALID_ARGUMENT, never a query on junk.
pub fn keyset_after(token: &str, valid: impl Fn(&str) -> bool) -> ServiceResult<Option<String>> {
    if token.is_empty() {
        return Ok(None);
    }
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("k:").map(str::to_string))
        .filter(|key| !key.is_empty() && valid(key))
        .map(Some)
        .ok_or_else(|| ServiceError::invalid("page_token", "分页标记无效"))
}

/// A keyset key that is a positive sequence number.
pub fn is_sequence(key: &str) -> bool {
    digits(key).is_some_and(|n| (1..=i64::MAX as u64).contains(&n))
}

/// The token of the next page, if `fetched` (one more than the page) shows there is one.
pub fn next(offset: u64, size: u64, fetched: usize) -> String {
    if fetched as u64 > size {
        URL_SAFE_NO_PAD.encode(format!("o:{}", offset + size))
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn junk_tokens_are_refused() {
        for junk in ["abc", "-1", "+5", " ", "o:5", "Z2FyYmFnZQ", "AA"] {
            assert!(super::offset(junk).is_err(), "{junk}");
            assert!(super::keyset_after(junk, |_| true).is_err(), "{junk}");
        }
        use base64::Engine as _;
        let plus = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("o:+5");
        assert!(super::offset(&plus).is_err());
        assert_eq!(super::offset(&super::next(0, 5, 6)).unwrap(), 5);
        let token = super::keyset_token("42");
        assert_eq!(
            super::keyset_after(&token, super::is_sequence).unwrap().as_deref(),
            Some("42")
        );
        assert!(super::keyset_after(&super::keyset_token("-1"), super::is_sequence).is_err());
        assert!(super::keyset_after(&super::keyset_token("x\0y"), |k| !k.contains('\0')).is_err());
    }

    use super::*;

    #[test]
    fn tokens_round_trip_and_bad_ones_are_refused() {
        let token = next(50, 50, 51);
        assert_eq!(offset(&token).unwrap(), 100);
        assert_eq!(next(0, 50, 50), "");
        assert!(offset("bm9wZQ").is_err());
        assert!(size(-1).is_err());
        assert_eq!(size(0).unwrap(), DEFAULT_SIZE);
        assert_eq!(size(10_000).unwrap(), MAX_SIZE);
        // A forged token deep enough to overflow the databases' integers.
        let forged = URL_SAFE_NO_PAD.encode(format!("o:{}", u64::MAX));
        assert!(offset(&forged).is_err());
    }
}
