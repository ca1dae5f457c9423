//! Cross-site request checks for the refresh cookie.
//!
//! `SameSite=Lax` (or `Strict`) stops other sites, but a sibling subdomain is
//! the same site: a page on `blog.example.com` could post to
//! `auth.example.com`'s refresh or logout and have the browser attach the
//! cookie. So when refresh or logout takes the token from the cookie, a
//! request that says it comes from a page of another origin is refused with
//! 403 `csrf_failed`: an `Origin` that is neither the server's own nor in
//! `http.cors_allowed_origins`, or, without `Origin`, `Sec-Fetch-Site`
//! other than `same-origin`/`none`. A request with neither header is not a
//! browser's and passes (the cookie is a browser's convenience; clients
//! that send the token in the body are unaffected). The server's own
//! origin is `http.public_url` when set, else the request's scheme and
//! `Host`, the scheme from `X-Forwarded-Proto` when the peer is a trusted
//! proxy.

use std::net::IpAddr;

use hyper::header::{HOST, ORIGIN};
use hyper::HeaderMap;

use super::error::ApiError;
use crate::config::HttpConfig;

const SEC_FETCH_SITE: &str = "sec-fetch-site";
const X_FORWARDED_PROTO: &str = "x-forwarded-proto";

/// Refuses a cookie-carried token sent from a page of another origin.
pub fn check_cookie_request(
    http: &HttpConfig,
    headers: &HeaderMap,
    peer: IpAddr,
) -> Result<(), ApiError> {
    if let Some(origin) = headers.get(ORIGIN) {
        let origin = origin.to_str().map_err(|_| ApiError::CsrfFailed)?;
        let own = own_origin(http, headers, peer);
        let allowed = own
            .as_deref()
            .is_some_and(|own| own.eq_ignore_ascii_case(origin))
            || http
                .cors_allowed_origins
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(origin));
        return if allowed {
            Ok(())
        } else {
            Err(ApiError::CsrfFailed)
        };
    }
    match headers.get(SEC_FETCH_SITE).map(|v| v.as_bytes()) {
        None | Some(b"same-origin" | b"none") => Ok(()),
        Some(_) => Err(ApiError::CsrfFailed),
    }
}

/// `scheme://host[:port]` of this server as browsers name it.
fn own_origin(http: &HttpConfig, headers: &HeaderMap, peer: IpAddr) -> Option<String> {
    if let Some(url) = &http.public_url {
        return Some(url.trim_end_matches('/').to_string());
    }
    let host = headers.get(HOST)?.to_str().ok()?;
    let behind_proxy = http.trusted_proxies.iter().any(|net| net.contains(&peer));
    let scheme = headers
        .get(X_FORWARDED_PROTO)
        .filter(|_| behind_proxy)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').next().unwrap_or("").trim())
        .filter(|v| matches!(*v, "http" | "https"))
        .unwrap_or("http");
    Some(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                hyper::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn check(http: &HttpConfig, pairs: &[(&str, &str)], peer: &str) -> bool {
        check_cookie_request(http, &headers(pairs), peer.parse().unwrap()).is_ok()
    }

    #[test]
    fn the_own_origin_and_listed_origins_pass_others_do_not() {
        let mut http = crate::config::Config::default().http;
        http.cors_allowed_origins = vec!["https://app.example.com".into()];
        let local = "127.0.0.1";
        let host = ("host", "auth.example.com");
        assert!(
            check(&http, &[host], local),
            "no browser headers: not a browser"
        );
        assert!(check(
            &http,
            &[host, ("origin", "http://auth.example.com")],
            local
        ));
        assert!(check(
            &http,
            &[host, ("origin", "https://app.example.com")],
            local
        ));
        assert!(!check(
            &http,
            &[host, ("origin", "https://blog.example.com")],
            local
        ));
        assert!(!check(&http, &[host, ("origin", "null")], local));
        assert!(
            !check(
                &http,
                &[host, ("origin", "https://auth.example.com")],
                local
            ),
            "https is another origin unless a trusted proxy says so"
        );
        assert!(check(
            &http,
            &[host, ("sec-fetch-site", "same-origin")],
            local
        ));
        assert!(check(&http, &[host, ("sec-fetch-site", "none")], local));
        assert!(!check(
            &http,
            &[host, ("sec-fetch-site", "same-site")],
            local
        ));
        assert!(!check(
            &http,
            &[host, ("sec-fetch-site", "cross-site")],
            local
        ));
    }

    #[test]
    fn a_trusted_proxy_names_the_scheme_and_public_url_wins() {
        let mut http = crate::config::Config::default().http;
        http.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
        let pairs = [
            ("host", "auth.example.com"),
            ("x-forwarded-proto", "https"),
            ("origin", "https://auth.example.com"),
        ];
        assert!(check(&http, &pairs, "10.0.0.2"));
        assert!(
            !check(&http, &pairs, "192.0.2.1"),
            "an untrusted peer's header is ignored"
        );
        http.public_url = Some("https://login.example.com/".into());
        assert!(!check(&http, &pairs, "10.0.0.2"));
        assert!(check(
            &http,
            &[("host", "x"), ("origin", "https://login.example.com")],
            "192.0.2.1"
        ));
    }
}
