-- A group commit's common case — main steps succeeded and hand off to their dependents —
-- written by one call in one round trip and one transaction: the runs locked, the
-- successes recorded, the runs that may now wait refreshed. (A transaction written from the
-- engine statement by statement costs a round trip each for BEGIN, the lock, the batch and
-- COMMIT.) The engine's `record_successes` (engine/src/store/postgres/batch.rs) documents
-- what it writes and what it returns.
--
-- The function is versioned by name: a change to it is a new migration with a new name, so
-- that during a rolling upgrade an older engine keeps calling the function it was built for.

-- A row of the function's answer: a completion recorded (`dependent` false, with its run),
-- or a dependent it made ready (`dependent` true, with the step as a claim reads it).
CREATE TYPE braid_recorded_v1 AS (
    ord             BIGINT,
    dependent       BOOLEAN,
    ended           BOOLEAN,
    run_id          TEXT,
    key             TEXT,
    run_status      TEXT,
    workflow        TEXT,
    version_hash    TEXT,
    taken           BOOLEAN,
    status          TEXT,
    phase           TEXT,
    attempt         BIGINT,
    max_attempts    BIGINT,
    state           TEXT,
    waiting_for     TEXT,
    idempotency_key TEXT,
    parent_key      TEXT,
    item_index      BIGINT,
    claimed_from    TEXT
);

-- The completions are given as arrays, one element each, numbered by their place (`ord`),
-- which orders their completion numbers within a run and their history: runs, keys,
-- workers, attempts, outputs (JSON text) and phases (`main`, or `output`: the run ends with
-- it); `p_now` is the time written, `p_until` the hand-offs' lease end (NULL: none is handed
-- off). Each row changes once: the steps finished are `running`, the dependents counted
-- down never are (a step runs only once all its dependencies are done), a parent run's step
-- woken is `waiting`; a run that ends has no step left to take.
--
-- The statement's plan must not depend on the tables' statistics or on the number of
-- completions (see the settings below): rows are found by primary key, each lookup a
-- `LATERAL` subquery kept from being flattened into a join (`LIMIT 1`, `OFFSET 0`) so that
-- it stays an index lookup; and no two sets made here are joined with each other (their
-- sizes are unknown to the planner, which takes them for one row each and would join them
-- in nested loops, quadratic in the batch) — a completion's worker is read from the array
-- by its `ord` instead.
CREATE FUNCTION braid_record_successes_v1(
    p_runs text[], p_keys text[], p_workers text[], p_attempts int8[], p_outputs text[],
    p_now int8, p_until int8, p_phases text[]
) RETURNS SETOF braid_recorded_v1 LANGUAGE plpgsql
-- Planned once per connection, not on every call: a custom plan, made for the arrays of
-- each call, costs several times what running the statement does. The one plan is made
-- with the tables as they are then, maybe nearly empty, and kept: the planner is kept from
-- the scans and joins that win only on small tables, so that every row is found by index.
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
DECLARE
    rec braid_recorded_v1;
    -- Runs a recorded completion left with nothing made ready: they may be waiting now.
    waits text[] := '{}';
    last_run text;
    last_waits boolean := false;
