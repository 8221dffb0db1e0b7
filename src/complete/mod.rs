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
    Some(text)
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
        let z = script("zsh").unwrap_or_default();
        assert!(z.starts_with("#compdef nrec"), "{z}");
        assert!(z.contains("$funcstack[1]"), "{z}");
    }
}
