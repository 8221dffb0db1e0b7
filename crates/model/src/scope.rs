//! Traffic classes of a remote address: its family and its scope — `loopback`, `lan` or
//! `internet` — decided here once for every view that splits by them (issue 33: a metered
//! uplink or a monthly quota counts what left the site; a nightly backup to the NAS should
//! not eat it).
//!
//! - `loopback`: 127.0.0.0/8, ::1, and the unspecified 0.0.0.0 and :: (Linux delivers a send
//!   to them to the host itself);
//! - `lan`: RFC 1918 (10/8, 172.16/12, 192.168/16), RFC 6598 shared space (100.64/10, a
//!   carrier's NAT), link-local (169.254/16, fe80::/10), RFC 4193 unique local (fc00::/7),
//!   link-local multicast (224.0.0.0/24, ff02::/16) and the limited broadcast
//!   255.255.255.255 — plus the networks listed in the config (`[scopes] lan`, e.g. a site's
//!   public range or a VPN's);
//! - `internet`: everything else.
//!
//! An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, an IPv4 peer of a dual-stack socket) is its
//! IPv4 address: family and scope.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where a remote address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Loopback,
    Lan,
    Internet,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Loopback, Scope::Lan, Scope::Internet];

    /// As commands, columns and labels write it.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Loopback => "loopback",
            Scope::Lan => "lan",
            Scope::Internet => "internet",
        }
    }
}

/// The address family traffic used on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }
}

/// A network: an address and a prefix length, host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    fn contains(&self, a: IpAddr) -> bool {
        match (self.addr, a) {
            (IpAddr::V4(n), IpAddr::V4(a)) => mask32(u32::from(a), self.prefix) == u32::from(n),
            (IpAddr::V6(n), IpAddr::V6(a)) => mask128(u128::from(a), self.prefix) == u128::from(n),
            _ => false,
        }
    }
}

fn mask32(v: u32, prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => v & (u32::MAX << (32 - u32::from(p.min(32)))),
    }
}

fn mask128(v: u128, prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p => v & (u128::MAX << (128 - u32::from(p.min(128)))),
    }
}

/// The networks a config adds to `lan` (`[scopes] lan = ["203.0.113.0/24", "fd12::/16"]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Networks(Vec<Net>);

impl Networks {
    /// At most this many (each address of a report is checked against every one).
    pub const MAX: usize = 1024;

    /// Parses `ADDR/PREFIX` (or a bare address: that one host) per entry. An error names the
    /// entry: not an address, a prefix past the family's length, host bits set (a typo that
    /// would silently mean a different network), or more than [`Networks::MAX`].
    pub fn parse<S: AsRef<str>>(list: &[S]) -> Result<Networks, String> {
        if list.len() > Self::MAX {
            return Err(format!("{} networks; at most {}", list.len(), Self::MAX));
        }
        list.iter()
            .map(|s| {
                let s = s.as_ref();
                let (addr, prefix) = match s.split_once('/') {
                    Some((a, p)) => (a, Some(p)),
                    None => (s, None),
                };
                let addr: IpAddr = addr.trim().parse().map_err(|_| {
                    format!(
                        "\"{}\": not an IPv4 or IPv6 network (ADDR/PREFIX)",
                        crate::names::escape_text(s)
                    )
                })?;
                let bits = match addr {
                    IpAddr::V4(_) => 32,
                    IpAddr::V6(_) => 128,
                };
                let prefix = match prefix {
                    None => bits,
                    Some(p) => p
                        .trim()
                        .parse::<u8>()
                        .ok()
                        .filter(|p| *p <= bits)
                        .ok_or_else(|| {
                            format!(
                                "\"{}\": the prefix length must be 0 to {bits}",
                                crate::names::escape_text(s)
                            )
                        })?,
                };
                let net = Net {
                    addr: network(addr, prefix),
                    prefix,
                };
                if net.addr != addr {
                    return Err(format!(
                        "\"{}\": host bits set (the network is {}/{prefix})",
                        crate::names::escape_text(s),
                        net.addr
                    ));
                }
                Ok(net)
            })
            .collect::<Result<_, _>>()
            .map(Networks)
    }

    fn contains(&self, a: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(a))
    }
}

fn network(a: IpAddr, prefix: u8) -> IpAddr {
    match a {
        IpAddr::V4(v) => IpAddr::V4(Ipv4Addr::from(mask32(u32::from(v), prefix))),
        IpAddr::V6(v) => IpAddr::V6(Ipv6Addr::from(mask128(u128::from(v), prefix))),
    }
}

/// The family and scope of remote address `a`, with the config's `lan` networks.
pub fn class(a: IpAddr, lan: &Networks) -> (Family, Scope) {
    // an IPv4 peer of a dual-stack socket is IPv4 traffic
    let a = match a {
        IpAddr::V6(v) => v.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    };
    let family = match a {
        IpAddr::V4(_) => Family::Ipv4,
        IpAddr::V6(_) => Family::Ipv6,
    };
    let scope = if a.is_loopback() || a.is_unspecified() {
        Scope::Loopback
    } else if builtin_lan(a) || lan.contains(a) {
        Scope::Lan
    } else {
        Scope::Internet
    };
    (family, scope)
}

