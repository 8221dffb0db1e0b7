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

-- past_sums: the all-time sums of every series over the UTC days before the newest one (what
-- /metrics and a push add today's rows to), kept so that a one-shot push or a fresh
-- `nrec serve` does not sum every past day again. A cache: `key` says what it was computed
-- from (the days' extent, retention's marks, the database id and `past_generation`, which a
-- write into a past day and a rollup rebuild bump); a row whose key does not match is
-- ignored and replaced.
CREATE TABLE past_sums (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    key  BLOB NOT NULL,
    sums BLOB NOT NULL
);
