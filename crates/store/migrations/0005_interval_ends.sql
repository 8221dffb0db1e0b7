-- nrec schema 5.
--
-- A sample belongs to the day, quarter hour and window holding the end of its interval
-- (ARCHITECTURE.md §4 "Windows"): one taken exactly at a quarter-hour boundary closes the
-- quarter before. No table changes for that; the conversion re-rolls the days whose raw samples
-- are still stored when any of them sits exactly on a boundary (schema 4 rolled those into the
-- quarter after).
--
-- sample.ebpf_lost_events / ebpf_lost_bytes: send/receive calls (and their bytes) of the
-- interval the eBPF program could not count because its map was full. They are summed into the
-- host's time series, so `status --check` can say whether any were lost in a window.
ALTER TABLE sample ADD COLUMN ebpf_lost_events INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sample ADD COLUMN ebpf_lost_bytes INTEGER NOT NULL DEFAULT 0;
