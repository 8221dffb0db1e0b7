-- nrec schema 13.
--
-- remote_write: how far each [[remote_write]] target of the config has been pushed. The
-- database is the push queue: what a target has not acknowledged is still in the samples and
-- rollups, so after an outage the next push sends everything after `acked_ms`.
--   acked_ms     the newest point time the target acknowledged (or that was skipped: a
--                refusal retrying cannot fix), NULL before the first push
--   sent         samples (values) it acknowledged, in all
--   skipped      samples of batches it refused for good (4xx other than auth/rate limits)
--   failures     consecutive failed pushes (0 after a success): the daemon's backoff
--   tried_ms     when a push last tried (wall clock)
--   error        the last failure, NULL after a success
--   busy_until   a push in progress holds the target until then (two recorders never send
--                the same batch at once; a crashed one's hold expires)
CREATE TABLE remote_write (
    target     TEXT    NOT NULL PRIMARY KEY,
    acked_ms   INTEGER,
    sent       INTEGER NOT NULL DEFAULT 0,
    skipped    INTEGER NOT NULL DEFAULT 0,
    failures   INTEGER NOT NULL DEFAULT 0,
    tried_ms   INTEGER,
    error      TEXT,
    busy_until INTEGER
) WITHOUT ROWID;
