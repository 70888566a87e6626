//! Duplicate and reserved names: E0101, E0102, E0103, E0104, E0106.

use super::*;

#[test]
fn duplicate_workflow_points_at_the_first() {
    let d = assert_error(
        "workflow w { step a = transform(1) }\nworkflow w { step b = transform(2) }",
        "E0101",
        "w",
    );
    assert_eq!(d.span.start, 46, "the second definition");
    assert_eq!(d.secondary.len(), 1);
    assert_eq!(d.secondary[0].message, "first defined here");
    assert_eq!(d.secondary[0].span.start, 9);
}

#[test]
fn each_file_calls_its_own_connection_of_a_name_two_files_define() {
    let (_, output) = check_files(&[
        ("a.braid", "connection crm { base_url \"https://a.example\" }\nworkflow wa { step s = http.get(crm) }"),
        ("b.braid", "connection crm { base_url \"https://b.example\" }\nworkflow wb { step s = http.get(crm) }"),
    ]);
    assert_eq!(codes(&output), Vec::<&str>::new());
    let base = |workflow: &str| {
        format!(
            "{:?}",
            output.project.workflows[workflow].connections["crm"]
        )
    };
    assert!(base("wa").contains("a.example"), "{}", base("wa"));
    assert!(base("wb").contains("b.example"), "{}", base("wb"));
}

#[test]
fn a_connection_one_file_defines_is_seen_from_the_others() {
    let (_, output) = check_files(&[
        (
            "a.braid",
            "connection crm { base_url \"https://a.example\" }",
        ),
        ("b.braid", "workflow w { step s = http.get(crm) }"),
    ]);
    assert_eq!(codes(&output), Vec::<&str>::new());
    assert!(output.project.workflows.contains_key("w"));
}

#[test]
fn a_connection_several_other_files_define_is_ambiguous() {
    let (sources, output) = check_files(&[
        (
            "a.braid",
            "connection crm { base_url \"https://a.example\" }",
        ),
        (
            "b.braid",
            "connection crm { base_url \"https://b.example\" }",
        ),
        ("c.braid", "workflow w { step s = http.get(crm) }"),
    ]);
    assert_eq!(codes(&output), ["E0101"]);
    let d = &output.diagnostics[0];
    assert_eq!(d.file, FileId(2));
    assert_eq!(spanned(&sources, d), "crm");
    let defined: Vec<FileId> = d.secondary.iter().map(|s| s.file).collect();
    assert_eq!(defined, [FileId(0), FileId(1)]);
    assert!(
        output.project.workflows.is_empty(),
        "a workflow using an ambiguous connection gets no plan"
    );
}

#[test]
fn duplicate_connection_in_one_file() {
    let (sources, output) = check_files(&[(
        "a.braid",
        "connection crm { base_url \"https://a.example\" }\nconnection crm { base_url \"https://b.example\" }\nworkflow w { step s = http.get(crm) }",
    )]);
    assert_eq!(codes(&output), ["E0101"]);
    let d = &output.diagnostics[0];
    assert_eq!(spanned(&sources, d), "crm");
    assert_eq!(d.secondary[0].message, "first defined here");
    assert!(
        output.project.workflows.is_empty(),
        "a workflow using a duplicated connection gets no plan"
    );
}

#[test]
fn duplicate_mapping() {
    assert_error("mapping m(x) = x\nmapping m(y) = y", "E0101", "m");
}

#[test]
fn kinds_have_separate_namespaces() {
    assert_clean(
        "connection crm { base_url \"https://x.example\" }\nmapping crm(x) = x\nworkflow crm { step a = http.get(crm, \"/\") }",
    );
}

#[test]
fn duplicate_step_including_on_failure() {
    let d = assert_error(
        "workflow w {\n  step a = transform(1)\n  step a = transform(2)\n}",
        "E0102",
        "a",
    );
    assert_eq!(d.span.start, 44, "the second `a`");
    assert_eq!(d.secondary[0].span.start, 20);
    assert_error(
        "workflow w {\n  step a = transform(1)\n  on_failure {\n    step a = transform(2)\n  }\n}",
        "E0102",
        "a",
    );
}

#[test]
fn duplicate_options() {
    let d = assert_error(
        "workflow w { step a = http.get(\"https://x.example\") { timeout 5s timeout 10s } }",
        "E0103",
        "timeout",
    );
    assert_eq!(d.secondary[0].message, "first given here");
    assert_error(
        "connection c {\n  base_url \"https://a\"\n  base_url \"https://b\"\n}",
        "E0103",
        "base_url",
    );
    assert_error(
        "workflow w { description \"a\" description \"b\" step a = transform(1) }",
        "E0103",
        "description",
    );
    assert_error(
        "workflow w { step a = http.get(\"https://x\") { retry { attempts 2 attempts 3 } } }",
        "E0103",
        "attempts",
    );
    assert_error(
        "workflow w { trigger cron \"@daily\" { overlap skip overlap allow } step a = transform(1) }",
        "E0103",
        "overlap",
    );
}

#[test]
fn duplicate_named_argument() {
    assert_error(
        "workflow w { step a = http.post(\"https://x\", body: 1, body: 2) }",
        "E0103",
        "body",
    );
}

#[test]
fn duplicate_input_field_and_mapping_parameter() {
    let d = assert_error("workflow w {\n  input {\n    id: int\n    id: string\n  }\n  step a = transform(input.id)\n}", "E0104", "id");
    assert_eq!(d.secondary[0].message, "first declared here");
    assert_error("mapping m(x, x) = x", "E0104", "x");
}

#[test]
fn reserved_names() {
    assert_error("workflow w { step input = transform(1) }", "E0106", "input");
    assert_error("mapping len(x) = x", "E0106", "len");
    assert_error("mapping secret(x) = x", "E0106", "secret");
    assert_error(
        "workflow w { input { xs: array } step a = transform(1) { for_each run in input.xs } }",
        "E0106",
        "run",
    );
}
