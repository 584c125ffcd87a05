//! Which addresses webhooks may reach. Anyone signed in may register a
//! webhook, and the service POSTs to it from inside the platform's network:
//! unchecked, a webhook could reach the service itself, other pods, the
//! cloud's metadata endpoint (169.254.169.254) or the operator's private
//! network. So webhooks reach the public internet only, plus the private
//! blocks an operator allow-lists (`webhook.allowed_private_cidrs`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A block of addresses, `10.0.0.0/8` or `fd00::/8`; a bare address is a
/// block of one. Bits past the prefix must be zero (`10.0.0.1/8` is
/// refused: it is more likely a typo than a wish for all of 10/8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` lies in the block (never across families).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => in_v4(ip, net, self.prefix),
            (IpAddr::V6(net), IpAddr::V6(ip)) => in_v6(ip, net, self.prefix),
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    /// Why not, in English: for the operator's configuration error.
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("{text:?} is not an address block, e.g. 10.20.0.0/16 or fd00::/8"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {max}"))?,
        };
        let start = match network {
            IpAddr::V4(ip) => IpAddr::V4(Ipv4Addr::from(u32::from(ip) & mask_v4(prefix))),
            IpAddr::V6(ip) => IpAddr::V6(Ipv6Addr::from(u128::from(ip) & mask_v6(prefix))),
        };
        if start != network {
            return Err(format!(
                "{text:?} has bits set past the prefix: did you mean {start}/{prefix}?"
            ));
        }
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn mask_v4(prefix: u8) -> u32 {
    // A shift by the full width (prefix 0) overflows: that mask is empty.
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask_v6(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

fn in_v4(ip: Ipv4Addr, network: Ipv4Addr, prefix: u8) -> bool {
    (u32::from(ip) & mask_v4(prefix)) == u32::from(network)
}

fn in_v6(ip: Ipv6Addr, network: Ipv6Addr, prefix: u8) -> bool {
    (u128::from(ip) & mask_v6(prefix)) == u128::from(network)
}

/// IPv4 blocks that are not the public internet (the IANA special-purpose
/// registry, RFC 6890 and its successors).
const NOT_PUBLIC_V4: [(Ipv4Addr, u8); 15] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8),       // "this network"
    (Ipv4Addr::new(10, 0, 0, 0), 8),      // private (RFC 1918)
    (Ipv4Addr::new(100, 64, 0, 0), 10),   // shared address space (carrier-grade NAT)
    (Ipv4Addr::new(127, 0, 0, 0), 8),     // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16),  // link-local: clouds serve instance metadata here
    (Ipv4Addr::new(172, 16, 0, 0), 12),   // private
    (Ipv4Addr::new(192, 0, 0, 0), 24),    // IETF protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24),    // documentation (TEST-NET-1)
    (Ipv4Addr::new(192, 88, 99, 0), 24),  // 6to4 relay anycast (deprecated)
    (Ipv4Addr::new(192, 168, 0, 0), 16),  // private
    (Ipv4Addr::new(198, 18, 0, 0), 15),   // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24), // documentation (TEST-NET-2)
    (Ipv4Addr::new(203, 0, 113, 0), 24),  // documentation (TEST-NET-3)
    (Ipv4Addr::new(224, 0, 0, 0), 4),     // multicast
    (Ipv4Addr::new(240, 0, 0, 0), 4),     // reserved, with the broadcast 255.255.255.255
];

/// Blocks inside IPv6 global unicast (2000::/3) that are not the public
/// internet either.
const NOT_PUBLIC_V6: [(Ipv6Addr, u8); 3] = [
    // IETF protocol assignments: Teredo, benchmarking, ORCHID and the like.
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20),     // documentation (RFC 9637)
];

/// The IPv4 address an IPv6 one leads to, if it carries one: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, deprecated), NAT64
/// (`64:ff9b::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::/48`).
pub fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let last = Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(last),
        // `::` and `::1` are IPv6's own unspecified and loopback addresses.
        [0, 0, 0, 0, 0, 0, _, _] if u128::from(ip) > 1 => Some(last),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(last),
        [0x2002, high, low, ..] => Some(Ipv4Addr::from((u32::from(high) << 16) | u32::from(low))),
        _ => None,
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    !NOT_PUBLIC_V4
        .iter()
        .any(|(network, prefix)| in_v4(ip, *network, *prefix))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    // Only global unicast is routed on the internet: loopback (::1),
    // unspecified (::), unique-local (fc00::/7), link-local (fe80::/10),
    // site-local, multicast (ff00::/8), discard-only (100::/64) and
    // local-use NAT64 (64:ff9b:1::/48) all lie outside it.
    in_v6(ip, Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3)
        && !NOT_PUBLIC_V6
            .iter()
            .any(|(network, prefix)| in_v6(ip, *network, *prefix))
}

