-- nrec schema 14.
--
-- Idle namespaces are carried forward (ARCHITECTURE.md §4, "Idle namespaces"): one whose
-- interfaces did not move since the previous sample, with nothing pending that moves a
-- counter without a packet, is not read again — its protocol counters, sockets and listeners
-- are the previous sample's, stored as a read would have stored them. proto_last keeps what
-- the next sample decides that on:
--   read_ms  when these readings were last read from the kernel (wall clock, ms; a carry
--            keeps it): a namespace with processes in it is read again at least every 5 min
--   cookie   the namespace's cookie (SO_NETNS_COOKIE): an inode is reused once its namespace
--            is gone, a cookie is not (within a boot); NULL on kernels before 5.14
--   quiet    what its last read showed acting without a packet (nrec_model::derive::idle::
--            Quiet): 0 timers (TIME_WAIT, closing connections, fragment queues) or unknown,
--            1 established or bound sockets, 2 listening sockets only
ALTER TABLE proto_last ADD COLUMN read_ms INTEGER;
ALTER TABLE proto_last ADD COLUMN quiet INTEGER NOT NULL DEFAULT 0;
ALTER TABLE proto_last ADD COLUMN cookie INTEGER;
