//! Loading a folder of workflows for `braid serve`, and reloading it when files change.
//!
//! Each load compiles the whole folder as one project. A workflow that compiles, and whose
//! `env()` variables and secrets are all set, is served. A file that fails to compile is
//! reported with its diagnostics; the workflows it held keep serving their previous version,
//! if there was one. Runs already started keep the version they started with whatever
//! happens here (they are pinned to their plan's hash in the store).

use crate::runtime::host::Secrets;
use braid_dsl::plan::WorkflowPlan;
use braid_dsl::render;
use braid_stdlib::compile::{compile, load_paths, LoadError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// Something wrong with a file or a workflow, as shown by `/api/workflows` and the logs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// The file concerned.
    pub file: String,
    /// The workflow concerned, when the problem is one workflow's.
    pub workflow: Option<String>,
    /// What is wrong: diagnostics with source snippets, or the missing settings.
    pub message: String,
    /// Whether a previous version of the file's workflows is still served.
    pub serving_previous: bool,
}

/// The outcome of a load: what is served now, and what is wrong.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// The workflows to serve, by name.
    pub plans: BTreeMap<String, Arc<WorkflowPlan>>,
    /// Files and workflows left out (or kept at their previous version), with the reason.
    pub problems: Vec<Problem>,
}

/// Watches one folder of `.braid` files.
#[derive(Debug)]
pub struct WorkflowLoader {
    dir: PathBuf,
    fingerprint: Option<Vec<(PathBuf, SystemTime, u64)>>,
    current: Loaded,
}

impl WorkflowLoader {
    /// A loader for the `.braid` files below `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        WorkflowLoader {
            dir: dir.into(),
            fingerprint: None,
            current: Loaded::default(),
        }
    }

    /// The folder watched.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the last load served.
    pub fn current(&self) -> &Loaded {
        &self.current
    }

    /// Compiles the folder if any file was added, removed or changed since the last load;
    /// returns the new state, or `None` when nothing changed.
    ///
    /// # Errors
    ///
    /// The folder cannot be read (the previous state stays in force).
    pub fn reload(&mut self, secrets: &Secrets) -> Result<Option<&Loaded>, LoadError> {
        let fingerprint = fingerprint(&self.dir).map_err(|source| LoadError::Io {
            path: self.dir.clone(),
            source,
        })?;
        if self.fingerprint.as_ref() == Some(&fingerprint) {
            return Ok(None);
        }
        let loaded = if fingerprint.is_empty() {
            Loaded {
                plans: BTreeMap::new(),
                problems: vec![Problem {
                    file: self.dir.display().to_string(),
                    workflow: None,
                    message: "no `.braid` files in this folder".into(),
                    serving_previous: false,
                }],
            }
        } else {
            self.compile(secrets)?
        };
        self.fingerprint = Some(fingerprint);
        self.current = loaded;
        Ok(Some(&self.current))
    }

    fn compile(&self, secrets: &Secrets) -> Result<Loaded, LoadError> {
        let sources = load_paths(std::slice::from_ref(&self.dir))?;
        let output = compile(&sources);
        let mut loaded = Loaded::default();
        let mut broken_files = Vec::new();
        for (id, file) in sources.files.iter().enumerate() {
            let errors: Vec<_> = output
                .diagnostics
                .iter()
                .filter(|d| d.file.0 as usize == id && d.is_error())
                .cloned()
                .collect();
            if !errors.is_empty() {
                broken_files.push(file.name.clone());
                let previous: Vec<String> = self
                    .current
                    .plans
                    .values()
                    .filter(|p| p.file == file.name)
                    .map(|p| p.name.clone())
                    .collect();
                loaded.problems.push(Problem {
                    file: file.name.clone(),
                    workflow: None,
                    message: render::to_human(&sources, &errors, false),
                    serving_previous: !previous.is_empty(),
                });
            }
        }
        for (name, plan) in output.project.workflows {
            if broken_files.contains(&plan.file) {
                continue;
            }
            match missing_settings(&plan, secrets) {
                None => {
                    loaded.plans.insert(name, Arc::new(plan));
                }
                Some(message) => loaded.problems.push(Problem {
                    file: plan.file.clone(),
                    workflow: Some(name),
                    message,
                    serving_previous: false,
                }),
            }
        }
        // A broken file's workflows keep serving the version loaded before.
        for (name, plan) in &self.current.plans {
            if broken_files.contains(&plan.file) && !loaded.plans.contains_key(name) {
                loaded.plans.insert(name.clone(), plan.clone());
            }
        }
        Ok(loaded)
    }
}

