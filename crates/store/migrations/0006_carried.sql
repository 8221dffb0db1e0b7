-- nrec schema 6.
--
-- carried: what retention removed from the daily rollups, per series, summed. The metrics
-- (`nrec serve`, `export --format openmetrics`) expose counters as sums over everything ever
-- recorded; without this a counter would go backwards the day its oldest daily rows are
-- pruned (`[retention] daily` finite). first_day: the first UTC day the series had data,
-- for OpenMetrics' `_created`.
CREATE TABLE carried (
    series    INTEGER PRIMARY KEY REFERENCES series (id),
    total     BLOB    NOT NULL,
    first_day INTEGER NOT NULL
);
