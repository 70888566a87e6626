//! The project's names: workflows, connections and mappings, each a namespace of its own.
//! Workflow and mapping names are global to the project; a connection name belongs to the
//! file that defines it, and is seen from the files that define none of that name when only
//! one file does. A name defined twice (a connection: twice in one file) is E0101 (on the
//! later definition, pointing back at the first); lookups resolve to the first definition.

use super::context::Cx;
use crate::ast::{Connection, Ident, Item, Mapping, Module, Workflow};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::FileId;
use std::collections::{HashMap, HashSet};

/// Names the language itself gives meaning to in expressions; steps, `for_each` variables
/// and mappings cannot take them.
pub(crate) const RESERVED_VALUES: &[&str] = &["input", "run", "trigger", "error"];

/// Function names that are part of the language rather than the library.
pub(crate) const LANGUAGE_FUNCTIONS: &[&str] = &["env", "secret", "header", "transform"];

const WORKFLOWS: usize = 0;
const CONNECTIONS: usize = 1;
const MAPPINGS: usize = 2;

/// An item with the file it is in.
pub(crate) struct Located<'a, T> {
    /// The file.
    pub file: FileId,
    /// The item.
    pub item: &'a T,
}

// Manual impls: derives would needlessly require `T: Clone`/`T: Copy`.
impl<T> Clone for Located<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Located<'_, T> {}

/// Every global name of the project.
pub(crate) struct Index<'a> {
    /// Every workflow in file and source order (duplicates included).
    pub workflows: Vec<Located<'a, Workflow>>,
    /// Every connection in order (duplicates included).
    pub connection_list: Vec<Located<'a, Connection>>,
    /// Every mapping in order (duplicates included).
    pub mapping_list: Vec<Located<'a, Mapping>>,
    /// Workflow name → its first definition's position in `workflows`.
    pub workflow_names: HashMap<&'a str, usize>,
    /// Connection name → its first definition in each file that has one, in file order.
    pub connections: HashMap<&'a str, Vec<Located<'a, Connection>>>,
    /// Mapping name → first definition.
    pub mappings: HashMap<&'a str, Located<'a, Mapping>>,
    /// Names defined more than once, per namespace (workflows, connections, mappings), with
    /// the file for a connection (see [`Scoped`]): no plan uses them, so nothing runs on a
    /// guess about which definition was meant.
    duplicated: [HashSet<Scoped<'a>>; 3],
}

/// A name as its namespace tells definitions apart: with the file for a connection (each
/// file's own), without for workflows and mappings (global).
type Scoped<'a> = (Option<FileId>, &'a str);

/// What a connection name means in a file.
pub(crate) enum ConnectionRef<'i, 'a> {
    /// The file's own connection of that name, or else the only one in the project.
    Defined(Located<'a, Connection>),
    /// The file has none of that name, and several other files each have one.
    Ambiguous(&'i [Located<'a, Connection>]),
    /// No file has a connection of that name.
    Unknown,
}

/// The key of `name` in namespace `ns`, defined in `file`.
fn scoped(ns: usize, file: FileId, name: &str) -> Scoped<'_> {
    ((ns == CONNECTIONS).then_some(file), name)
}

impl<'a> Index<'a> {
    /// Whether two workflows have this name.
    pub fn duplicated_workflow(&self, name: &str) -> bool {
        self.duplicated[WORKFLOWS].contains(&(None, name))
    }

    /// Whether two connections of `file` have this name.
    pub fn duplicated_connection(&self, file: FileId, name: &str) -> bool {
        self.duplicated[CONNECTIONS].contains(&(Some(file), name))
    }

    /// Whether two mappings have this name.
    pub fn duplicated_mapping(&self, name: &str) -> bool {
        self.duplicated[MAPPINGS].contains(&(None, name))
    }

    /// What the connection `name` means in `file`.
    pub fn connection(&self, file: FileId, name: &str) -> ConnectionRef<'_, 'a> {
        match self.connections.get(name).map(Vec::as_slice) {
            None | Some([]) => ConnectionRef::Unknown,
            Some([only]) => ConnectionRef::Defined(*only),
            Some(all) => all
                .iter()
                .find(|at| at.file == file)
                .map_or(ConnectionRef::Ambiguous(all), |own| {
                    ConnectionRef::Defined(*own)
                }),
        }
    }

