-- nrec schema 9: containers by name (issue 17).
--
-- Who each container was, from its runtime's metadata on disk (recorder::containers), looked
-- up once per container id and kept, so reports name containers that no longer exist.
-- id: the runtime's id (64 hex digits) or nspawn:NAME / lxc:NAME; short: what
-- process.container holds (the first 12 hex digits, as docker ps shows them, or the id).
-- resolved_ms: when the metadata was last looked for (a container whose runtime could not be
-- read is looked for again after ten minutes, not every sample).
CREATE TABLE container (
    id            TEXT    PRIMARY KEY,
    short         TEXT    NOT NULL,
    runtime       TEXT,
    name          TEXT,
    image         TEXT,
    pod           TEXT,
    pod_namespace TEXT,
    k8s_container TEXT,
    resolved_ms   INTEGER NOT NULL
);
CREATE INDEX container_short ON container (short);
