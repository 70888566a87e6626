-- Every step taken or finished rewrote a page of this index, which served one statement:
-- handing back all of a worker's leases when it stops. That statement now finds them through
-- `steps_due` (a running step is due when its lease ends). Older engines work without it.
DROP INDEX IF EXISTS steps_owner;