    /// Sorted names of the connections (for suggestions).
    pub fn connection_names(&self) -> Vec<&'a str> {
        sorted(self.connections.keys().copied())
    }

    /// Sorted names of the mappings.
    pub fn mapping_names(&self) -> Vec<&'a str> {
        sorted(self.mappings.keys().copied())
    }

    /// Sorted names of the workflows.
    pub fn workflow_name_list(&self) -> Vec<&'a str> {
        sorted(self.workflow_names.keys().copied())
    }
}

fn sorted<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<_> = names.collect();
    v.sort_unstable();
    v
}

/// Collects the global names, reporting duplicates (E0101) and mappings that take a name the
/// language or the library already uses (E0106).
pub(crate) fn index_project<'a>(cx: &mut Cx<'_>, modules: &'a [Module]) -> Index<'a> {
    let mut index = Index {
        workflows: Vec::new(),
        connection_list: Vec::new(),
        mapping_list: Vec::new(),
        workflow_names: HashMap::new(),
        connections: HashMap::new(),
        mappings: HashMap::new(),
        duplicated: Default::default(),
    };
    // One map per namespace: name → (file, ident) of the first definition.
    let mut first: [HashMap<Scoped<'a>, (FileId, &'a Ident)>; 3] = Default::default();
    for module in modules {
        let file = module.file;
        for item in &module.items {
            let (ns, kind, name) = match item {
                Item::Workflow(w) => (WORKFLOWS, "workflow", &w.name),
                Item::Connection(c) => (CONNECTIONS, "connection", &c.name),
                Item::Mapping(m) => (MAPPINGS, "mapping", &m.name),
            };
            let key = scoped(ns, file, name.name.as_str());
            let first_here = !first[ns].contains_key(&key);
            if let Some(&(first_file, first_ident)) = first[ns].get(&key) {
                let hint = if ns == CONNECTIONS {
                    "a file defines each connection once; rename one of them".to_string()
                } else {
                    format!("{kind} names are global to the project; rename one of them")
                };
                cx.report(
                    Diagnostic::error(
                        Code::DuplicateItem,
                        file,
                        name.span,
                        format!("the {kind} `{}` is defined twice", name.name),
                    )
                    .with_label(format!("second {kind} named `{}`", name.name))
                    .with_secondary(first_file, first_ident.span, "first defined here")
                    .with_hint(hint),
                );
                index.duplicated[ns].insert(key);
            } else {
                first[ns].insert(key, (file, name));
            }
            match item {
                Item::Workflow(w) => {
                    index
                        .workflow_names
                        .entry(w.name.name.as_str())
                        .or_insert(index.workflows.len());
                    index.workflows.push(Located { file, item: w });
                }
                Item::Connection(c) => {
                    let located = Located { file, item: c };
                    if first_here {
                        index
                            .connections
                            .entry(c.name.name.as_str())
                            .or_default()
                            .push(located);
                    }
                    index.connection_list.push(located);
                }
                Item::Mapping(m) => {
                    let located = Located { file, item: m };
                    index
                        .mappings
                        .entry(m.name.name.as_str())
                        .or_insert(located);
                    index.mapping_list.push(located);
                    check_mapping_name(cx, file, &m.name);
                }
            }
        }
    }
    index
}

/// A mapping named like a function would make calls ambiguous.
fn check_mapping_name(cx: &mut Cx<'_>, file: FileId, name: &Ident) {
    let n = name.name.as_str();
    if LANGUAGE_FUNCTIONS.contains(&n) || cx.signature(n).is_some() {
        cx.report(
            Diagnostic::error(
                Code::ReservedName,
                file,
                name.span,
                format!("a mapping cannot be named `{n}`"),
            )
            .with_label("this name is a function of the language or the standard library")
            .with_hint("choose another name"),
        );
    }
}

/// Reports a step or `for_each` variable named like a built-in value (`input`, `run`, …).
pub(crate) fn check_value_name(cx: &mut Cx<'_>, file: FileId, name: &Ident, what: &str) -> bool {
    if RESERVED_VALUES.contains(&name.name.as_str()) {
        cx.report(
            Diagnostic::error(
                Code::ReservedName,
                file,
                name.span,
                format!("a {what} cannot be named `{}`", name.name),
            )
            .with_label(format!(
                "`{}` already means something in expressions",
                name.name
            ))
            .with_hint(format!(
                "choose another name; {} are built in",
                quoted_list(RESERVED_VALUES)
            )),
        );
        return false;
    }
    true
}

/// `a`, `b` and `c` → "`a`, `b`, `c`".
pub(crate) fn quoted_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
