-- nrec schema 1: raw samples, interface counters with their deltas, protocol counters,
-- listening-socket spans. Times are UTC epoch milliseconds; intervals come from CLOCK_BOOTTIME.
-- Counters are u64 in the kernel and stored as the same 64-bit pattern in INTEGER columns.

-- What the host was when a sample was taken; a new boot_id starts a new segment.
CREATE TABLE sysinfo (
    id       INTEGER PRIMARY KEY,
    boot_id  TEXT    NOT NULL,
    hostname BLOB    NOT NULL,
    kernel   TEXT    NOT NULL,
    arch     TEXT    NOT NULL,
    ncpu     INTEGER NOT NULL,
    UNIQUE (boot_id, hostname, kernel, arch, ncpu)
);

CREATE TABLE sample (
    id         INTEGER PRIMARY KEY,
    ts_ms      INTEGER NOT NULL,
    mono_ms    INTEGER NOT NULL,
    sysinfo    INTEGER NOT NULL REFERENCES sysinfo (id),
    -- previous sample of the same boot; NULL starts a segment
    prev       INTEGER REFERENCES sample (id),
    -- length of the interval this sample closes: mono_ms - prev.mono_ms, or mono_ms for the
    -- first sample after a reboot (counted from boot); NULL for a baseline-only sample
    elapsed_ms INTEGER
);
CREATE INDEX sample_ts ON sample (ts_ms);

-- A network namespace is identified by its inode within one boot.
CREATE TABLE netns (
    id      INTEGER PRIMARY KEY,
    boot_id TEXT    NOT NULL,
    inode   INTEGER NOT NULL,
    name    BLOB    NOT NULL,
    UNIQUE (boot_id, inode, name)
);

-- An interface is (namespace, ifindex, name); ifindex -1 when unknown.
CREATE TABLE iface (
    id      INTEGER PRIMARY KEY,
    netns   INTEGER NOT NULL REFERENCES netns (id),
    ifindex INTEGER NOT NULL,
    name    BLOB    NOT NULL,
    UNIQUE (netns, ifindex, name)
);

-- One row per interface per sample: the 16 raw cumulative counters of /proc/net/dev and
-- their deltas over the interval (NULL = not counted: baseline, or flagged implausible).
CREATE TABLE iface_sample (
    sample        INTEGER NOT NULL REFERENCES sample (id),
    iface         INTEGER NOT NULL REFERENCES iface (id),
    rx_bytes      INTEGER NOT NULL, rx_packets INTEGER NOT NULL, rx_errs INTEGER NOT NULL,
    rx_drop       INTEGER NOT NULL, rx_fifo INTEGER NOT NULL, rx_frame INTEGER NOT NULL,
    rx_compressed INTEGER NOT NULL, rx_multicast INTEGER NOT NULL,
    tx_bytes      INTEGER NOT NULL, tx_packets INTEGER NOT NULL, tx_errs INTEGER NOT NULL,
    tx_drop       INTEGER NOT NULL, tx_fifo INTEGER NOT NULL, tx_colls INTEGER NOT NULL,
    tx_carrier    INTEGER NOT NULL, tx_compressed INTEGER NOT NULL,
    d_rx_bytes    INTEGER, d_rx_packets INTEGER, d_rx_errs INTEGER, d_rx_drop INTEGER,
    d_rx_fifo     INTEGER, d_rx_frame INTEGER, d_rx_compressed INTEGER, d_rx_multicast INTEGER,
    d_tx_bytes    INTEGER, d_tx_packets INTEGER, d_tx_errs INTEGER, d_tx_drop INTEGER,
    d_tx_fifo     INTEGER, d_tx_colls INTEGER, d_tx_carrier INTEGER, d_tx_compressed INTEGER,
    speed_mbps    INTEGER,
    duplex        INTEGER,
    -- bit set of store::delta::Flag
    flags         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (sample, iface)
) WITHOUT ROWID;

-- The ordered list of counter names a protocol blob holds (stable across samples).
CREATE TABLE keyset (
    id    INTEGER PRIMARY KEY,
    names TEXT NOT NULL UNIQUE
);

-- Protocol counters and gauges of one namespace (snmp, netstat, snmp6, sockstat{,6},
-- sock_diag state counts): raw values as LEB128 varints in keyset order.
CREATE TABLE proto_sample (
    sample INTEGER NOT NULL REFERENCES sample (id),
    netns  INTEGER NOT NULL REFERENCES netns (id),
    keyset INTEGER NOT NULL REFERENCES keyset (id),
    vals   BLOB    NOT NULL,
    PRIMARY KEY (sample, netns)
) WITHOUT ROWID;

-- A listening TCP socket or bound unconnected UDP socket, from the first to the last
-- consecutive sample that saw it.
CREATE TABLE listener (
    id           INTEGER PRIMARY KEY,
    netns        INTEGER NOT NULL REFERENCES netns (id),
    proto        TEXT    NOT NULL,
    family       INTEGER NOT NULL,
    addr         TEXT    NOT NULL,
    port         INTEGER NOT NULL,
    inode        INTEGER NOT NULL,
    uid          INTEGER NOT NULL,
    pid          INTEGER,
    comm         BLOB,
    start_time   INTEGER,
    first_sample INTEGER NOT NULL REFERENCES sample (id),
    last_sample  INTEGER NOT NULL REFERENCES sample (id),
    first_ms     INTEGER NOT NULL,
    last_ms      INTEGER NOT NULL
);
CREATE INDEX listener_last_sample ON listener (last_sample);
CREATE INDEX listener_time ON listener (last_ms);
