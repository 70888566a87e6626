//! Feeds arbitrary text through the whole front end: parse, check, render diagnostics.
//! It must never panic and never hang.
#![no_main]

use braid_dsl::{render, SourceMap};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut sources = SourceMap::new();
    sources.add("fuzz.braid", text.into_owned());
    let output = braid_stdlib::compile::compile(&sources);
    let _ = render::to_human(&sources, &output.diagnostics, false);
    let _ = render::to_json(&sources, &output.diagnostics);
});
