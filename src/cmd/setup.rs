//! `nrec setup [--remove]`: load (or detach) the eBPF accounting programs.
//!
//! `record` loads them on its first run anyway; `setup` does it ahead of time and says so,
//! and `--remove` is the only way to detach them (they are pinned, so they outlive nrec).

use crate::cli::SetupArgs;
use crate::cmd::Global;
use nrec_collect::ebpf;
use nrec_model::error::{Error, Exit, Result};

pub fn run(args: &SetupArgs, g: &Global) -> Result<()> {
    let dir = ebpf::pin_dir();
    if args.remove {
        let removed = ebpf::remove().map_err(|e| fail(&e))?;
        if !g.quiet {
            if removed {
                println!("eBPF accounting detached; {} removed", dir.display());
            } else {
                println!("eBPF accounting was not set up ({} absent)", dir.display());
            }
        }
        return Ok(());
    }
    let loaded = ebpf::setup().map_err(|e| fail(&e))?;
    if !g.quiet {
        if loaded {
            println!(
                "eBPF accounting loaded: sock_send_length and sock_recv_length counted per process, pinned under {}",
                dir.display()
            );
        } else {
            println!(
                "eBPF accounting already active (pinned under {})",
                dir.display()
            );
        }
    }
    Ok(())
}

fn fail(msg: &str) -> Error {
    let exit =
        if msg.contains("needs root") || msg.contains("ermission") || msg.contains("not permitted")
        {
            Exit::Permission
        } else {
            Exit::Failure
        };
    Error::new(exit, format!("eBPF setup: {msg}"))
}
