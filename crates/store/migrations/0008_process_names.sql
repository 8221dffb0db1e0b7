-- nrec schema 8: a process row per name and network namespace (issue 19, items 5 and 6).
--
-- A process row is (boot, pid, start time, name, network namespace): the bytes a process
-- moved are credited to the name it had when it moved them (eBPF keys its counters by it),
-- so a process renamed by prctl or exec has a row per name; and a process with sockets in
-- two namespaces has a row per namespace, each with that namespace's bytes. Older rows keep
-- their ids (every series, sample and alert refers to them), so history reads as before.
CREATE TABLE process_v8 (
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
    UNIQUE (boot_id, pid, start_time, comm, netns)
);
INSERT INTO process_v8 (id, boot_id, pid, start_time, comm, exe, uid, cgroup, unit, container, netns)
    SELECT id, boot_id, pid, start_time, comm, exe, uid, cgroup, unit, container, netns FROM process;
DROP TABLE process;
ALTER TABLE process_v8 RENAME TO process;

-- The stored eBPF reading has the key of layout 3 (9 varints per entry: tgid, netns inode,
-- start ns, the name as two little-endian u64, protocol, direction, family, bytes). A reading
-- of the old layout cannot be compared with the new map's (nrec replaces the pinned program
-- of another layout): the next sample is a baseline and its interval comes from sock_diag.
DELETE FROM ebpf_base;
