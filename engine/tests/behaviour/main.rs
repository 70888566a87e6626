//! The executor's behaviour, the same suite on SQLite and on PostgreSQL: every test runs once
//! per store, each on a store of its own, driven by a manual clock (no sleeping for timers).

mod support;

mod basics;
mod compensation;
mod creation;
mod cron;
mod fan_out;
mod group_commit;
mod hostile_partner;
mod leases;
mod retries;
mod waiting;
