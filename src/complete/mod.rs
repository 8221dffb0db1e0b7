//! Shell completion: clap_complete's engine, which the shell calls back (`COMPLETE=bash nrec
//! -- nrec report -i <TAB>`) so the values can come from the database: interface, process and
//! port names as the reports print them. `nrec completions SHELL` prints the script that
//! registers it (the package installs them for bash, zsh and fish).
//!
//! A completion must never fail loudly or slowly: the database is opened read-only, a missing
//! or unreadable one just completes nothing, and each list is capped ([`values`], which the
//! command-line definition names).

pub mod values;

use clap::CommandFactory;
use clap_complete::env::{CompleteEnv, Shells};

/// Answers a completion request and exits, when the shell made one (`COMPLETE` is set).
pub fn handle_request() {
    CompleteEnv::with_factory(crate::cli::Cli::command)
        .completer("nrec")
        .complete();
}

/// The registration script for `shell` (bash, zsh, fish, elvish, powershell).
pub fn script(shell: &str) -> Option<String> {
    let shells = Shells::builtins();
    let sh = shells.completer(shell)?;
    let mut buf = Vec::new();
    sh.write_registration("COMPLETE", "nrec", "nrec", "nrec", &mut buf)
        .ok()?;
    let mut text = String::from_utf8(buf).ok()?;
    if shell == "zsh" {
        // As a file in $fpath (the package's _nrec), compinit autoloads the file as the
        // completion function itself: complete on that first call too, not only register.
        let reg = "compdef _clap_dynamic_completer_nrec nrec";
        if let Some(i) = text.rfind(reg) {
            text.replace_range(
                i..i + reg.len(),
                "if [ \"$funcstack[1]\" = \"_nrec\" ]; then\n    _clap_dynamic_completer_nrec \"$@\"\nelse\n    compdef _clap_dynamic_completer_nrec nrec\nfi",
            );
        }
    }
    if shell == "bash" {
        text = bash_literal(&text)?;
    }
    if shell == "fish" {
        // the token being completed as fish means it (`\*`, `'*` are a `*` typed as data);
        // fish inserts the candidates escaped
        let raw = "(commandline --current-token)";
        let at = text.find(raw)?;
        text.replace_range(
            at..at + raw.len(),
            "(commandline --current-token | string unescape)",
        );
    }
    if shell == "zsh" {
        // the word being completed as zsh means it (`\*` is a `*` typed as data); the
        // candidates are inserted quoted by compadd
        let ifs = "    local _CLAP_IFS=$'\\n'\n";
        let at = text.find(ifs)? + ifs.len();
        text.insert_str(at, "    words[CURRENT]=${(Q)words[CURRENT]}\n");
    }
    Some(text)
}

/// bash: clap_complete's script takes the candidates with `COMPREPLY=( $(…) )`, an unquoted
/// expansion — a recorded interface named `*@advA` was glob-expanded to the files of the
/// current directory, and a process named `zq$(touch pw)` was inserted as is, so Enter ran
/// it. The candidates are read as data instead (split on the script's separator, never
/// globbed) and one with any character the shell treats specially is inserted `printf
/// %q`-quoted: what the line then holds is the name, literally.
fn bash_literal(text: &str) -> Option<String> {
    // clap_complete's lines this replaces (checked by the tests of the script in a real bash)
    const CALL: &str = "    COMPREPLY=( $( \\\n";
    const AFTER: &str = "    ) )\n    if [[ $? != 0 ]]; then\n        unset COMPREPLY\n    elif ";
    const WORD: &str = "        words[COMP_CWORD]=\"$2\"\n";
    const WORDS: &str = "    local words=(\"${COMP_WORDS[@]}\")\n";
    let start = text.find(CALL)?;
    let end = text[start..].find(AFTER)? + start;
    let call = &text[start + CALL.len()..end];
    let mut out = String::with_capacity(text.len() + 2048);
    out.push_str(&text[..start]);
    out.push_str("    local _nrec_out\n    _nrec_out=$( \\\n");
    out.push_str(call);
    out.push_str("    )\n");
    out.push_str(include_str!("bash_reply.sh").trim_end_matches('\n'));
    out.push_str(&text[end + AFTER.len()..]);
    // the word being completed as the shell means it (`\*`, `'*`, `"*` are a `*` typed as
    // data), and the quote it was opened with: a candidate is inserted after it, quoted for it
    let at = out.find(WORD)?;
    out.replace_range(at..at + WORD.len(), include_str!("bash_word.sh"));
    let at = out.find(WORDS)?;
    out.insert_str(at, "    local _nrec_q=\n");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_and_zsh_completes_when_autoloaded() {
        for sh in values::SHELLS {
            let s = script(sh).unwrap_or_default();
            assert!(s.contains("COMPLETE"), "{sh}: {s}");
        }
        let b = script("bash").unwrap_or_default();
        assert!(
            b.contains("printf -v _nrec_c '%q'") && !b.contains("COMPREPLY=( $("),
            "{b}"
        );
        let z = script("zsh").unwrap_or_default();
        assert!(z.starts_with("#compdef nrec"), "{z}");
        assert!(z.contains("$funcstack[1]"), "{z}");
    }
}
