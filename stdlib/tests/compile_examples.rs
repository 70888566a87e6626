//! Every shared example (each file a project of its own) and the project's `workflows/`
//! directory (one project) parse and check with the real standard library, with no
//! diagnostics at all.

use braid_dsl::check::check_project;
use braid_dsl::parser::parse;
use braid_dsl::{render, SourceMap};
use std::path::{Path, PathBuf};

fn braid_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "braid"))
        .collect();
    files.sort();
    files
}

/// Parses and checks `files` as one project; returns the number of compiled workflows.
fn compile_clean(files: &[PathBuf]) -> usize {
    let mut sources = SourceMap::new();
    let mut diagnostics = Vec::new();
    let mut modules = Vec::new();
    for path in files {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file = sources.add(path.display().to_string(), text);
        let (module, syntax) = parse(file, &sources.get(file).text);
        diagnostics.extend(syntax);
        modules.push(module);
    }
    let output = check_project(&sources, &modules, braid_stdlib::catalog::std_library());
    diagnostics.extend(output.diagnostics);
    assert!(
        diagnostics.is_empty(),
        "{}",
        render::to_human(&sources, &diagnostics, false)
    );
    output.project.workflows.len()
}

#[test]
fn shared_examples_compile_with_no_diagnostics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/examples");
    let files = braid_files(&dir);
    if files.is_empty() {
        eprintln!("skipped: no examples at {}", dir.display());
        return;
    }
    // As one project (two of them define `connection crm`: each calls its own), and each file
    // on its own.
    assert!(compile_clean(&files) >= files.len());
    for file in &files {
        assert!(
            compile_clean(std::slice::from_ref(file)) >= 1,
            "{} compiles to no workflow",
            file.display()
        );
    }
}

#[test]
fn project_workflows_compile_with_no_diagnostics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workflows");
    let files = braid_files(&dir);
    if files.is_empty() {
        eprintln!("skipped: no workflows at {}", dir.display());
        return;
    }
    // As one project (names and webhook paths are global), and each file on its own.
    assert!(compile_clean(&files) >= files.len());
    for file in &files {
        compile_clean(std::slice::from_ref(file));
    }
}
