//! nrec's views and renderers: what each command shows, shaped from the store's typed rows,
//! and the one output path from rows to bytes (table, CSV, JSON, NDJSON, SVG, PNG,
//! OpenMetrics). It knows nothing of the command line: commands hand it settings.

pub mod backfill;
pub mod export;
pub mod metrics;
pub mod output;
pub mod percentile;
pub mod proc;
pub mod rank;
pub mod sar;
pub mod summary;
pub mod top;
