//! Interface filters as people write them. A name means what reports print
//! (`crate::names::iface_label`): `eth0` is the host's (root namespace's) eth0 and only it,
//! `eth0@web` namespace web's; shell-style patterns work on each part (`veth*` the host's
//! veths, `lo@ns-*` the loopbacks of the namespaces named `ns-…`, `*@*` every interface of every
//! other namespace; `lo@root` names the host's by its namespace's name, which no pattern
//! matches). `--netns PATTERN` names the namespaces instead, the host's included: `-i lo
//! --netns '*'` is every loopback. An alias (`[aliases]`, `crate::names::Aliases`) is taken
//! wherever a name is: `-i uplink`, `-i 'up*'`. Reports, summaries, exports, alerts and
//! metrics all match through here. Names are bytes; patterns match bytes.

use crate::names::Aliases;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

/// The root namespace's name, as the recorder stores it (its interfaces print without `@`).
const ROOT: &[u8] = b"root";

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pat {
    /// As given, for messages.
    text: String,
    whole: Vec<u8>,
    name: Vec<u8>,
    netns: Option<Vec<u8>>,
}

/// `--iface` values (any matches) and an optional `--netns` pattern (must match too).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IfaceFilter {
    pats: Vec<Pat>,
    netns: Option<Vec<u8>>,
    aliases: Aliases,
}

impl IfaceFilter {
    pub fn new(ifaces: &[OsString], netns: Option<&OsString>, aliases: &Aliases) -> IfaceFilter {
        let pats = ifaces
            .iter()
            .map(|v| {
                let b = v.as_bytes();
                let (name, netns) = match b.iter().rposition(|c| *c == b'@') {
                    Some(i) => (b[..i].to_vec(), Some(b[i + 1..].to_vec())),
                    None => (b.to_vec(), None),
                };
                Pat {
                    text: crate::names::escape_bytes(b),
                    whole: b.to_vec(),
                    name,
                    netns,
                }
            })
            .collect();
        IfaceFilter {
            pats,
            netns: netns.map(|n| n.as_bytes().to_vec()),
            aliases: aliases.clone(),
        }
    }

    /// The aliases names are shown with and matched by.
    pub fn aliases(&self) -> &Aliases {
        &self.aliases
    }

    /// Whether interfaces are named (`--iface`), not only namespaces.
    pub fn names_interfaces(&self) -> bool {
        !self.pats.is_empty()
    }

    /// No filter at all.
    pub fn is_empty(&self) -> bool {
        self.pats.is_empty() && self.netns.is_none()
    }

    /// Whether pattern `p` names interface `name` of namespace `netns`: as printed, `NAME`
    /// for the root namespace's and `NAME@NETNS` for any other's; with `--netns` given
    /// (`any_netns`), the namespace is that option's to choose.
    fn pat_matches(&self, p: &Pat, netns: &[u8], name: &[u8], any_netns: bool) -> bool {
        let root = netns == ROOT;
        if let Some(a) = self.aliases.get(netns, name) {
            if glob(&p.whole, a.as_bytes()) {
                return true;
            }
        }
        // a name that itself holds '@' is matched whole first
        (glob(&p.whole, name) && (root || any_netns))
            || match &p.netns {
                None => glob(&p.name, name) && (root || any_netns),
                // the host's namespace is named `root`, never matched by a pattern
                Some(n) if root => n == ROOT && glob(&p.name, name),
                Some(n) => glob(&p.name, name) && glob(n, netns),
            }
    }

    /// Whether the interface `name` of namespace `netns` passes.
    pub fn matches(&self, netns: &[u8], name: &[u8]) -> bool {
        let by_netns = self.netns.is_some();
        self.netns.as_deref().is_none_or(|n| glob(n, netns))
            && (self.pats.is_empty()
                || self
                    .pats
                    .iter()
                    .any(|p| self.pat_matches(p, netns, name, by_netns)))
    }

    fn matches_with(&self, p: &Pat, netns: &[u8], name: &[u8]) -> bool {
        self.pat_matches(p, netns, name, self.netns.is_some())
            && self.netns.as_deref().is_none_or(|x| glob(x, netns))
    }

    /// Whether namespace `netns` passes `--netns` (for rows of a namespace, not an interface).
    pub fn netns_matches(&self, netns: &[u8]) -> bool {
        self.netns.as_deref().is_none_or(|n| glob(n, netns))
    }