/// Whether `ip` is an address of the public internet: not loopback,
/// unspecified, private, shared (CGNAT), link-local, unique-local,
/// multicast, broadcast, reserved, or set aside for documentation or
/// benchmarks. An IPv6 address that carries an IPv4 one is judged by the
/// IPv4 address, since that is where it leads.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_ipv4(v6) {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

/// Where webhooks may be sent: the public internet, and the private blocks
/// the operator allow-listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allowed: Vec<Cidr>,
}

impl AddressPolicy {
    pub fn new(allowed: Vec<Cidr>) -> Self {
        AddressPolicy { allowed }
    }

    /// Whether a webhook may be sent to `ip`. An allow-listed IPv4 block
    /// also admits the IPv6 forms that lead to its addresses.
    pub fn permits(&self, ip: IpAddr) -> bool {
        if is_public(ip) {
            return true;
        }
        let embedded = match ip {
            IpAddr::V6(v6) => embedded_ipv4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.allowed
            .iter()
            .any(|block| block.contains(ip) || embedded.is_some_and(|v4| block.contains(v4)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn public_addresses_are_public() {
        for text in [
            "1.1.1.1",
            "8.8.8.8",
            "114.114.114.114",
            "223.5.5.5",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2400:3200::1",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip(text)), "{text}");
        }
    }

    #[test]
    fn private_and_special_addresses_are_not() {
        for text in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "100::1",
            "2001::1",
            "2001:2::1",
            "2001:db8::1",
            "3fff::1",
            "64:ff9b:1::1",
            "5f00::1",
        ] {
            assert!(!is_public(ip(text)), "{text}");
        }
    }

    #[test]
    fn ipv6_forms_of_ipv4_addresses_are_judged_by_the_ipv4_address() {
        for text in [
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
        ] {
            assert!(!is_public(ip(text)), "{text}");
        }
        assert_eq!(
            embedded_ipv4("::ffff:7f00:1".parse().unwrap()),
            Some(Ipv4Addr::new(127, 0, 0, 1))
        );
        assert_eq!(
            embedded_ipv4("2002:c0a8:101::".parse().unwrap()),
            Some(Ipv4Addr::new(192, 168, 1, 1))
        );
        assert_eq!(embedded_ipv4(Ipv6Addr::LOCALHOST), None);
        assert_eq!(embedded_ipv4(Ipv6Addr::UNSPECIFIED), None);
        assert_eq!(embedded_ipv4("2400:3200::1".parse().unwrap()), None);
    }

    #[test]
    fn blocks_parse_strictly() {
        let block: Cidr = "10.20.0.0/16".parse().unwrap();
        assert_eq!(block.to_string(), "10.20.0.0/16");
        assert!(block.contains(ip("10.20.255.1")));
        assert!(!block.contains(ip("10.21.0.1")));
        assert!(!block.contains(ip("::ffff:10.20.0.1")), "families never mix");
        let one: Cidr = " 192.168.1.5 ".parse().unwrap();
        assert_eq!(one.to_string(), "192.168.1.5/32");
        assert!(one.contains(ip("192.168.1.5")) && !one.contains(ip("192.168.1.6")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")) && all.contains(ip("10.0.0.1")));
        let ula: Cidr = "fd00::/8".parse().unwrap();
        assert!(ula.contains(ip("fd12::1")) && !ula.contains(ip("fc00::1")));
        let every6: Cidr = "::/0".parse().unwrap();
        assert!(every6.contains(ip("::1")));
        assert_eq!("::1".parse::<Cidr>().unwrap().to_string(), "::1/128");
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/x",
            "localhost",
            "10.0.0/8",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?}");
        }
        let typo = "10.0.0.1/8".parse::<Cidr>().unwrap_err();
        assert!(typo.contains("10.0.0.0/8"), "{typo}");
    }

    #[test]
    fn the_allow_list_admits_its_blocks_only() {
        let none = AddressPolicy::default();
        assert!(none.permits(ip("8.8.8.8")));
        assert!(!none.permits(ip("127.0.0.1")));
        assert!(!none.permits(ip("::1")));
        assert!(!none.permits(ip("169.254.169.254")));

        let loopback = AddressPolicy::new(vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]);
        assert!(loopback.permits(ip("127.0.0.1")));
        assert!(loopback.permits(ip("::1")));
        assert!(
            loopback.permits(ip("::ffff:127.0.0.1")),
            "the mapped form of an allowed address"
        );
        assert!(loopback.permits(ip("1.1.1.1")));
        assert!(!loopback.permits(ip("10.0.0.1")));
        assert!(!loopback.permits(ip("169.254.169.254")));
        assert!(!loopback.permits(ip("fe80::1")));

        let relay = AddressPolicy::new(vec!["10.20.0.0/16".parse().unwrap()]);
        assert!(relay.permits(ip("10.20.3.4")));
        assert!(!relay.permits(ip("10.21.3.4")));
        assert!(!relay.permits(ip("127.0.0.1")));
    }
}
