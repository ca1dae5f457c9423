//! IP addresses as text, as `IpAddr`'s `Display` writes them, for the
//! lines and keys written on every request (the access line's client, a
//! throttle window's key). A v4 address is written digit by digit: the
//! standard formatter first writes it into a buffer of its own to honour a
//! width nobody asks for here, ~1k instructions an address
//! (bench/callgrind.sh).

use std::fmt;
use std::net::IpAddr;

/// Displays the address as `IpAddr` does.
pub struct IpText(pub IpAddr);

impl fmt::Display for IpText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let IpAddr::V4(v4) = self.0 else {
            return fmt::Display::fmt(&self.0, f);
        };
        let mut text = [0u8; 15];
        let mut len = 0;
        for (i, octet) in v4.octets().into_iter().enumerate() {
            if i > 0 {
                text[len] = b'.';
                len += 1;
            }
            if octet >= 100 {
                text[len] = b'0' + octet / 100;
                len += 1;
            }
            if octet >= 10 {
                text[len] = b'0' + octet / 10 % 10;
                len += 1;
            }
            text[len] = b'0' + octet % 10;
            len += 1;
        }
        f.write_str(std::str::from_utf8(&text[..len]).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_addresses_are_written_as_their_display() {
        let addresses: [IpAddr; 7] = [
            [127, 0, 0, 1].into(),
            [0, 0, 0, 0].into(),
            [255, 255, 255, 255].into(),
            [10, 100, 9, 99].into(),
            [192, 0, 2, 250].into(),
            "2001:db8::1".parse().unwrap(),
            "::ffff:192.0.2.1".parse().unwrap(),
        ];
        for address in addresses {
            assert_eq!(IpText(address).to_string(), address.to_string());
        }
    }
}
