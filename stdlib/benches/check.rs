//! Compile speed: a generated project of 100 workflows with 20 steps each (2,000 steps), parsed
//! and checked as `braid check DIR` does. Target: under 100 ms in release mode.
//! The baseline in the same run is parsing alone, so the checker's share is visible.

use braid_dsl::parser::parse;
use braid_dsl::{FileId, SourceMap};
use braid_stdlib::compile::compile;
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

/// One workflow of `steps` steps: a chain with fan-in, interpolation, mappings, for_each and
/// compensation, so every phase of the checker does real work.
fn workflow(index: usize, steps: usize) -> String {
    let mut text = format!(
        "connection api{index} {{\n  base_url env(\"API_{index}_URL\")\n  auth bearer(secret(\"API_{index}_TOKEN\"))\n  rate_limit 10 per second\n}}\n\n\
         mapping shape{index}(x) = {{ id: x.id, name: upper(x.name ?? \"\"), total: round(number(x.total) * 100) }}\n\n\
         workflow flow{index} {{\n  input {{\n    id: int\n    items: array\n    note: string?\n  }}\n\
         \n  trigger webhook \"/hooks/{index}\" {{ verify standard_webhooks(secret(\"HOOK_{index}\")) }}\n\n\
         \n  step s0 = http.get(api{index}, \"/orders/${{input.id}}\")\n"
    );
    for s in 1..steps {
        let prev = s - 1;
        let body = match s % 4 {
            0 => format!("  step s{s} = http.post(api{index}, \"/things/${{s{prev}.body.id}}\", body: shape{index}(s{prev}.body) + {{ n: {s} }}) {{\n    retry {{ attempts 5 backoff exponential(initial: 1s, factor: 2, max: 1m) }}\n    compensate http.delete(api{index}, \"/things/${{s{s}.body.id}}\")\n  }}\n"),
            1 => format!("  step s{s} = transform(map(filter(input.items, i => i.qty > 0), i => {{ sku: i.sku, from: s{prev}.body.id }}))\n"),
            2 => format!("  step s{s} = http.put(api{index}, \"/lines/${{item.sku}}\", body: item) {{\n    for_each item in s{prev}\n    concurrency 4\n    expect s{s}.status == 200\n  }}\n"),
            _ => format!("  step s{s} = http.patch(api{index}, \"/orders/${{input.id}}\", body: {{ done: len(s{prev} ?? []) }}) {{\n    when input.note != null || s{prev} != null\n    after s0\n    on_error continue\n  }}\n"),
        };
        text.push_str(&body);
    }
    text.push_str(&format!("\n  output {{ last: s{} }}\n}}\n", steps - 1));
    text
}

fn project() -> SourceMap {
    let mut sources = SourceMap::new();
    for i in 0..100 {
        sources.add(format!("flow{i}.braid"), workflow(i, 20));
    }
    sources
}

fn bench(c: &mut Criterion) {
    let sources = project();
    let output = compile(&sources);
    let errors: Vec<_> = output.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(
        errors.is_empty(),
        "the generated project must compile: {errors:?}"
    );
    let steps: usize = output
        .project
        .workflows
        .values()
        .map(|w| w.steps.len())
        .sum();
    assert_eq!(steps, 2000);

    let mut group = c.benchmark_group("check_2000_steps");
    group.bench_function("parse_only (baseline)", |b| {
        b.iter(|| {
            for (i, f) in sources.files.iter().enumerate() {
                black_box(parse(FileId(i as u32), &f.text));
            }
        })
    });
    group.bench_function("parse_and_check", |b| {
        b.iter(|| black_box(compile(&sources)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
