-- The event bus's log: every published event (audit records today; cameras, violations,
-- jobs and proctoring tomorrow), kept `events.retention_hours` so a client that
-- reconnects with `Last-Event-ID` gets what it missed.
--
-- Ids come from the one-row `events_head` counter, bumped inside the inserting
-- transaction: the row lock (PostgreSQL) or the write lock (SQLite) is held until commit,
-- so ids become visible in increasing order and a reader that has seen id N has seen
-- every id below it. The counter survives retention emptying the table, so ids never
-- restart. `store_id` names this database, so instances sharing only Redis can tell an
-- event already in their table from one they must import; `origin`/`origin_id` are where
-- an event was first published, which makes an import idempotent.
CREATE TABLE events (
    id        BIGINT PRIMARY KEY,
    at        BIGINT NOT NULL,
    kind      TEXT NOT NULL,
    min_role  TEXT NOT NULL,
    payload   TEXT NOT NULL,
    origin    TEXT NOT NULL,
    origin_id BIGINT NOT NULL,
    UNIQUE (origin, origin_id)
);

CREATE INDEX events_at ON events (at);

CREATE TABLE events_head (
    singleton BIGINT PRIMARY KEY,
    store_id  TEXT NOT NULL,
    last_id   BIGINT NOT NULL
);
