//! The shared examples and the project's own workflows compile with no diagnostics at all.
//! (`stdlib/tests/compile_examples.rs` does the same with the real standard library.)

use super::*;
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

fn assert_compiles(files: &[PathBuf]) -> usize {
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = texts
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let (sources, out) = check_files(&refs);
    assert!(
        out.diagnostics.is_empty(),
        "{}",
        crate::render::to_human(&sources, &out.diagnostics, false)
    );
    out.project.workflows.len()
}

#[test]
fn shared_examples_compile_clean_together_and_one_file_at_a_time() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/examples");
    let files = braid_files(&dir);
    if files.is_empty() {
        eprintln!("skipped: no examples at {}", dir.display());
        return;
    }
    // As one project (two of them define `connection crm`: each calls its own), and each file
    // on its own.
    assert!(assert_compiles(&files) >= files.len());
    for file in &files {
        assert!(
            assert_compiles(std::slice::from_ref(file)) >= 1,
            "{}",
            file.display()
        );
    }
}

#[test]
fn project_workflows_compile_clean_together() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workflows");
    let files = braid_files(&dir);
    if files.is_empty() {
        eprintln!("skipped: no workflows at {}", dir.display());
        return;
    }
    assert!(assert_compiles(&files) >= files.len());
}