    /// What of the filter matches none of `seen` (namespace, name), with what was seen —
    /// said on stderr instead of an empty table. None: every part matched something.
    pub fn unmatched(&self, seen: &[(&[u8], &[u8])]) -> Option<Unmatched> {
        let mut missing: Vec<String> = self
            .pats
            .iter()
            .filter(|p| !seen.iter().any(|(ns, n)| self.matches_with(p, ns, n)))
            .map(|p| format!("--iface {}", p.text))
            .collect();
        if let Some(n) = &self.netns {
            if !seen.iter().any(|(ns, _)| glob(n, ns)) {
                missing.push(format!("--netns {}", crate::names::escape_bytes(n)));
            }
        }
        if missing.is_empty() {
            return None;
        }
        let mut recorded: Vec<String> = seen
            .iter()
            .map(|(ns, n)| self.aliases.shown(ns, n))
            .collect();
        recorded.sort();
        recorded.dedup();
        Some(Unmatched { missing, recorded })
    }
}

/// A filter's parts that matched no recorded interface, and the interfaces recorded (as
/// reports print them, sorted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmatched {
    pub missing: Vec<String>,
    pub recorded: Vec<String>,
}

impl Unmatched {
    /// The one line every command says: `--iface X: matches no interface recorded in
    /// WITHIN; recorded: a, b`.
    pub fn message(&self, within: &str) -> String {
        format!(
            "{}: matches no interface recorded in {within}; recorded: {}",
            self.missing.join(", "),
            self.recorded_list()
        )
    }

    /// The interfaces recorded, as one list: at most 20 names, then how many more.
    pub fn recorded_list(&self) -> String {
        const SHOWN: usize = 20;
        if self.recorded.is_empty() {
            return "none".into();
        }
        let mut names = self
            .recorded
            .iter()
            .take(SHOWN)
            .cloned()
            .collect::<Vec<_>>();
        if self.recorded.len() > SHOWN {
            names.push(format!("… {} more", self.recorded.len() - SHOWN));
        }
        names.join(", ")
    }
}

