//! The network a client is counted by: an IPv4 address, or the IPv6 prefix
//! (`throttle.ipv6_prefix`, a /64 by default) that holds the address.
//!
//! One IPv6 subscriber commonly owns a whole /64 and can pick any of its
//! 2^64 addresses for each request, so counting per /128 would let one
//! client through as many times as it likes. IPv4-mapped IPv6 addresses
//! (`::ffff:192.0.2.9`) are the IPv4 address, so a dual-stack socket
//! counts one client once.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use crate::ip_text::IpText;

/// The default IPv6 prefix length: one subscriber's LAN.
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientNet {
    /// The address with the host bits cleared (IPv4 kept whole).
    network: IpAddr,
    /// The IPv6 prefix length; 32 for IPv4.
    prefix: u8,
}

impl ClientNet {
    /// The network of `ip`, counting IPv6 per `/ipv6_prefix` (at most 128).
    pub fn new(ip: IpAddr, ipv6_prefix: u8) -> ClientNet {
        match ip.to_canonical() {
            IpAddr::V4(v4) => ClientNet {
                network: IpAddr::V4(v4),
                prefix: 32,
            },
            IpAddr::V6(v6) => {
                let prefix = ipv6_prefix.min(128);
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                ClientNet {
                    network: IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask)),
                    prefix,
                }
            }
        }
    }
}

/// `203.0.113.9`, `2001:db8:1:2::/64`, or `2001:db8::1` when counting per /128.
impl fmt::Display for ClientNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.network {
            IpAddr::V6(v6) if self.prefix < 128 => write!(f, "{v6}/{}", self.prefix),
            ip => fmt::Display::fmt(&IpText(ip), f),
        }
    }
}

/// Reads back what `Display` writes (for `authd throttle show`).
impl FromStr for ClientNet {
    type Err = ();
    fn from_str(text: &str) -> Result<ClientNet, ()> {
        let (ip, prefix) = match text.split_once('/') {
            Some((ip, prefix)) => (ip, prefix.parse::<u8>().map_err(|_| ())?),
            None => (text, 128),
        };
        let ip: IpAddr = ip.parse().map_err(|_| ())?;
        let net = ClientNet::new(ip, prefix);
        match (ip, net.network == ip) {
            (IpAddr::V6(_), true) if prefix <= 128 => Ok(net),
            (IpAddr::V4(_), true) if !text.contains('/') => Ok(net),
            _ => Err(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(ip: &str, prefix: u8) -> String {
        ClientNet::new(ip.parse().unwrap(), prefix).to_string()
    }

    #[test]
    fn ipv6_is_counted_per_prefix_and_ipv4_whole() {
        assert_eq!(net("2001:db8:1:2:aaaa::1", 64), "2001:db8:1:2::/64");
        assert_eq!(net("2001:db8:1:2:ffff::9", 64), "2001:db8:1:2::/64");
        assert_eq!(net("2001:db8:1:3::1", 64), "2001:db8:1:3::/64");
        assert_eq!(net("2001:db8:1:3::1", 48), "2001:db8:1::/48");
        assert_eq!(net("2001:db8::1", 128), "2001:db8::1");
        assert_eq!(net("2001:db8::1", 0), "::/0");
        assert_eq!(net("203.0.113.9", 64), "203.0.113.9");
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4() {
        assert_eq!(net("::ffff:192.0.2.9", 64), "192.0.2.9");
        assert_eq!(
            ClientNet::new("::ffff:192.0.2.9".parse().unwrap(), 64),
            ClientNet::new("192.0.2.9".parse().unwrap(), 64)
        );
    }

    #[test]
    fn what_display_writes_parses_back() {
        for text in ["203.0.113.9", "2001:db8:1:2::/64", "2001:db8::1", "::/0"] {
            assert_eq!(
                text.parse::<ClientNet>().map(|n| n.to_string()),
                Ok(text.into())
            );
        }
        for bad in ["ip", "2001:db8::1/64", "1.2.3.4/32", "1.2.3.4/x", ""] {
            assert!(bad.parse::<ClientNet>().is_err(), "{bad}");
        }
    }
}
