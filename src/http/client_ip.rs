//! The client's IP address: the socket peer, unless the peer is a trusted
//! proxy (`http.trusted_proxies`). Then the forwarding chain of the one
//! header the proxies set (`http.forwarded_header`: `X-Forwarded-For`, or
//! `Forwarded` `for=` values) is walked from the right, and the first
//! address that is not itself a trusted proxy is the client: anything left
//! of it was written by the client and proves nothing. The other header is
//! never read: a proxy that sets only one passes the other through as the
//! client wrote it. An entry that is not an IP address stops the walk and
//! the peer is used. IPv4-mapped IPv6 addresses are read as IPv4.

use std::net::IpAddr;

use hyper::HeaderMap;
use ipnet::IpNet;

use crate::config::ForwardedHeader;

pub fn client_ip(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[IpNet],
    header: ForwardedHeader,
) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if trusted.is_empty() || !is_trusted(&peer) {
        return peer;
    }
    let chain = forwarded_chain(headers, header);
    for entry in chain.iter().rev() {
        match entry {
            Some(ip) if is_trusted(ip) => continue,
            Some(ip) => return *ip,
            None => return peer,
        }
    }
    peer
}

/// The hops of the forwarding header, left to right; `None` for an entry
/// that is not an address (`unknown`, obfuscated names, garbage).
fn forwarded_chain(headers: &HeaderMap, header: ForwardedHeader) -> Vec<Option<IpAddr>> {
    let joined = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",")
    };
    match header {
        ForwardedHeader::Forwarded => joined("forwarded")
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.trim().split_once('='))
                    .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, value)| parse_node(value))
            })
            .collect(),
        ForwardedHeader::XForwardedFor => joined("x-forwarded-for")
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(parse_node)
            .collect(),
    }
}

/// `192.0.2.1`, `"[2001:db8::1]:4711"`, `192.0.2.1:80`.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let text = raw.trim().trim_matches('"');
    let ip = if let Ok(ip) = text.parse::<IpAddr>() {
        Some(ip)
    } else if let Some(rest) = text.strip_prefix('[') {
        rest.split_once(']')
            .and_then(|(ip, _)| ip.parse::<IpAddr>().ok())
    } else {
        text.rsplit_once(':')
            .and_then(|(ip, _)| ip.parse::<IpAddr>().ok())
    };
    ip.map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    const XFF: ForwardedHeader = ForwardedHeader::XForwardedFor;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn with(name: &'static str, value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn untrusted_peers_cannot_choose_their_ip() {
        let headers = with("x-forwarded-for", "1.2.3.4");
        assert_eq!(
            client_ip(ip("203.0.113.9"), &headers, &[], XFF),
            ip("203.0.113.9")
        );
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            client_ip(ip("203.0.113.9"), &headers, &trusted, XFF),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        let spoofed = with("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.2");
        assert_eq!(
            client_ip(ip("10.0.0.1"), &spoofed, &trusted, XFF),
            ip("198.51.100.7")
        );
        let forwarded = with(
            "forwarded",
            "for=6.6.6.6, for=\"[2001:db8::7]:4711\";proto=https, for=10.0.0.3",
        );
        assert_eq!(
            client_ip(
                ip("10.0.0.1"),
                &forwarded,
                &trusted,
                ForwardedHeader::Forwarded
            ),
            ip("2001:db8::7")
        );
        let garbage = with("x-forwarded-for", "1.2.3.4, not-an-ip");
        assert_eq!(
            client_ip(ip("10.0.0.1"), &garbage, &trusted, XFF),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &HeaderMap::new(), &trusted, XFF),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        let mut both = with("x-forwarded-for", "203.0.113.7");
        both.insert("forwarded", HeaderValue::from_static("for=198.51.100.9"));
        assert_eq!(
            client_ip(ip("10.0.0.1"), &both, &trusted, XFF),
            ip("203.0.113.7"),
            "a client-written Forwarded is ignored"
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &both, &trusted, ForwardedHeader::Forwarded),
            ip("198.51.100.9")
        );
        let only_forwarded = with("forwarded", "for=198.51.100.9");
        assert_eq!(
            client_ip(ip("10.0.0.1"), &only_forwarded, &trusted, XFF),
            ip("10.0.0.1"),
            "the header the proxy does not set is never believed"
        );
    }

    #[test]
    fn ipv4_mapped_hops_are_plain_ipv4() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        for hop in ["::ffff:192.0.2.9", "[::ffff:192.0.2.9]:4711"] {
            let mut headers = HeaderMap::new();
            headers.insert("x-forwarded-for", HeaderValue::from_str(hop).unwrap());
            assert_eq!(
                client_ip(ip("10.0.0.1"), &headers, &trusted, XFF),
                ip("192.0.2.9"),
                "{hop}"
            );
        }
    }

    #[test]
    fn ipv4_mapped_peers_are_plain_ipv4() {
        assert_eq!(
            client_ip(ip("::ffff:192.0.2.1"), &HeaderMap::new(), &[], XFF),
            ip("192.0.2.1")
        );
    }
}