BEGIN
    -- In order, so that two transactions locking sets of runs never wait in a circle. Each
    -- statement below sees what the ones before it wrote, and what other transactions
    -- committed while this one waited for a lock (READ COMMITTED, a snapshot per statement).
    PERFORM 1 FROM runs WHERE id = ANY(p_runs) ORDER BY id FOR NO KEY UPDATE;
    FOR rec IN
        WITH held AS (SELECT d.ord, d.run_id, d.key, d.worker, d.output,
            d.phase = 'output' AS ends_run, s.claimed_from,
            r.status AS run_status, r.workflow, r.version_hash
            FROM unnest(p_runs, p_keys, p_workers, p_attempts, p_outputs, p_phases)
            WITH ORDINALITY AS d(run_id, key, worker, attempt, output, phase, ord)
            CROSS JOIN LATERAL (SELECT s.claimed_from FROM steps s
                WHERE s.run_id = d.run_id AND s.key = d.key AND s.status = 'running'
                AND s.lease_owner = d.worker AND s.attempt = d.attempt AND s.phase = d.phase
                AND s.parent_key IS NULL LIMIT 1) s
            CROSS JOIN LATERAL (SELECT r.status, r.workflow, r.version_hash FROM runs r
                WHERE r.id = d.run_id AND r.stage = 'main'
                AND r.status NOT IN ('succeeded', 'failed', 'compensation_failed', 'cancelled')
                LIMIT 1) r),
        closed AS (UPDATE attempts a SET finished = p_now, outcome = 'succeeded', error = NULL
            FROM held h WHERE a.run_id = h.run_id AND a.key = h.key AND a.finished IS NULL
            AND h.claimed_from IS DISTINCT FROM 'waiting'),
        finished AS (UPDATE steps s SET status = 'succeeded', output = h.output, error = NULL,
            completed_seq = (SELECT COALESCE(MAX(completed_seq), 0) FROM steps
                WHERE completed_seq IS NOT NULL) + h.ord,
            lease_owner = NULL, lease_expires_at = NULL, due_at = NULL, finished = p_now,
            updated = p_now
            FROM held h
            WHERE s.run_id = h.run_id AND s.key = h.key AND s.status = 'running'
            AND s.lease_owner = h.worker
            RETURNING h.ord, s.run_id, s.key, h.ends_run, h.run_status, h.workflow,
            h.version_hash),
        ended AS (UPDATE runs r SET status = 'succeeded', stage = 'done', output = h.output,
            finished = p_now, updated = p_now
            FROM held h WHERE h.ends_run AND r.id = h.run_id
            RETURNING h.ord, r.id, r.parent_run_id, r.parent_step_key),
        woken AS (UPDATE steps p SET ready_at = p_now, due_at = p_now, updated = p_now
            FROM ended e
            WHERE p.run_id = e.parent_run_id AND p.key = e.parent_step_key
            AND p.status = 'waiting'),
        hits AS (SELECT sd.run_id, sd.key, COUNT(*) AS n, MAX(f.ord) AS closer FROM finished f
            CROSS JOIN LATERAL (SELECT sd.run_id, sd.key FROM step_deps sd
                WHERE sd.run_id = f.run_id AND sd.dep_key = f.key OFFSET 0) sd
            GROUP BY sd.run_id, sd.key),
        opened AS (SELECT h.run_id, h.key, h.n, h.closer, t.opened FROM hits h
            CROSS JOIN LATERAL (SELECT t.status = 'pending' AND t.deps_open <= h.n AS opened
                FROM steps t WHERE t.run_id = h.run_id AND t.key = h.key
                AND t.status <> 'running' LIMIT 1) t),
        marked AS (SELECT o.*, o.opened AND p_until IS NOT NULL AND row_number() OVER
            (PARTITION BY o.closer, o.opened ORDER BY o.key) = 1 AS taken FROM opened o),
        changed AS (UPDATE steps s SET deps_open = s.deps_open - m.n,
            status = CASE WHEN m.taken THEN 'running' WHEN m.opened THEN 'ready'
                ELSE s.status END,
            ready_at = CASE WHEN m.opened THEN p_now ELSE s.ready_at END,
            due_at = CASE WHEN m.taken THEN p_until WHEN m.opened THEN p_now
                ELSE s.due_at END,
            lease_owner = CASE WHEN m.taken THEN p_workers[m.closer] ELSE s.lease_owner END,
            lease_expires_at = CASE WHEN m.taken THEN p_until ELSE s.lease_expires_at END,
            claimed_from = CASE WHEN m.taken THEN 'ready' ELSE s.claimed_from END,
            attempt = s.attempt + CASE WHEN m.taken THEN 1 ELSE 0 END,
            attempts_total = s.attempts_total + CASE WHEN m.taken THEN 1 ELSE 0 END,
            started = CASE WHEN m.taken THEN COALESCE(s.started, p_now) ELSE s.started END,
            updated = p_now
            FROM marked m WHERE s.run_id = m.run_id AND s.key = m.key
            AND s.status <> 'running'
            RETURNING s.run_id, s.key, s.phase, s.status, s.attempt, s.max_attempts, s.state,
            s.waiting_for, s.idempotency_key, s.parent_key, s.item_index, s.claimed_from,
            m.closer, m.opened, m.taken),
        new_attempts AS (INSERT INTO attempts (run_id, key, number, attempt, worker, started)
            SELECT c.run_id, c.key, (SELECT COALESCE(MAX(a.number), 0) + 1 FROM attempts a
                WHERE a.run_id = c.run_id AND a.key = c.key), c.attempt,
            p_workers[c.closer], p_now
            FROM changed c WHERE c.taken),
        run_started AS (UPDATE runs SET status = 'running', started = COALESCE(started, p_now),
            updated = p_now
            WHERE id IN (SELECT run_id FROM changed WHERE taken)
            AND id NOT IN (SELECT id FROM ended) AND status IN ('pending', 'waiting')),
        history AS (INSERT INTO events (run_id, at, kind, step_key, data)
            SELECT e.run_id, p_now, e.kind, e.key, e.data FROM (
                SELECT f.ord, 0 AS seq, f.run_id, 'step_succeeded' AS kind, f.key,
                NULL::text AS data FROM finished f
                UNION ALL SELECT c.closer, 1, c.run_id, 'step_ready', c.key, NULL
                FROM changed c WHERE c.opened
                UNION ALL SELECT c.closer, 2, c.run_id, 'step_started', c.key,
                '{"attempt":' || c.attempt || ',"worker":'
                || to_json(p_workers[c.closer])::text || '}'
                FROM changed c WHERE c.taken
                UNION ALL SELECT e.ord, 3, e.id, 'run_succeeded', NULL, NULL FROM ended e) e
            ORDER BY e.ord, e.seq, e.key)
        SELECT f.ord, false AS dependent, f.ends_run AS ended, f.run_id, f.key, f.run_status,
            f.workflow, f.version_hash, NULL::boolean AS taken, NULL::text AS status,
            NULL::text AS phase, NULL::int8 AS attempt, NULL::int8 AS max_attempts,
            NULL::text AS state, NULL::text AS waiting_for, NULL::text AS idempotency_key,
            NULL::text AS parent_key, NULL::int8 AS item_index, NULL::text AS claimed_from
            FROM finished f
        UNION ALL SELECT c.closer, true, NULL, c.run_id, c.key, NULL, NULL, NULL, c.taken,
            c.status, c.phase, c.attempt, c.max_attempts, c.state, c.waiting_for,
            c.idempotency_key, c.parent_key, c.item_index, c.claimed_from
            FROM changed c WHERE c.opened
        ORDER BY 1, 2, 5
    LOOP
        -- A completion's row comes before the rows of the dependents it made ready.
        IF rec.dependent THEN
            last_waits := false;
        ELSE
            IF last_waits THEN
                waits := waits || last_run;
            END IF;
            last_run := rec.run_id;
            last_waits := NOT rec.ended;
        END IF;
        RETURN NEXT rec;
    END LOOP;
    IF last_waits THEN
        waits := waits || last_run;
    END IF;
    IF cardinality(waits) > 0 THEN
        UPDATE runs SET status = CASE WHEN EXISTS (SELECT 1 FROM steps
                WHERE steps.run_id = runs.id AND steps.status IN ('ready', 'running'))
            THEN 'running' ELSE 'waiting' END, updated = p_now
        WHERE id = ANY(waits) AND stage = 'main' AND status IN ('running', 'waiting');
    END IF;
END
$$;
