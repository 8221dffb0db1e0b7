//! Names as nrec prints them, decided once: untrusted bytes (interface, process, namespace
//! names) become lossless printable text, and an interface is `NAME` in the host's namespace
//! and `NAME@NETNS` in any other. Every view — tables, CSV, JSON, pictures, metrics, alerts,
//! the live view, completions — names things through here, and what a filter or a rule
//! accepts back is what is printed (`crate::filter`).

/// Lossless, printable text of untrusted bytes: `\xNN` for control characters and bytes
/// that are not UTF-8, `\\` for a backslash. Terminal controls and bidi overrides cannot
/// reach a terminal through it.
pub fn escape_bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                c if c.is_control() || is_bidi_control(c) => {
                    let mut buf = [0u8; 4];
                    for byte in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\x{byte:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// Printable text of a stored string that is already text (a systemd unit name, a container
/// id, an address): control characters and bidi overrides as `\xNN`, everything else as is
/// (a unit's own `\x2d` escapes stay as systemd prints them).
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || is_bidi_control(c) {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{byte:02x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Unicode bidirectional controls: they reorder the text around them on a terminal or page.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// An interface as tables print it: `eth0`, or `lo@NETNS` outside the host's namespace
/// (what `--iface` accepts back).
pub fn iface_label(netns: &[u8], name: &[u8]) -> String {
    if netns == b"root" {
        escape_bytes(name)
    } else {
        format!("{}@{}", escape_bytes(name), escape_bytes(netns))
    }
}

/// The names people give interfaces (`[aliases]` of nrec.toml, vnStat's `--setalias`):
/// `"eth0" = "uplink"`, `"lo@web" = "web loopback"`, keyed by the interface as tables print
/// it. Tables and pictures show the alias next to the name (`shown`), `/metrics` as an
/// `alias` label, and every filter takes it wherever a name is taken (`crate::filter`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aliases(Vec<Alias>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Alias {
    netns: Vec<u8>,
    name: Vec<u8>,
    alias: String,
}

/// The longest alias taken: a label, not a description.
pub const ALIAS_MAX: usize = 64;

impl Aliases {
    /// From `(interface, alias)` pairs as written: `NAME` for the host's interface,
    /// `NAME@NETNS` for a namespace's. An empty alias, one longer than `ALIAS_MAX`
    /// characters or one with control characters is refused, named.
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Aliases, String> {
        let mut out = Vec::new();
        for (key, alias) in pairs {
            if alias.is_empty()
                || alias.chars().count() > ALIAS_MAX
                || alias.chars().any(|c| c.is_control() || is_bidi_control(c))
            {
                return Err(format!(
                    "alias {:?} of {}: 1 to {ALIAS_MAX} printable characters",
                    escape_text(alias),
                    escape_text(key)
                ));
            }
            if key.is_empty() || key.starts_with('@') || key.ends_with('@') {
                return Err(format!(
                    "{:?}: an interface as reports print it (eth0, lo@NETNS)",
                    escape_text(key)
                ));
            }
            let (name, netns) = match key.rfind('@') {
                Some(i) => (&key[..i], &key[i + 1..]),
                None => (key, "root"),
            };
            out.push(Alias {
                netns: netns.as_bytes().to_vec(),
                name: name.as_bytes().to_vec(),
                alias: alias.to_string(),
            });
        }
        Ok(Aliases(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The alias of interface `name` of namespace `netns`, if it has one.
    pub fn get(&self, netns: &[u8], name: &[u8]) -> Option<&str> {
        self.0
            .iter()
            .find(|a| a.netns == netns && a.name == name)
            .map(|a| a.alias.as_str())
    }

    /// An interface as tables and pictures show it: `iface_label`, then its alias in
    /// parentheses (`eth0 (uplink)`), escaped like every name.
    pub fn shown(&self, netns: &[u8], name: &[u8]) -> String {
        let label = iface_label(netns, name);
        match self.get(netns, name) {
            Some(a) => format!("{label} ({})", escape_text(a)),
            None => label,
        }
    }

    /// `shown` of an interface given as its label (the text `iface_label` made of it).
    pub fn shown_label(&self, label: &str) -> String {
        match self
            .0
            .iter()
            .find(|a| iface_label(&a.netns, &a.name) == label)
        {
            Some(a) => format!("{label} ({})", escape_text(&a.alias)),
            None => label.to_string(),
        }
    }

    /// Every alias with its interface as reports print it (for completions).
    pub fn labels(&self) -> impl Iterator<Item = (&str, String)> {
        self.0
            .iter()
            .map(|a| (a.alias.as_str(), iface_label(&a.netns, &a.name)))
    }
}

#[cfg(test)]
mod alias_tests {
    use super::*;

    #[test]
    fn aliases_name_the_host_or_a_namespace_and_show_next_to_the_name() {
        let a = Aliases::new([("eth0", "uplink"), ("lo@web", "web loopback")]).unwrap();
        assert_eq!(a.get(b"root", b"eth0"), Some("uplink"));
        assert_eq!(a.get(b"web", b"eth0"), None);
        assert_eq!(a.get(b"web", b"lo"), Some("web loopback"));
        assert_eq!(a.get(b"root", b"lo"), None);
        assert_eq!(a.shown(b"root", b"eth0"), "eth0 (uplink)");
        assert_eq!(a.shown(b"web", b"lo"), "lo@web (web loopback)");
        assert_eq!(a.shown(b"root", b"lo"), "lo");
        assert_eq!(a.shown_label("lo@web"), "lo@web (web loopback)");
        assert_eq!(a.shown_label("lo"), "lo");
        // the host's interface named by its namespace's name is the same interface
        let b = Aliases::new([("eth0@root", "up")]).unwrap();
        assert_eq!(b.get(b"root", b"eth0"), Some("up"));
        for bad in [
            ("eth0", ""),
            ("eth0", "a\u{1b}[2J"),
            ("eth0", "\u{202e}evil"),
            ("", "x"),
            ("@web", "x"),
        ] {
            assert!(Aliases::new([bad]).is_err(), "{bad:?}");
        }
        assert!(Aliases::new([("eth0", &*"x".repeat(ALIAS_MAX + 1))]).is_err());
        assert!(Aliases::new([("eth0", &*"é".repeat(ALIAS_MAX))]).is_ok());
    }
}