/// The family and scope of an address as the store keeps it (its text), or of a row standing
/// for a process's other hosts of one class ([`rest_of`]); None when it is neither (the
/// classless `*` of databases recorded before, a crafted database's text).
pub fn class_of_text(text: &str, lan: &Networks) -> Option<(Family, Scope)> {
    if let Some(marker) = text.strip_prefix('*') {
        return rest_class(marker);
    }
    text.parse().ok().map(|a| class(a, lan))
}

/// The stored name of a process's hosts beyond its busiest, of one class: `*SCOPE/FAMILY`
/// (`*internet/ipv6`). Classified when recorded, with the built-in networks only (the
/// config's `[scopes] lan` applies to the hosts kept by name, whenever reported).
pub fn rest_of(c: (Family, Scope)) -> String {
    format!("*{}/{}", c.1.name(), c.0.name())
}

/// A traffic class as it is recorded with what keeps no address of its own (a port's bytes,
/// a process's folded rest of hosts): `*SCOPE/FAMILY` of the address text `addr` by the
/// built-in ranges; empty when it is no address (a peer not known).
pub fn class_marker(addr: &str) -> String {
    class_of_text(addr, &Networks::default())
        .map(rest_of)
        .unwrap_or_default()
}

fn rest_class(marker: &str) -> Option<(Family, Scope)> {
    let (scope, family) = marker.split_once('/')?;
    let scope = Scope::ALL.into_iter().find(|s| s.name() == scope)?;
    let family = [Family::Ipv4, Family::Ipv6]
        .into_iter()
        .find(|f| f.name() == family)?;
    Some((family, scope))
}

/// Whether a stored host stands for many (`*`, or `*SCOPE/FAMILY`).
pub fn is_rest(text: &str) -> bool {
    text.starts_with('*')
}

