-- nrec schema 5: a sample belongs to the day, quarter hour and window holding the end of its
-- interval (ARCHITECTURE.md §4 "Windows"): one taken exactly at a quarter-hour boundary closes
-- the quarter before. No table changes; the conversion re-rolls the days whose raw samples are
-- still stored when any of them sits exactly on a boundary (schema 4 rolled those into the
-- quarter after).
SELECT 1;