/// Shell-style matching of bytes: `*` any run, `?` one byte, `[abc]`, `[a-z]`, `[!x]`; a
/// `[` without its `]` is itself. Iterative (backtracks to the last `*`), so any input is
/// linear-ish and never recurses.
pub(crate) fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    star = Some((pi, si));
                    pi += 1;
                    continue;
                }
                b'?' => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                b'[' => {
                    if let Some((hit, len)) = class(&p[pi..], s[si]) {
                        if hit {
                            pi += len;
                            si += 1;
                            continue;
                        }
                    } else if s[si] == b'[' {
                        pi += 1;
                        si += 1;
                        continue;
                    }
                }
                c if c == s[si] => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, ss)) => {
                pi = sp + 1;
                si = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

/// A `[...]` class at the start of `p`: whether `c` is in it, and the class's length. None
/// when the `]` is missing.
fn class(p: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let neg = matches!(p.get(i), Some(b'!' | b'^'));
    if neg {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == b']' && !first {
            return Some((hit != neg, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == b'-' && p[i + 2] != b']' {
            hit |= p[i] <= c && c <= p[i + 2];
            i += 3;
        } else {
            hit |= p[i] == c;
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_the_shell() {
        for (p, s, want) in [
            ("veth*", "veth1", true),
            ("veth*", "eth0", false),
            ("*", "", true),
            ("eth?", "eth0", true),
            ("eth?", "eth10", false),
            ("eth[01]", "eth1", true),
            ("eth[!01]", "eth1", false),
            ("eth[0-3]", "eth2", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("[", "[", true),
            ("wg[", "wg[", true),
            ("lo", "lo", true),
            ("lo", "lo0", false),
        ] {
            assert_eq!(glob(p.as_bytes(), s.as_bytes()), want, "{p} ~ {s}");
        }
        // a pathological pattern stays fast
        let s = vec![b'a'; 200];
        assert!(!glob(b"*a*a*a*a*a*a*a*b", &s));
    }

    #[test]
    fn the_names_nrec_prints_select_their_interfaces() {
        let f = IfaceFilter::new(
            &["lo@uxns".into(), "veth*".into()],
            None,
            &Aliases::default(),
        );
        assert!(f.matches(b"uxns", b"lo"));
        assert!(!f.matches(b"root", b"lo"));
        assert!(f.matches(b"root", b"veth0"));
        let f = IfaceFilter::new(&["lo".into()], Some(&"ux*".into()), &Aliases::default());
        assert!(f.matches(b"uxns", b"lo") && !f.matches(b"root", b"lo"));
        assert!(f.netns_matches(b"uxns") && !f.netns_matches(b"root"));
        let f = IfaceFilter::new(
            &["nosuch0".into(), "eth*".into()],
            None,
            &Aliases::default(),
        );
        let seen: Vec<(&[u8], &[u8])> = vec![(b"root", b"eth0"), (b"root", b"lo")];
        assert_eq!(f.unmatched(&seen).unwrap().missing, ["--iface nosuch0"]);
        // a name holding '@' is matched whole
        let f = IfaceFilter::new(&["odd@name".into()], None, &Aliases::default());
        assert!(f.matches(b"root", b"odd@name"));
    }

    /// An alias is taken wherever a name is (issue 35 item 5): whole or by pattern, with
    /// `--netns` still choosing the namespaces; an alias that matches nothing is said.
    #[test]
    fn an_alias_selects_its_interface_wherever_a_name_would() {
        let a = Aliases::new([("eth0", "uplink"), ("lo@web", "web loopback")]).unwrap();
        let f = |v: &[&str], ns: Option<&str>| {
            IfaceFilter::new(
                &v.iter().map(|s| (*s).into()).collect::<Vec<OsString>>(),
                ns.map(OsString::from).as_ref(),
                &a,
            )
        };
        let up = f(&["uplink"], None);
        assert!(up.matches(b"root", b"eth0"));
        assert!(!up.matches(b"web", b"eth0") && !up.matches(b"root", b"eth1"));
        let web = f(&["web*"], None);
        assert!(web.matches(b"web", b"lo") && !web.matches(b"root", b"lo"));
        assert!(f(&["web loopback"], Some("web")).matches(b"web", b"lo"));
        assert!(!f(&["web loopback"], Some("root")).matches(b"web", b"lo"));
        // the name still works beside its alias
        assert!(f(&["eth0"], None).matches(b"root", b"eth0"));
        let seen: Vec<(&[u8], &[u8])> = vec![(b"root", b"eth0")];
        assert!(up.unmatched(&seen).is_none());
        assert_eq!(
            f(&["downlink"], None).unmatched(&seen).unwrap().missing,
            ["--iface downlink"]
        );
    }

    /// A name means what reports print (issue 31): `lo` is the host's loopback only, `lo@*`
    /// every other namespace's, never the host's; `--netns` chooses the namespaces, the
    /// host's included.
    #[test]
    fn a_bare_name_is_the_hosts_and_a_namespace_is_written_with_it() {
        let f = |v: &[&str], ns: Option<&str>| {
            IfaceFilter::new(
                &v.iter().map(|s| (*s).into()).collect::<Vec<OsString>>(),
                ns.map(OsString::from).as_ref(),
                &Aliases::default(),
            )
        };
        let lo = f(&["lo"], None);
        assert!(lo.matches(b"root", b"lo"));
        assert!(!lo.matches(b"nca", b"lo") && !lo.matches(b"ncb", b"lo"));
        let eth = f(&["eth0"], None);
        assert!(
            !eth.matches(b"web-1", b"eth0"),
            "a container's eth0 is not the host's"
        );
        let any_ns = f(&["lo@*"], None);
        assert!(any_ns.matches(b"nca", b"lo") && !any_ns.matches(b"root", b"lo"));
        assert!(f(&["lo@root"], None).matches(b"root", b"lo"));
        assert!(!f(&["lo@r*"], None).matches(b"root", b"lo"));
        let all = f(&["*@*"], None);
        assert!(all.matches(b"nca", b"veth0") && !all.matches(b"root", b"eth0"));
        let glob = f(&["veth*"], None);
        assert!(glob.matches(b"root", b"veth1") && !glob.matches(b"ns", b"veth1"));
        let everywhere = f(&["lo"], Some("*"));
        assert!(everywhere.matches(b"root", b"lo") && everywhere.matches(b"nca", b"lo"));
        let seen: Vec<(&[u8], &[u8])> = vec![(b"nca", b"lo")];
        let u = lo.unmatched(&seen).expect("only another's lo was recorded");
        assert_eq!(
            u.message("the database"),
            "--iface lo: matches no interface recorded in the database; recorded: lo@nca"
        );
    }
}
