//! Where a request came from: the client's IP address (as resolved through
//! `http.trusted_proxies` at the HTTP edge) and its `User-Agent`, cut to
//! [`MAX_USER_AGENT_CHARS`]. Sessions record one at login and one at each
//! refresh, so their owners and admins can tell their sessions apart; the
//! bound keeps a client from storing kilobytes per request.

use std::net::IpAddr;

/// The most characters of a `User-Agent` kept; real ones are well below it.
pub const MAX_USER_AGENT_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    ip: IpAddr,
    user_agent: Option<String>,
}

impl ClientInfo {
    /// `user_agent` is `None` when the request had none; otherwise it is
    /// kept as given, cut to [`MAX_USER_AGENT_CHARS`] characters.
    pub fn new(ip: IpAddr, user_agent: Option<&str>) -> ClientInfo {
        let user_agent =
            user_agent.map(
                |agent| match agent.char_indices().nth(MAX_USER_AGENT_CHARS) {
                    Some((end, _)) => agent[..end].to_string(),
                    None => agent.to_string(),
                },
            );
        ClientInfo {
            ip: ip.to_canonical(),
            user_agent,
        }
    }

    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_user_agent_is_cut_on_a_character_boundary() {
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let long = "é".repeat(300);
        let client = ClientInfo::new(ip, Some(&long));
        assert_eq!(
            client.user_agent().unwrap().chars().count(),
            MAX_USER_AGENT_CHARS
        );
        assert_eq!(
            ClientInfo::new(ip, Some("curl/8.5.0")).user_agent(),
            Some("curl/8.5.0")
        );
        assert_eq!(ClientInfo::new(ip, None).user_agent(), None);
    }

    #[test]
    fn an_ipv4_mapped_address_is_kept_as_ipv4() {
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(ClientInfo::new(mapped, None).ip().to_string(), "192.0.2.7");
    }
}
