-- nrec schema 10: systemd units by description (issue 17).
--
-- What each unit a process ran in is, as its unit file's Description= says it
-- (recorder::units), looked up once per unit name and kept, so reports describe units that
-- were removed since. resolved_ms: when the files were last read (a unit whose description
-- could not be found is looked for again after ten minutes, not every sample).
CREATE TABLE unit (
    name        TEXT    PRIMARY KEY,
    description TEXT,
    resolved_ms INTEGER NOT NULL
);
