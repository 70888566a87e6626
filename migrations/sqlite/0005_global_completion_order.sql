-- Completions numbered across all runs instead of within each: one past the largest number
-- so far. Within a run the numbers still grow (its completions are serialised by its row's
-- lock), which is all compensation's order needs; and while the per-run index put each run's
-- numbers on a page of their own, so that a group commit of completions of many runs
-- rewrote one index page per run, new numbers now all go to the index's last page.
-- (`IF NOT EXISTS`: on a large PostgreSQL database the index may be built beforehand with
-- `CREATE INDEX CONCURRENTLY`, see docs/operations.md.)
CREATE INDEX IF NOT EXISTS steps_completed ON steps (completed_seq) WHERE completed_seq IS NOT NULL;
DROP INDEX IF EXISTS steps_completion_order;
