//! Name resolution and every check of the language, producing the compiled [`Project`].
//!
//! [`check_project`] checks all files of a project together, since workflows, connections and
//! mappings are global to it. It reports every independent error it finds in one pass, and
//! avoids cascades: an unknown name is reported where it is written and then treated as
//! absent (an unknown step in `after` adds no edge, so it cannot also close a cycle).
//!
//! Order of work: the global names, connections, mappings (with recursion between
//! them), webhook paths across the project, then each workflow (items, input, triggers,
//! defaults, steps, output, the dependency graph). A workflow gets a plan only when it, and
//! every connection and mapping it uses, is free of errors.

mod build;
mod calls;
mod connections;
mod context;
mod deps;
mod mappings;
mod names;
mod options;
mod retry;
mod scope;
mod steps;
mod suggest;
mod triggers;
mod walk;
mod workflow;

#[cfg(test)]
mod tests;

use crate::ast::Module;
use crate::catalog::Library;
use crate::diagnostic::Diagnostic;
use crate::plan::Project;
use crate::span::SourceMap;

/// The result of checking a project.
#[derive(Debug, Clone)]
pub struct CheckOutput {
    /// Plans of the workflows without errors, and every `env()`/`secret()` name the project reads.
    pub project: Project,
    /// Every finding, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

/// Checks the parsed files of a project against `library` and compiles what is free of errors.
///
/// `modules[i].file` must index `sources` (the file names go into the plans).
pub fn check_project(
    sources: &SourceMap,
    modules: &[Module],
    library: &dyn Library,
) -> CheckOutput {
    let mut cx = context::Cx::new(library, sources);
    let index = names::index_project(&mut cx, modules);
    let connections = connections::check_connections(&mut cx, &index);
    let mappings = mappings::check_mappings(&mut cx, &index);
    let clashing_paths = triggers::check_webhook_paths(&mut cx, &index);

    let mut project = Project::default();
    for checked in connections.values() {
        project
            .required_env
            .extend(checked.uses.env.iter().cloned());
        project
            .required_secrets
            .extend(checked.uses.secrets.iter().cloned());
    }
    for checked in mappings.values() {
        project
            .required_env
            .extend(checked.uses.env.iter().cloned());
        project
            .required_secrets
            .extend(checked.uses.secrets.iter().cloned());
    }

    let pcx = workflow::ProjectCx {
        index: &index,
        connections: &connections,
        mappings: &mappings,
    };
    for (i, at) in index.workflows.iter().enumerate() {
        let file_name = sources
            .files
            .get(at.file.0 as usize)
            .map_or("", |f| f.name.as_str());
        let blocked = clashing_paths.contains(&i) || index.duplicated_workflow(&at.item.name.name);
        let checked = workflow::check_workflow(&mut cx, &pcx, *at, file_name, blocked);
        project.required_env.extend(checked.uses.env);
        project.required_secrets.extend(checked.uses.secrets);
        if let Some(plan) = checked.plan {
            project.workflows.insert(plan.name.clone(), plan);
        }
    }
    CheckOutput {
        project,
        diagnostics: cx.into_diagnostics(),
    }
}
