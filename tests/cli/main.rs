//! The one integration-test binary: every test runs the real `nrec` executable.
//!
//! - `fixtures`: record/report on a fake /proc (`NREC_PROC_ROOT`) with a fixed clock.
//! - `database`: foreign, corrupt and newer databases; concurrency; kill -9; disk full.
//! - `args`: bad arguments and DST windows.
//! - `live`: the real kernel: sock_diag, listeners, namespaces, and sar side by side.
//! - `procs`: per-process, per-port and per-host accounting.
//! - `rollups`: rollups, retention, summaries, export and check.
//! - `output`: every command's CSV/JSON/NDJSON against docs/OUTPUT.md; closed pipes.
//! - `daemon`: continuous sampling, SIGHUP and SIGTERM.
//! - `health`: what `status` says and `status --check`.
//! - `windows`: window edges, long windows part by part, resampled rows.
//! - `ebpf`: eBPF accounting against ground truth, the pinned map's lifecycle.
//! - `conns`: ports, hosts and traffic classes counted in the kernel, against ground truth.
//! - `alerts`: quotas and alerts: once per period, resets, gaps, hostile names, slow commands.
//! - `manual`: man pages, shell completions in real bash, zsh and fish.
//! - `metrics`: `nrec serve` and `export --format openmetrics` against a real Prometheus.
//! - `containers`: real podman containers named in reports; runtime metadata fixtures.
//! - `pictures`: SVG charts parsed and read back against the numbers; a real browser.

mod harness;

mod alerts;
mod args;
mod conns;
mod containers;
mod daemon;
mod database;
mod ebpf;
mod fixtures;
mod health;
mod live;
mod manual;
mod metrics;
mod output;
mod pictures;
mod procs;
mod recorder;
mod remote;
mod rollups;
mod topview;
mod windows;
