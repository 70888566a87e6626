-- The order in which a run's steps completed: each completion numbers itself one past the
-- run's highest so far, which without an index scans all the run's steps (a `for_each` of
-- 10,000 items read 10,000 rows per item). Partial, so that it serves only queries that ask
-- for completed steps and never displaces the primary key in the others.
CREATE INDEX steps_completion_order ON steps (run_id, completed_seq) WHERE completed_seq IS NOT NULL;
