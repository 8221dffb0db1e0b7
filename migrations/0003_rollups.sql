-- nrec schema 3: rollups (per UTC day: the day's sums and its 96 quarter-hour sums) for
-- every series the raw tables hold, and the bookkeeping retention needs.
--
-- Quarter hours, not hours: every zone in the tz database is a whole number of quarter hours
-- from UTC (+05:30, +05:45, -09:30 ...), so a local day is always a whole number of quarters
-- and local-day reports from rollups are exact everywhere.

-- What a rollup row sums. kind: 0 host time (ref 0), 1 interface (ref iface), 2 protocol
-- counters of a namespace (ref netns, keyset), 3 process (ref process), 4 port (ref process,
-- proto, port), 5 remote host (ref process, addr), 6 socket totals of a namespace (ref netns).
CREATE TABLE series (
    id     INTEGER PRIMARY KEY,
    kind   INTEGER NOT NULL,
    ref    INTEGER NOT NULL,
    keyset INTEGER NOT NULL DEFAULT 0,
    proto  TEXT    NOT NULL DEFAULT '',
    port   INTEGER NOT NULL DEFAULT 0,
    addr   TEXT    NOT NULL DEFAULT '',
    UNIQUE (kind, ref, keyset, proto, port, addr)
);

-- day = floor(ts_ms / 86 400 000) of the samples summed (a sample's interval is counted in
-- the bucket of the sample that closes it, as raw reports show it).
-- total: the day's sums, quarters: per quarter hour with data its index (0..95) and sums,
-- both in store::rollup's vector encoding. quarters is NULL once older than the hourly
-- retention; the row is deleted once older than the daily retention.
-- A rowid table, not WITHOUT ROWID: rows of a few KB (an interface's 96 quarters) stay on
-- their page instead of spilling into mostly empty overflow pages (measured: -35 % size).
CREATE TABLE rollup (
    id       INTEGER PRIMARY KEY,
    kind     INTEGER NOT NULL,
    day      INTEGER NOT NULL,
    series   INTEGER NOT NULL REFERENCES series (id),
    total    BLOB    NOT NULL,
    quarters BLOB
);
CREATE UNIQUE INDEX rollup_key ON rollup (kind, day, series);

-- rolled_to: the last sample id included in the rollups; raw samples above it are never
-- pruned. raw_from_ms: raw samples older than this have been pruned.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

-- Replaced by rollup kind 3.
DROP TABLE proc_hour;

-- Per sample, the bytes of every process, service port and remote host, packed as varints
-- (store::procbytes); replaces schema 2's proc_sample, port_sample and host_sample (the
-- recorder converts their rows and drops them right after this script).
--   procs: (process, source, rx, tx)*   source 1 = sock_diag
--   ports: (process, proto, port, rx, tx)*   proto 1 = tcp, 2 = udp
--   hosts: (process, addr, rx, tx)*   addr: an addr row ('*' = the rest)
CREATE TABLE addr (
    id   INTEGER PRIMARY KEY,
    addr TEXT NOT NULL UNIQUE
);
CREATE TABLE proc_bytes (
    sample INTEGER PRIMARY KEY REFERENCES sample (id),
    procs  BLOB NOT NULL,
    ports  BLOB NOT NULL,
    hosts  BLOB NOT NULL
);

-- Protocol counters are stored as what each interval added (store::proto): counters as
-- deltas, gauges as read, in a sparse vector. counted: 0 not counted (baseline), 1 deltas
-- since the previous sample, 2 counted from zero (first sample after a reboot). The latest
-- raw readings of each namespace stay in proto_last, for the next sample's deltas.
ALTER TABLE proto_sample ADD COLUMN counted INTEGER NOT NULL DEFAULT 0;
CREATE TABLE proto_last (
    netns  INTEGER PRIMARY KEY REFERENCES netns (id),
    sample INTEGER NOT NULL REFERENCES sample (id),
    keyset INTEGER NOT NULL REFERENCES keyset (id),
    vals   BLOB    NOT NULL
);
