-- Braid store schema (PostgreSQL). Keep in step with ../sqlite/0001_store.sql: the same tables,
-- columns and indexes; times are integer milliseconds since the Unix epoch, JSON is text.

CREATE TABLE workflow_versions (
    hash    TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    plan    TEXT NOT NULL,
    created BIGINT NOT NULL
);

CREATE TABLE runs (
    id              TEXT PRIMARY KEY,
    workflow        TEXT NOT NULL,
    version_hash    TEXT NOT NULL,
    status          TEXT NOT NULL,
    stage           TEXT NOT NULL DEFAULT 'main',
    input           TEXT NOT NULL,
    output          TEXT,
    error           TEXT,
    trigger_data    TEXT,
    dedupe_key      TEXT,
    parent_run_id   TEXT,
    parent_step_key TEXT,
    created         BIGINT NOT NULL,
    updated         BIGINT NOT NULL,
    started         BIGINT,
    finished        BIGINT,
    UNIQUE (workflow, dedupe_key)
);
CREATE INDEX runs_by_workflow ON runs (workflow, status, created);
CREATE INDEX runs_by_status ON runs (status, created);
CREATE INDEX runs_by_created ON runs (created, id);
CREATE INDEX runs_by_parent ON runs (parent_run_id);

CREATE TABLE steps (
    run_id                    TEXT NOT NULL REFERENCES runs (id),
    key                       TEXT NOT NULL,
    phase                     TEXT NOT NULL,
    status                    TEXT NOT NULL,
    attempt                   BIGINT NOT NULL DEFAULT 0,
    attempts_total            BIGINT NOT NULL DEFAULT 0,
    max_attempts              BIGINT NOT NULL,
    deps_open                 BIGINT NOT NULL DEFAULT 0,
    has_compensation          BOOLEAN NOT NULL DEFAULT FALSE,
    compensation_max_attempts BIGINT NOT NULL DEFAULT 1,
    parent_key                TEXT,
    item_index                BIGINT,
    concurrency               BIGINT,
    output                    TEXT,
    error                     TEXT,
    state                     TEXT,
    waiting_for               TEXT,
    ready_at                  BIGINT,
    due_at                    BIGINT,
    lease_owner               TEXT,
    lease_expires_at          BIGINT,
    claimed_from              TEXT,
    completed_seq             BIGINT,
    idempotency_key           TEXT,
    created                   BIGINT NOT NULL,
    updated                   BIGINT NOT NULL,
    started                   BIGINT,
    finished                  BIGINT,
    PRIMARY KEY (run_id, key)
);
-- A step is claimable when due_at has passed: ready_at for ready, retrying and waiting steps,
-- the lease's end for running ones; NULL when nothing but an event can make it claimable.
CREATE INDEX steps_due ON steps (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX steps_owner ON steps (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX steps_children ON steps (run_id, parent_key, item_index) WHERE parent_key IS NOT NULL;

CREATE TABLE step_deps (
    run_id  TEXT NOT NULL,
    key     TEXT NOT NULL,
    dep_key TEXT NOT NULL,
    PRIMARY KEY (run_id, dep_key, key)
);
CREATE INDEX step_deps_by_key ON step_deps (run_id, key);

CREATE TABLE attempts (
    run_id   TEXT NOT NULL,
    key      TEXT NOT NULL,
    number   BIGINT NOT NULL,
    attempt  BIGINT NOT NULL,
    worker   TEXT NOT NULL,
    started  BIGINT NOT NULL,
    finished BIGINT,
    outcome  TEXT,
    error    TEXT,
    PRIMARY KEY (run_id, key, number)
);

CREATE TABLE events (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id   TEXT NOT NULL,
    at       BIGINT NOT NULL,
    kind     TEXT NOT NULL,
    step_key TEXT,
    data     TEXT
);
CREATE INDEX events_by_run ON events (run_id, id);

CREATE TABLE signals (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id           TEXT NOT NULL,
    name             TEXT NOT NULL,
    payload          TEXT NOT NULL,
    at               BIGINT NOT NULL,
    consumed_by_step TEXT,
    consumed_at      BIGINT
);
CREATE INDEX signals_by_run ON signals (run_id, name, id);

-- One row per cron tick claimed: `pending` until it is decided (a queued tick, waiting for the
-- workflow's active run to end, stays `pending`), then `started` (run_id set) or `skipped`
-- (note says why). fired_at is when it was claimed.
CREATE TABLE cron_ticks (
    trigger_key  TEXT NOT NULL,
    scheduled_at BIGINT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending',
    run_id       TEXT,
    note         TEXT,
    fired_at     BIGINT NOT NULL,
    PRIMARY KEY (trigger_key, scheduled_at)
);
CREATE INDEX cron_ticks_pending ON cron_ticks (trigger_key, scheduled_at) WHERE status = 'pending';

CREATE TABLE kv (
    namespace TEXT NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    updated   BIGINT NOT NULL,
    PRIMARY KEY (namespace, key)
);
