//! Carrying out one step of a compiled workflow, independent of how work is claimed and stored:
//! validating a run's input, evaluating connections, the evaluator's [`host::EngineHost`],
//! running a step's call, and deciding what a failure means under the step's retry policy.

pub mod call;
pub mod connections;
pub mod failure;
pub mod host;
pub mod input;
