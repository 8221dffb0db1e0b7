-- nrec schema 7.
--
-- alert_fired: what each quota or alert rule of the config file ([[alert]]) fired, so a
-- crossing fires once per period however many samples see it over the limit, and
-- `nrec alerts` can say what fired when. Keyed by the rule's name and its period: a volume
-- rule's period start (UTC ms of the local hour, day or month), a rate rule's crossing (the
-- sample time the rate first reached the limit; `cleared_ms` is set when it fell below, which
-- re-arms the rule). INSERT OR IGNORE on the key is what makes two recorders fire once.
CREATE TABLE alert_fired (
    rule       TEXT    NOT NULL,
    period     INTEGER NOT NULL,
    fired_ms   INTEGER NOT NULL,
    subject    TEXT    NOT NULL,
    value      REAL    NOT NULL,
    threshold  REAL    NOT NULL,
    cleared_ms INTEGER,
    -- what the rule's command did: "exit 0", "exit 3", "killed after 10 s", "no command" …
    outcome    TEXT,
    PRIMARY KEY (rule, period)
) WITHOUT ROWID;
