//! Triggers: what starts runs besides the API and `workflow.run`. [`cron`] fires the
//! workflows' schedules (webhook triggers belong with the HTTP API).

pub mod cron;
