//! The `Host` check (`http.allowed_hosts`, Django's `ALLOWED_HOSTS`).
//!
//! The header is parsed as an authority (RFC 3986 `host [":" port]`) before
//! it is compared: a bracketed IPv6 literal must end the name
//! (`[::1]evil.com` is no host at all), a port is digits only, a name is
//! letters, digits, `-`, `.` and `_`, and a request with two `Host` headers
//! is refused rather than judged by its first. Probes (`/healthz`,
//! `/readyz`) skip the check: load balancers ask them by address.

use std::net::Ipv6Addr;

use hyper::header::HOST;
use hyper::{HeaderMap, Uri};

/// True when the request names one well-formed host that `allowed` lists
/// (`*` for any; `.example.com` for the domain and its subdomains).
pub fn host_allowed(allowed: &[String], headers: &HeaderMap, uri: &Uri) -> bool {
    let Some(name) = request_host(headers, uri) else {
        return false;
    };
    allowed.iter().any(|pattern| {
        if pattern == "*" {
            return true;
        }
        match pattern.strip_prefix('.') {
            Some(domain) => {
                name.eq_ignore_ascii_case(domain)
                    || (name.len() > domain.len()
                        && name.as_bytes()[name.len() - domain.len() - 1] == b'.'
                        && name[name.len() - domain.len()..].eq_ignore_ascii_case(domain))
            }
            None => name.eq_ignore_ascii_case(pattern),
        }
    })
}

/// The request's host name (without port), if its `Host` (or, without one,
/// its absolute URI's authority) is a single well-formed authority.
fn request_host<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> Option<&'a str> {
    let mut values = headers.get_all(HOST).iter();
    let host = match (values.next(), values.next()) {
        (Some(value), None) => value.to_str().ok()?,
        (None, _) => uri.authority()?.as_str(),
        (Some(_), Some(_)) => return None,
    };
    parse_authority(host)
}

/// `host [":" port]` -> host; `None` unless the whole text is that.
fn parse_authority(text: &str) -> Option<&str> {
    let (name, port) = match text.strip_prefix('[') {
        Some(rest) => {
            let end = rest.find(']')?;
            rest[..end].parse::<Ipv6Addr>().ok()?;
            text.split_at(end + 2)
        }
        None => text.split_at(text.find(':').unwrap_or(text.len())),
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|digits| digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit()));
    let name_ok = name.starts_with('[')
        || (!name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')));
    (port_ok && name_ok).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_authorities_parse() {
        for (text, name) in [
            ("example.com", Some("example.com")),
            ("example.com:8000", Some("example.com")),
            ("[::1]", Some("[::1]")),
            ("[::1]:8000", Some("[::1]")),
            ("[::1]evil.com", None),
            ("[::1]:80evil", None),
            ("[evil.com]", None),
            ("::1", None),
            ("example.com:80:80", None),
            ("evil.com@example.com", None),
            ("example.com/x", None),
            ("", None),
            (":80", None),
        ] {
            assert_eq!(parse_authority(text), name, "{text:?}");
        }
    }

    #[test]
    fn two_host_headers_are_no_host() {
        let allowed = vec!["*".to_string()];
        let uri: Uri = "/".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.append(HOST, "localhost".parse().unwrap());
        assert!(host_allowed(&allowed, &headers, &uri));
        headers.append(HOST, "evil.com".parse().unwrap());
        assert!(!host_allowed(&allowed, &headers, &uri));
    }

    #[test]
    fn patterns_match_names_and_subdomains() {
        let allowed = vec!["api.example.com".to_string(), ".example.org".to_string()];
        let uri: Uri = "/".parse().unwrap();
        let check = |host: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(HOST, host.parse().unwrap());
            host_allowed(&allowed, &headers, &uri)
        };
        assert!(check("API.example.com:443"));
        assert!(check("example.org") && check("a.b.example.org"));
        assert!(
            !check("badexample.org") && !check("example.com") && !check("[::1]api.example.com")
        );
    }
}
