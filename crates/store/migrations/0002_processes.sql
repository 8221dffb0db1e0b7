-- nrec schema 2: per-process, per-port and per-host byte accounting (sock_diag, TCP).

-- A process is (boot, pid, start time): a reused PID is a new row, never the old series.
CREATE TABLE process (
    id         INTEGER PRIMARY KEY,
    boot_id    TEXT    NOT NULL,
    pid        INTEGER NOT NULL,
    start_time INTEGER NOT NULL,
    comm       BLOB    NOT NULL,
    exe        BLOB,
    uid        INTEGER,
    cgroup     BLOB,
    unit       TEXT,
    container  TEXT,
    netns      INTEGER REFERENCES netns (id),
    UNIQUE (boot_id, pid, start_time)
);

-- The latest complete TCP dump of each namespace: per socket (by cookie) the cumulative
-- counters and the owning process, as varints sorted by cookie:
--   cookie, bytes_acked, bytes_received, process id (0 = unknown)
-- It is the baseline of the next sample only when `sample` is that sample's predecessor.
CREATE TABLE sock_base (
    netns  INTEGER PRIMARY KEY REFERENCES netns (id),
    sample INTEGER NOT NULL REFERENCES sample (id),
    socks  BLOB    NOT NULL
);

-- Bytes per process per interval. source: 1 = sock_diag (TCP payload, tcp_info).
CREATE TABLE proc_sample (
    sample  INTEGER NOT NULL REFERENCES sample (id),
    process INTEGER NOT NULL REFERENCES process (id),
    source  INTEGER NOT NULL,
    rx      INTEGER NOT NULL,
    tx      INTEGER NOT NULL,
    PRIMARY KEY (sample, process, source)
) WITHOUT ROWID;

-- Bytes per process, protocol and service port (the local port of connections accepted
-- from a listener, else the remote port: "443" means HTTPS whichever side we are).
CREATE TABLE port_sample (
    sample  INTEGER NOT NULL REFERENCES sample (id),
    process INTEGER NOT NULL REFERENCES process (id),
    proto   TEXT    NOT NULL,
    port    INTEGER NOT NULL,
    rx      INTEGER NOT NULL,
    tx      INTEGER NOT NULL,
    PRIMARY KEY (sample, process, proto, port)
) WITHOUT ROWID;

-- Bytes per process and remote address: the 8 busiest addresses of each process in each
-- interval, the rest summed under addr '*'.
CREATE TABLE host_sample (
    sample  INTEGER NOT NULL REFERENCES sample (id),
    process INTEGER NOT NULL REFERENCES process (id),
    addr    TEXT    NOT NULL,
    rx      INTEGER NOT NULL,
    tx      INTEGER NOT NULL,
    PRIMARY KEY (sample, process, addr)
) WITHOUT ROWID;

-- Per namespace and interval: bytes seen on sockets (attributed to a process or not),
-- for the unattributed row and the coverage figure.
CREATE TABLE attrib_sample (
    sample     INTEGER NOT NULL REFERENCES sample (id),
    netns      INTEGER NOT NULL REFERENCES netns (id),
    rx         INTEGER NOT NULL,
    tx         INTEGER NOT NULL,
    unowned_rx INTEGER NOT NULL,
    unowned_tx INTEGER NOT NULL,
    PRIMARY KEY (sample, netns)
) WITHOUT ROWID;

-- proc_sample summed per UTC hour (hour = floor(ts_ms / 3600000)), kept in the same
-- transaction as the sample: long windows read whole hours here and raw rows only for
-- the partial hours at their edges.
CREATE TABLE proc_hour (
    hour    INTEGER NOT NULL,
    process INTEGER NOT NULL REFERENCES process (id),
    rx      INTEGER NOT NULL,
    tx      INTEGER NOT NULL,
    PRIMARY KEY (hour, process)
) WITHOUT ROWID;
