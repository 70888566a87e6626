//! Checks on the steps of a new run before anything is written: a mistake here would leave a
//! run that can never finish.

use std::collections::{HashMap, HashSet};

use super::error::StoreError;
use super::types::{NewStep, Phase, OUTPUT_KEY};

/// Checks that step keys are unique and not reserved, phases are main or `on_failure`,
/// dependencies name steps of the same phase, and there is no cycle.
pub(crate) fn validate_steps(steps: &[NewStep]) -> Result<(), StoreError> {
    let mut phases: HashMap<&str, Phase> = HashMap::with_capacity(steps.len());
    for s in steps {
        if s.key.is_empty() || s.key == OUTPUT_KEY {
            return Err(StoreError::Invalid(format!(
                "`{}` is not a usable step key",
                s.key
            )));
        }
        if !matches!(s.phase, Phase::Main | Phase::OnFailure) {
            return Err(StoreError::Invalid(format!(
                "step `{}`: a new run's steps are main or on_failure steps, not {}",
                s.key, s.phase
            )));
        }
        if phases.insert(&s.key, s.phase).is_some() {
            return Err(StoreError::Invalid(format!(
                "duplicate step key `{}`",
                s.key
            )));
        }
    }
    for s in steps {
        let mut seen = HashSet::new();
        for d in &s.deps {
            match phases.get(d.as_str()) {
                None => {
                    return Err(StoreError::Invalid(format!(
                        "step `{}` depends on unknown step `{d}`",
                        s.key
                    )))
                }
                Some(p) if *p != s.phase => {
                    return Err(StoreError::Invalid(format!(
                        "step `{}` ({}) depends on `{d}` ({p})",
                        s.key, s.phase
                    )))
                }
                Some(_) => {}
            }
            if !seen.insert(d.as_str()) {
                return Err(StoreError::Invalid(format!(
                    "step `{}` lists `{d}` twice",
                    s.key
                )));
            }
        }
    }
    check_acyclic(steps)
}

/// Kahn's algorithm: every step must be reachable by repeatedly taking steps whose
/// dependencies are all taken.
fn check_acyclic(steps: &[NewStep]) -> Result<(), StoreError> {
    let mut open: HashMap<&str, usize> = steps
        .iter()
        .map(|s| (s.key.as_str(), s.deps.len()))
        .collect();
    let mut dependents: HashMap<&str, Vec<&str>> = HashMap::new();
    for s in steps {
        for d in &s.deps {
            dependents.entry(d.as_str()).or_default().push(&s.key);
        }
    }
    let mut queue: Vec<&str> = steps
        .iter()
        .filter(|s| s.deps.is_empty())
        .map(|s| s.key.as_str())
        .collect();
    let mut done = 0;
    while let Some(k) = queue.pop() {
        done += 1;
        for dep in dependents.get(k).into_iter().flatten() {
            if let Some(n) = open.get_mut(dep) {
                *n -= 1;
                if *n == 0 {
                    queue.push(dep);
                }
            }
        }
    }
    if done == steps.len() {
        Ok(())
    } else {
        let mut stuck: Vec<&str> = open
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, _)| k)
            .collect();
        stuck.sort_unstable();
        Err(StoreError::Invalid(format!(
            "the steps' dependencies form a cycle through {}",
            stuck.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_dag() {
        let steps = vec![
            NewStep::main("a"),
            NewStep::main("b").after(["a"]),
            NewStep::main("c").after(["a", "b"]),
            NewStep::on_failure("!x"),
            NewStep::on_failure("!y").after(["!x"]),
        ];
        assert!(validate_steps(&steps).is_ok());
    }

    #[test]
    fn rejects_bad_steps() {
        let cases = vec![
            vec![NewStep::main("a"), NewStep::main("a")],
            vec![NewStep::main("a").after(["zz"])],
            vec![NewStep::main("$output")],
            vec![NewStep::main("a"), NewStep::on_failure("!x").after(["a"])],
            vec![
                NewStep::main("a").after(["b"]),
                NewStep::main("b").after(["a"]),
            ],
            vec![NewStep::main("a").after(["a"])],
            vec![NewStep {
                phase: Phase::Compensation,
                ..NewStep::main("~a")
            }],
        ];
        for steps in cases {
            assert!(
                matches!(validate_steps(&steps), Err(StoreError::Invalid(_))),
                "{steps:?}"
            );
        }
    }
}
