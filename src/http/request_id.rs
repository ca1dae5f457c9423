//! `X-Request-Id`: the client's id when it is sane, otherwise a new one.
//!
//! A minted id only has to be unique, not unpredictable (it correlates log
//! lines, it guards nothing), so it is a random 64-bit prefix drawn once
//! per process and a counter: 32 hex characters, like the ids authd used
//! to draw from the OS CSPRNG per request, at a tenth of the cost.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use hyper::header::{HeaderName, HeaderValue};
use hyper::HeaderMap;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// This process's prefix: instances sharing a log stay apart.
static PREFIX: LazyLock<u64> = LazyLock::new(rand::random);
static NEXT: AtomicU64 = AtomicU64::new(0);

/// The request's id: the client's `X-Request-Id` when it is 1-128 of
/// `[A-Za-z0-9._:-]`, else a new one.
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(REQUEST_ID)
        .filter(|v| {
            let bytes = v.as_bytes();
            (1..=128).contains(&bytes.len())
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
        })
        .cloned()
        .unwrap_or_else(mint)
}

fn mint() -> HeaderValue {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut id = [0u8; 32];
    hex_into(&mut id[..16], *PREFIX);
    hex_into(&mut id[16..], n);
    HeaderValue::from_bytes(&id).expect("hex is a valid header")
}

/// `n` as 16 lowercase hex digits into `out`: what `{:016x}` writes,
/// without the formatter (which cost more than the rest of minting).
fn hex_into(out: &mut [u8], mut n: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for digit in out.iter_mut().rev() {
        *digit = DIGITS[(n & 0xf) as usize];
        n >>= 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sane_request_ids_are_echoed() {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID, HeaderValue::from_static("abc-123.x"));
        assert_eq!(request_id(&headers), "abc-123.x");
        headers.insert(REQUEST_ID, HeaderValue::from_static("bad id with spaces"));
        assert_ne!(request_id(&headers), "bad id with spaces");
        let minted = request_id(&HeaderMap::new());
        assert_eq!(minted.len(), 32);
        assert!(minted.as_bytes().iter().all(u8::is_ascii_hexdigit));
    }

    #[test]
    fn hex_digits_are_formatted_as_016x() {
        for n in [0, 1, 0xabc, 0x0123_4567_89ab_cdef, u64::MAX] {
            let mut out = [0u8; 16];
            hex_into(&mut out, n);
            assert_eq!(std::str::from_utf8(&out).unwrap(), format!("{n:016x}"));
        }
    }

    #[test]
    fn minted_ids_differ() {
        let ids: std::collections::HashSet<_> =
            (0..1000).map(|_| request_id(&HeaderMap::new())).collect();
        assert_eq!(ids.len(), 1000);
    }
}
