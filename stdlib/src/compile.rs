//! Compiling a project: loading `.braid` files, parsing each, and checking them together
//! against this standard library's catalog.

use braid_dsl::check::{check_project, CheckOutput};
use braid_dsl::parser::parse;
use braid_dsl::{FileId, SourceMap};
use std::path::{Path, PathBuf};

/// A file or directory that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The path does not exist or cannot be read.
    #[error("cannot read `{path}`")]
    Io {
        /// The path as given.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A directory holds no `.braid` files.
    #[error("no `.braid` files in `{0}`")]
    Empty(PathBuf),
}

/// Reads the given files, and every `*.braid` file below the given directories (sorted, so
/// diagnostics come out in a stable order), into a source map.
pub fn load_paths(paths: &[PathBuf]) -> Result<SourceMap, LoadError> {
    let mut sources = SourceMap::new();
    for path in paths {
        let io = |source| LoadError::Io {
            path: path.clone(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.is_dir() {
            let mut files = Vec::new();
            collect_braid_files(path, &mut files).map_err(io)?;
            if files.is_empty() {
                return Err(LoadError::Empty(path.clone()));
            }
            files.sort();
            for file in files {
                let text = std::fs::read_to_string(&file).map_err(|source| LoadError::Io {
                    path: file.clone(),
                    source,
                })?;
                sources.add(file.display().to_string(), text);
            }
        } else {
            let text = std::fs::read_to_string(path).map_err(io)?;
            sources.add(path.display().to_string(), text);
        }
    }
    Ok(sources)
}

fn collect_braid_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_braid_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "braid") {
            out.push(path);
        }
    }
    Ok(())
}

/// Parses and checks every file of `sources` as one project. Diagnostics of all files come
/// back sorted by file and position; workflows free of errors get a plan.
pub fn compile(sources: &SourceMap) -> CheckOutput {
    let mut syntax = Vec::new();
    let modules: Vec<_> = sources
        .files
        .iter()
        .enumerate()
        .map(|(i, file)| {
            let (module, diagnostics) = parse(FileId(i as u32), &file.text);
            syntax.extend(diagnostics);
            module
        })
        .collect();
    let mut output = check_project(sources, &modules, crate::catalog::std_library());
    output.diagnostics.extend(syntax);
    output
        .diagnostics
        .sort_by_key(|d| (d.file, d.span.start, d.span.end, d.code));
    output
}
