//! `nrec setup [--remove]`: load (or detach) the eBPF accounting programs.
//!
//! `record` loads them on its first run anyway; `setup` does it ahead of time and says so,
//! and `--remove` is the way to detach them (they are pinned, so they outlive nrec; a state
//! whose database is gone, or unread for a day, is removed by the next `record`). Each
//! database has its own (`nrec_collect::ebpf::Pins`): `--db` names whose.

use crate::cli::SetupArgs;
use crate::cmd::Global;
use nrec_model::error::{Error, Exit, Result};

pub fn run(args: &SetupArgs, g: &Global) -> Result<()> {
    let pins = crate::sampler::ebpf_pins(&g.db_path());
    let dir = pins.dir();
    if args.remove {
        let removed = pins.remove().map_err(|e| fail(&e))?;
        if !g.quiet {
            if removed {
                println!("eBPF accounting detached; {} removed", dir.display());
            } else {
                println!("eBPF accounting was not set up ({} absent)", dir.display());
            }
        }
        return Ok(());
    }
    let loaded = pins.setup().map_err(|e| fail(&e))?;
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