fn builtin_lan(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => {
            let o = v.octets();
            v.is_private() // 10/8, 172.16/12, 192.168/16
                || v.is_link_local() // 169.254/16
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64/10
                || (o[0] == 224 && o[1] == 0 && o[2] == 0) // 224.0.0.0/24
                || v.is_broadcast()
        }
        IpAddr::V6(v) => {
            let s = v.segments();
            (s[0] & 0xfe00) == 0xfc00 // fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // fe80::/10
                || s[0] == 0xff02 // ff02::/16
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn of(s: &str) -> (Family, Scope) {
        class_of_text(s, &Networks::default()).unwrap()
    }

    #[test]
    fn the_builtin_ranges() {
        use Family::*;
        use Scope::*;
        for (a, want) in [
            ("127.0.0.1", (Ipv4, Loopback)),
            ("127.77.0.1", (Ipv4, Loopback)),
            ("0.0.0.0", (Ipv4, Loopback)),
            ("::1", (Ipv6, Loopback)),
            ("::", (Ipv6, Loopback)),
            ("10.0.0.1", (Ipv4, Lan)),
            ("172.16.0.1", (Ipv4, Lan)),
            ("172.31.255.255", (Ipv4, Lan)),
            ("172.32.0.1", (Ipv4, Internet)),
            ("192.168.1.10", (Ipv4, Lan)),
            ("169.254.1.1", (Ipv4, Lan)),
            ("100.64.0.1", (Ipv4, Lan)),
            ("100.127.255.255", (Ipv4, Lan)),
            ("100.128.0.1", (Ipv4, Internet)),
            ("224.0.0.251", (Ipv4, Lan)),
            ("224.0.1.1", (Ipv4, Internet)),
            ("255.255.255.255", (Ipv4, Lan)),
            ("8.8.8.8", (Ipv4, Internet)),
            ("198.51.100.7", (Ipv4, Internet)),
            ("fd00::1", (Ipv6, Lan)),
            ("fc00::1", (Ipv6, Lan)),
            ("fe80::1", (Ipv6, Lan)),
            ("febf::1", (Ipv6, Lan)),
            ("fec0::1", (Ipv6, Internet)),
            ("ff02::fb", (Ipv6, Lan)),
            ("ff05::1", (Ipv6, Internet)),
            ("2001:db8::1", (Ipv6, Internet)),
            // an IPv4 peer of a dual-stack socket is its IPv4 address
            ("::ffff:10.1.2.3", (Ipv4, Lan)),
            ("::ffff:127.0.0.1", (Ipv4, Loopback)),
            ("::ffff:8.8.8.8", (Ipv4, Internet)),
        ] {
            assert_eq!(of(a), want, "{a}");
        }
        assert_eq!(class_of_text("*", &Networks::default()), None);
        assert_eq!(class_of_text("10.0.0.1@web", &Networks::default()), None);
    }

    #[test]
    fn listed_networks_move_addresses_to_lan() {
        let lan = Networks::parse(&["198.51.100.0/24", "2001:db8:1::/48", "203.0.113.9"]).unwrap();
        let c = |s: &str| class_of_text(s, &lan).unwrap().1;
        assert_eq!(c("198.51.100.7"), Scope::Lan);
        assert_eq!(c("::ffff:198.51.100.7"), Scope::Lan);
        assert_eq!(c("198.51.101.7"), Scope::Internet);
        assert_eq!(c("2001:db8:1:ffff::1"), Scope::Lan);
        assert_eq!(c("2001:db8:2::1"), Scope::Internet);
        assert_eq!(c("203.0.113.9"), Scope::Lan);
        assert_eq!(c("203.0.113.10"), Scope::Internet);
        // loopback stays loopback, whatever is listed
        let all = Networks::parse(&["0.0.0.0/0", "::/0"]).unwrap();
        assert_eq!(class_of_text("127.0.0.1", &all).unwrap().1, Scope::Loopback);
        assert_eq!(class_of_text("8.8.8.8", &all).unwrap().1, Scope::Lan);
        assert_eq!(class_of_text("2001:db8::1", &all).unwrap().1, Scope::Lan);
    }

    #[test]
    fn bad_networks_are_refused_by_name() {
        for (bad, says) in [
            ("10.0.0.0/33", "prefix length must be 0 to 32"),
            ("fd00::/129", "0 to 128"),
            ("10.0.0.1/24", "host bits set (the network is 10.0.0.0/24)"),
            ("fd00::1/64", "the network is fd00::/64"),
            ("lan", "not an IPv4 or IPv6 network"),
            ("10.0.0.0/x", "prefix length"),
            ("10.0.0.0/-1", "prefix length"),
            ("\u{202e}10.0.0.0/8", "not an IPv4 or IPv6 network"),
        ] {
            let e = Networks::parse(&[bad]).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(!e.contains('\u{202e}'), "escaped: {e}");
        }
        let many: Vec<String> = (0..=Networks::MAX)
            .map(|i| format!("10.{}.0.0/16", i % 256))
            .collect();
        assert!(Networks::parse(&many).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// A listed network holds exactly the addresses that share its prefix, for both
        /// families, and an IPv4 address is classed the same as its mapped IPv6 form.
        #[test]
        fn a_network_holds_its_prefix_and_mapped_addresses_are_their_ipv4(
            net in any::<u32>(), prefix in 0u8..=32, a in any::<u32>(),
            net6 in any::<u128>(), prefix6 in 0u8..=128, a6 in any::<u128>(),
        ) {
            let n = Ipv4Addr::from(mask32(net, prefix));
            let lan = Networks::parse(&[format!("{n}/{prefix}")]).unwrap();
            let a = Ipv4Addr::from(a);
            let inside = mask32(u32::from(a), prefix) == u32::from(n);
            let (_, s) = class(IpAddr::V4(a), &lan);
            if inside && !a.is_loopback() && !a.is_unspecified() {
                prop_assert_eq!(s, Scope::Lan);
            }
            prop_assert_eq!(class(IpAddr::V6(a.to_ipv6_mapped()), &lan), class(IpAddr::V4(a), &lan));
            let n6 = Ipv6Addr::from(mask128(net6, prefix6));
            let lan6 = Networks::parse(&[format!("{n6}/{prefix6}")]).unwrap();
            let a6 = Ipv6Addr::from(a6);
            let inside6 = mask128(u128::from(a6), prefix6) == u128::from(n6);
            let plain = class(IpAddr::V6(a6), &Networks::default());
            let listed = class(IpAddr::V6(a6), &lan6);
            match (a6.to_ipv4_mapped(), inside6) {
                // (a mapped address is its IPv4's, which an IPv6 network does not hold)
                (Some(_), _) => prop_assert_eq!(listed, plain),
                (None, true) if plain.1 != Scope::Loopback => prop_assert_eq!(listed.1, Scope::Lan),
                (None, false) => prop_assert_eq!(listed, plain),
                _ => {}
            }
        }
    }

    #[test]
    fn the_rest_of_a_class_is_named_and_read_back() {
        let none = Networks::default();
        for c in [
            (Family::Ipv4, Scope::Lan),
            (Family::Ipv6, Scope::Internet),
            (Family::Ipv6, Scope::Loopback),
        ] {
            let name = rest_of(c);
            assert!(is_rest(&name), "{name}");
            assert_eq!(class_of_text(&name, &none), Some(c), "{name}");
        }
        assert_eq!(rest_of((Family::Ipv6, Scope::Internet)), "*internet/ipv6");
        for other in ["*", "*lan", "*lan/ipv5", "*moon/ipv4", "*lan/ipv4/x"] {
            assert_eq!(class_of_text(other, &none), None, "{other}");
        }
        assert!(!is_rest("10.0.0.1"));
    }
}
