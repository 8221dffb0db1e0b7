-- Schema 12: a random id of this database, made once, so a long-lived reader (nrec serve's
-- cache of past days) can tell another file put in its place (a restored backup) from this
-- one, whatever their days look like.
INSERT OR IGNORE INTO meta (key, value) VALUES ('database_id', random());
