//! Triggers: E0601 (cron), E0602 (timezone), E0603 (path), E0105 (path used twice).

use super::*;
use crate::plan::{Catchup, Method, Overlap, Respond, TriggerPlan, VerifyPlan};

#[test]
fn invalid_cron() {
    let d = assert_error(
        "workflow w {\n  trigger cron \"61 * * * *\"\n  step a = transform(1)\n}",
        "E0601",
        "\"61 * * * *\"",
    );
    assert!(d.message.contains("minute"), "{}", d.message);
    let d = assert_error(
        "workflow w { trigger cron \"* * *\" step a = transform(1) }",
        "E0601",
        "\"* * *\"",
    );
    assert!(d.message.contains("found 3"), "{}", d.message);
}

#[test]
fn invalid_timezone_suggests_one() {
    let d = assert_error(
        "workflow w {\n  trigger cron \"30 2 * * *\" {\n    timezone \"Europe/Amsterdm\"\n  }\n  step a = transform(1)\n}",
        "E0602",
        "\"Europe/Amsterdm\"",
    );
    assert_eq!(hint(&d), "did you mean `Europe/Amsterdam`?");
    let d = assert_error("workflow w { trigger cron \"@daily\" { timezone \"europe/berlin\" } step a = transform(1) }", "E0602", "\"europe/berlin\"");
    assert_eq!(hint(&d), "did you mean `Europe/Berlin`?");
}

#[test]
fn webhook_paths() {
    let d = assert_error(
        "workflow w {\n  trigger webhook \"hooks/orders\"\n  step a = transform(1)\n}",
        "E0603",
        "\"hooks/orders\"",
    );
    assert!(hint(&d).contains("start with `/`"));
    assert_error(
        "workflow w { trigger webhook \"/hooks/a b\" step a = transform(1) }",
        "E0603",
        "\"/hooks/a b\"",
    );
    assert_error(
        "workflow w { trigger webhook \"/hooks?x=1\" step a = transform(1) }",
        "E0603",
        "\"/hooks?x=1\"",
    );
    assert_error(
        "workflow w { trigger webhook \"/hooks/%zz\" step a = transform(1) }",
        "E0603",
        "\"/hooks/%zz\"",
    );
    assert_clean(
        "workflow w { trigger webhook \"/hooks/a-b_c.d~e/%20/x:y@z\" step a = transform(1) }",
    );
}

#[test]
fn webhook_path_used_twice() {
    let (sources, out) = check_files(&[
        (
            "a.braid",
            "workflow a {\n  trigger webhook \"/hooks/orders\"\n  step x = transform(1)\n}",
        ),
        (
            "b.braid",
            "workflow b {\n  trigger webhook \"/hooks/orders\"\n  step y = transform(1)\n}",
        ),
    ]);
    assert_eq!(codes(&out), ["E0105"]);
    let d = &out.diagnostics[0];
    assert_eq!(d.file, FileId(1));
    assert_eq!(spanned(&sources, d), "\"/hooks/orders\"");
    assert_eq!(d.secondary[0].file, FileId(0));
    assert!(
        out.project.workflows.contains_key("a"),
        "the first keeps its plan"
    );
    assert!(!out.project.workflows.contains_key("b"));
    // Another method on the same path is fine.
    assert_clean("workflow a { trigger webhook \"/h\" step x = transform(1) }\nworkflow b { trigger webhook \"/h\" { method PUT } step y = transform(1) }");
}

#[test]
fn trigger_plans() {
    let out = assert_clean(
        "workflow w {\n  trigger cron \"0 9 * * 1-5\" { timezone \"Europe/Amsterdam\" overlap queue catchup all input { a: 1 } }\n  trigger cron \"@hourly\"\n  trigger webhook \"/h\" { method PUT verify hmac { algorithm sha512 secret secret(\"S\") header \"X-Sig\" encoding base64 prefix \"sha512=\" } dedupe header(\"X-Id\") respond sync(5s) }\n  trigger webhook \"/s\" { verify stripe(secret(\"ST\")) }\n  step a = transform(1)\n}",
    );
    let plan = &out.project.workflows["w"];
    assert!(plan.has_webhook());
    match &plan.triggers[0] {
        TriggerPlan::Cron {
            schedule,
            timezone,
            overlap,
            catchup,
            input,
        } => {
            assert_eq!(schedule.as_str(), "0 0 9 * * MON-FRI");
            assert_eq!(timezone, "Europe/Amsterdam");
            assert_eq!((*overlap, *catchup), (Overlap::Queue, Catchup::All));
            assert!(input.is_some());
        }
        other => panic!("{other:?}"),
    }
    match &plan.triggers[1] {
        TriggerPlan::Cron {
            timezone,
            overlap,
            catchup,
            input,
            ..
        } => {
            assert_eq!(timezone, "UTC");
            assert_eq!(
                (*overlap, *catchup),
                (Overlap::Skip, Catchup::Latest),
                "documented defaults"
            );
            assert!(input.is_none());
        }
        other => panic!("{other:?}"),
    }
    match &plan.triggers[2] {
        TriggerPlan::Webhook {
            path,
            method,
            verify: Some(VerifyPlan::Hmac { header, prefix, .. }),
            dedupe,
            respond,
        } => {
            assert_eq!((path.as_str(), *method), ("/h", Method::Put));
            assert_eq!(header, "X-Sig");
            assert_eq!(prefix.as_deref(), Some("sha512="));
            assert!(dedupe.is_some());
            assert_eq!(*respond, Respond::Sync(5_000));
        }
        other => panic!("{other:?}"),
    }
    match &plan.triggers[3] {
        TriggerPlan::Webhook {
            method,
            verify: Some(VerifyPlan::Stripe { .. }),
            respond,
            ..
        } => {
            assert_eq!(
                (*method, *respond),
                (Method::Post, Respond::Async),
                "documented defaults"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(plan.required_secrets.contains("S") && plan.required_secrets.contains("ST"));
}

#[test]
fn unknown_verify_scheme() {
    assert_error("workflow w { trigger webhook \"/h\" { verify github(secret(\"S\")) } step a = transform(1) }", "E0202", "github");
}
