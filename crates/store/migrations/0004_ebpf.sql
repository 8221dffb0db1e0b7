-- nrec schema 4: eBPF accounting (DESIGN §3).
--
-- sample.ebpf: 1 when the per-process bytes of the interval the sample closes come from eBPF
-- (TCP and UDP payload of every process, short-lived ones included), 0 when from sock_diag.
-- One source per interval, never both: no byte is counted twice.
ALTER TABLE sample ADD COLUMN ebpf INTEGER NOT NULL DEFAULT 0;

-- The last eBPF reading (the kernel's counters are cumulative): the next sample's deltas are
-- taken against it when it belongs to that sample's predecessor and to the same map
-- (generation = CLOCK_BOOTTIME ns when the map was created). entries: varints, 7 per map
-- entry: tgid, netns inode, start ns, protocol, direction, family, bytes.
CREATE TABLE ebpf_base (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    sample      INTEGER NOT NULL,
    generation  INTEGER NOT NULL,
    lost_events INTEGER NOT NULL,
    lost_bytes  INTEGER NOT NULL,
    entries     BLOB    NOT NULL
);
