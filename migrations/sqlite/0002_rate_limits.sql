-- Connection rate limits shared by every engine process on the database: one row per
-- connection holding its next free call slot (ms since the epoch). A caller reserves a slot by
-- moving next_at on by one interval in a single upsert, so reservations from all processes
-- queue in the order they reach the row. Additive: older engines never read it.
CREATE TABLE rate_limits (
    key     TEXT PRIMARY KEY,
    next_at BIGINT NOT NULL,
    updated BIGINT NOT NULL
);
