//! Interface filters as people write them: every name nrec prints (`eth0`, `lo@uxns` for an
//! interface of namespace `uxns`), shell-style patterns (`veth*`, `eth[01]`, `wg?`), and a
//! namespace pattern for all of them (`--netns`). Names are bytes; patterns match bytes.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

#[derive(Debug, Clone)]
struct Pat {
    /// As given, for messages.
    text: String,
    whole: Vec<u8>,
    name: Vec<u8>,
    netns: Option<Vec<u8>>,
}

/// `--iface` values (any matches) and an optional `--netns` pattern (must match too).
#[derive(Debug, Clone, Default)]
pub struct IfaceFilter {
    pats: Vec<Pat>,
    netns: Option<Vec<u8>>,
}

impl IfaceFilter {
    pub fn new(ifaces: &[OsString], netns: Option<&OsString>) -> IfaceFilter {
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
        }
    }

    /// No filter at all.
    pub fn is_empty(&self) -> bool {
        self.pats.is_empty() && self.netns.is_none()
    }

    fn pat_matches(p: &Pat, netns: &[u8], name: &[u8]) -> bool {
        // a name that itself holds '@' is matched whole first
        glob(&p.whole, name)
            || (glob(&p.name, name) && p.netns.as_deref().is_none_or(|n| glob(n, netns)))
    }

    /// Whether the interface `name` of namespace `netns` passes.
    pub fn matches(&self, netns: &[u8], name: &[u8]) -> bool {
        self.netns.as_deref().is_none_or(|n| glob(n, netns))
            && (self.pats.is_empty() || self.pats.iter().any(|p| Self::pat_matches(p, netns, name)))
    }

    /// Whether namespace `netns` passes `--netns` (for rows of a namespace, not an interface).
    pub fn netns_matches(&self, netns: &[u8]) -> bool {
        self.netns.as_deref().is_none_or(|n| glob(n, netns))
    }

    /// The values that match none of `seen` (namespace, name) — said on stderr, with what
    /// was recorded, instead of an empty table.
    pub fn unmatched<'a>(&self, seen: &[(&'a [u8], &'a [u8])]) -> Vec<String> {
        let mut out: Vec<String> = self
            .pats
            .iter()
            .filter(|p| {
                !seen.iter().any(|(ns, n)| {
                    Self::pat_matches(p, ns, n) && self.netns.as_deref().is_none_or(|x| glob(x, ns))
                })
            })
            .map(|p| format!("--iface {}", p.text))
            .collect();
        if let Some(n) = &self.netns {
            if !seen.iter().any(|(ns, _)| glob(n, ns)) {
                out.push(format!("--netns {}", crate::names::escape_bytes(n)));
            }
        }
        out
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
        let f = IfaceFilter::new(&["lo@uxns".into(), "veth*".into()], None);
        assert!(f.matches(b"uxns", b"lo"));
        assert!(!f.matches(b"root", b"lo"));
        assert!(f.matches(b"root", b"veth0"));
        let f = IfaceFilter::new(&["lo".into()], Some(&"ux*".into()));
        assert!(f.matches(b"uxns", b"lo") && !f.matches(b"root", b"lo"));
        assert!(f.netns_matches(b"uxns") && !f.netns_matches(b"root"));
        let f = IfaceFilter::new(&["nosuch0".into(), "eth*".into()], None);
        let seen: Vec<(&[u8], &[u8])> = vec![(b"root", b"eth0"), (b"root", b"lo")];
        assert_eq!(f.unmatched(&seen), ["--iface nosuch0"]);
        // a name holding '@' is matched whole
        let f = IfaceFilter::new(&["odd@name".into()], None);
        assert!(f.matches(b"root", b"odd@name"));
    }
}
