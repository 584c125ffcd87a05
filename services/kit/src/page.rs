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
        .and_then(|s| s.strip_prefix("o:").and_then(|n| n.parse().ok()))
        .filter(|n| *n <= MAX_OFFSET)
        .ok_or_else(|| ServiceError::invalid("page_token", "分页标记无效"))
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