/// What a workflow needs that is not set: `env()` variables and secrets, or `None`.
fn missing_settings(plan: &WorkflowPlan, secrets: &Secrets) -> Option<String> {
    let env: Vec<&str> = plan
        .required_env
        .iter()
        .filter(|n| std::env::var_os(n).is_none())
        .map(String::as_str)
        .collect();
    let secret: Vec<&str> = plan
        .required_secrets
        .iter()
        .filter(|n| secrets.get(n).is_none())
        .map(String::as_str)
        .collect();
    if env.is_empty() && secret.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    if !env.is_empty() {
        parts.push(format!("environment variables not set: {}", env.join(", ")));
    }
    if !secret.is_empty() {
        parts.push(format!(
            "secrets not set (in the environment or with `braid secret set`): {}",
            secret.join(", ")
        ));
    }
    Some(format!(
        "workflow `{}` is not served: {}",
        plan.name,
        parts.join("; ")
    ))
}

/// Path, modification time and length of every `.braid` file below `dir`, sorted.
fn fingerprint(dir: &Path) -> std::io::Result<Vec<(PathBuf, SystemTime, u64)>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let path = entry.path();
            let meta = entry.metadata()?;
            if meta.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "braid") {
                out.push((path, meta.modified()?, meta.len()));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).expect("write");
        // Make sure the modification is seen even within the file system's time resolution.
        let later =
            SystemTime::now() + std::time::Duration::from_secs(1 + rand::random::<u64>() % 1000);
        let file = std::fs::File::options()
            .write(true)
            .open(dir.join(name))
            .expect("open");
        file.set_modified(later).expect("set mtime");
    }

    #[test]
    fn broken_files_are_reported_and_keep_their_previous_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "a.braid",
            "workflow a { step s = transform(1) }",
        );
        write(
            dir.path(),
            "b.braid",
            "workflow b { step s = transform(2) }",
        );
        let mut loader = WorkflowLoader::new(dir.path());
        let secrets = Secrets::default();
        let first = loader
            .reload(&secrets)
            .expect("load")
            .expect("changed")
            .clone();
        assert_eq!(first.plans.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert!(first.problems.is_empty());
        assert!(
            loader.reload(&secrets).expect("load").is_none(),
            "unchanged"
        );

        write(dir.path(), "a.braid", "workflow a { step s = transform(1 }");
        let second = loader
            .reload(&secrets)
            .expect("load")
            .expect("changed")
            .clone();
        assert_eq!(second.plans.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(second.problems.len(), 1);
        assert!(second.problems[0].serving_previous);
        assert!(
            second.problems[0].message.contains("error"),
            "{}",
            second.problems[0].message
        );
        assert!(Arc::ptr_eq(&first.plans["a"], &second.plans["a"]));

        std::fs::remove_file(dir.path().join("a.braid")).expect("remove");
        let third = loader
            .reload(&secrets)
            .expect("load")
            .expect("changed")
            .clone();
        assert_eq!(third.plans.keys().collect::<Vec<_>>(), ["b"]);
    }

    #[test]
    fn workflows_missing_settings_are_left_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "a.braid",
            r#"workflow a { step s = transform(secret("BRAID_TEST_LOADER_NEVER_SET")) }
               workflow b { step s = transform(1) }"#,
        );
        let mut loader = WorkflowLoader::new(dir.path());
        let loaded = loader
            .reload(&Secrets::default())
            .expect("load")
            .expect("changed")
            .clone();
        assert_eq!(loaded.plans.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(loaded.problems.len(), 1);
        assert!(loaded.problems[0]
            .message
            .contains("BRAID_TEST_LOADER_NEVER_SET"));
    }
}
