//! The compiled plan: a DAG of steps with resolved policies.
