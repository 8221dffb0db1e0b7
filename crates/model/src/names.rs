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
