//! `docs/stdlib.md` documents every function of the catalog.

use braid_stdlib::catalog::SIGNATURES;

#[test]
fn every_function_has_documentation() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/stdlib.md");
    let doc = std::fs::read_to_string(path).expect("docs/stdlib.md");
    let missing: Vec<&str> = SIGNATURES
        .iter()
        .map(|s| s.name)
        .filter(|name| !doc.contains(&format!("`{name}")))
        .collect();
    assert!(
        missing.is_empty(),
        "undocumented in docs/stdlib.md: {missing:?}"
    );
}
