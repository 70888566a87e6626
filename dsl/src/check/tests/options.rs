//! Option blocks: unknown options (E0201), keyword values (E0202), missing (E0203) and
//! misplaced (E0204) options, counts (E0003) and error classes (E0605).

use super::*;

#[test]
fn unknown_options_suggest_valid_ones() {
    let d = assert_error(
        "connection c {\n  base_url \"https://a.example\"\n  timout 5s\n}",
        "E0201",
        "timout",
    );
    assert_eq!(hint(&d), "did you mean `timeout`?");
    let d = assert_error(
        "workflow w { step a = http.get(\"https://x\") { retires 3 } }",
        "E0201",
        "retires",
    );
    assert_eq!(hint(&d), "did you mean `retry`?");
    let d = assert_error(
        "workflow w { descripton \"typo\" step a = transform(1) }",
        "E0201",
        "descripton",
    );
    assert_eq!(hint(&d), "did you mean `description`?");
    let d = assert_error(
        "workflow w { trigger cron \"0 * * * *\" { time_zone \"UTC\" } step a = transform(1) }",
        "E0201",
        "time_zone",
    );
    assert_eq!(hint(&d), "did you mean `timezone`?");
    let d = assert_error(
        "workflow w { step a = http.get(\"https://x\") { retry { attempts 3 backof fixed(1s) } } }",
        "E0201",
        "backof",
    );
    assert_eq!(hint(&d), "did you mean `backoff`?");
    assert_error(
        "workflow w { defaults { retries { } } step a = transform(1) }",
        "E0201",
        "retries",
    );
}

#[test]
fn unknown_auth_field() {
    let d = assert_error(
        "connection c {\n  base_url \"https://a.example\"\n  auth oauth2_client_credentials {\n    token_url \"https://a.example/token\"\n    client_id \"id\"\n    client_secret secret(\"S\")\n    scope [\"x\"]\n  }\n}",
        "E0201",
        "scope",
    );
    assert_eq!(hint(&d), "did you mean `scopes`?");
}

#[test]
fn invalid_keyword_values_list_the_allowed_ones() {
    let d = assert_error(
        "workflow w { step a = http.get(\"https://x\") { retry { jitter random } } }",
        "E0202",
        "random",
    );
    assert!(hint(&d).contains("`none`, `full`, `equal`"), "{}", hint(&d));
    let d = assert_error(
        "workflow w { step a = http.get(\"https://x\") { on_error ignore } }",
        "E0202",
        "ignore",
    );
    assert!(hint(&d).contains("`fail`, `continue`"));
    assert_error(
        "workflow w { trigger cron \"0 * * * *\" { overlap sometimes } step a = transform(1) }",
        "E0202",
        "sometimes",
    );
    assert_error(
        "workflow w { trigger cron \"0 * * * *\" { catchup some } step a = transform(1) }",
        "E0202",
        "some",
    );
    let d = assert_error(
        "workflow w { trigger webhook \"/h\" { method post } step a = transform(1) }",
        "E0202",
        "post",
    );
    assert!(hint(&d).starts_with("did you mean `POST`?"), "{}", hint(&d));
    assert_error(
        "workflow w { trigger webhook \"/h\" { verify hmac { algorithm md5 secret secret(\"S\") header \"X\" } } step a = transform(1) }",
        "E0202",
        "md5",
    );
    assert_error(
        "workflow w { trigger webhook \"/h\" { verify hmac { secret secret(\"S\") header \"X\" encoding base32 } } step a = transform(1) }",
        "E0202",
        "base32",
    );
}

#[test]
fn missing_auth_and_hmac_fields() {
    let d = assert_error(
        "connection c {\n  base_url \"https://a\"\n  auth oauth2_client_credentials {\n    client_id \"id\"\n    client_secret secret(\"S\")\n  }\n}",
        "E0203",
        "auth",
    );
    assert!(d.message.contains("token_url"), "{}", d.message);
    assert_error(
        "connection c { base_url \"https://a\" auth oauth2_refresh_token { token_url \"t\" client_id \"i\" client_secret \"s\" } }",
        "E0203",
        "auth",
    );
    assert_error(
        "connection c { base_url \"https://a\" auth api_key { header \"X-Key\" } }",
        "E0203",
        "auth",
    );
    assert_error(
        "connection c { base_url \"https://a\" auth api_key { value \"k\" } }",
        "E0203",
        "auth",
    );
    assert_error(
        "workflow w { trigger webhook \"/h\" { verify hmac { algorithm sha256 secret secret(\"S\") } } step a = transform(1) }",
        "E0203",
        "verify",
    );
    assert_error("connection c { timeout 5s }", "E0203", "c");
}

#[test]
fn api_key_takes_header_or_query_not_both() {
    assert_error(
        "connection c { base_url \"https://a\" auth api_key { header \"X-Key\" query \"key\" value \"k\" } }",
        "E0204",
        "\"key\"",
    );
}

#[test]
fn misplaced_options() {
    assert_error(
        "workflow w { step a = http.get(\"https://x\") { concurrency 4 } }",
        "E0204",
        "concurrency",
    );
    let d = assert_error(
        "workflow w {\n  step a = http.post(\"https://x\") {\n    compensate http.delete(\"https://x/${a.body.id}\") {\n      on_error continue\n    }\n  }\n}",
        "E0204",
        "on_error",
    );
    assert!(hint(&d).contains("`retry` and `timeout`"));
    assert_error(
        "workflow w { input { xs: array } step a = http.post(\"https://x\") { compensate http.delete(\"https://x\") { for_each i in input.xs } } }",
        "E0204",
        "for_each",
    );
    assert_error(
        "workflow w { step a = transform(1) on_failure { step b = http.post(\"https://x\") { compensate http.delete(\"https://x\") } } }",
        "E0204",
        "compensate",
    );
    assert_clean(
        "workflow w { step a = http.post(\"https://x\") { compensate http.delete(\"https://x/${a.body.id}\") { retry { attempts 10 } timeout 1m } } }",
    );
}

#[test]
fn control_step_timeout_is_a_warning() {
    let (sources, output) = check("workflow w { step a = wait_signal(\"go\") { timeout 5s } }");
    assert!(codes(&output).is_empty());
    assert_eq!(output.diagnostics.len(), 1);
    let d = &output.diagnostics[0];
    assert!(!d.is_error());
    assert_eq!(d.code.as_str(), "E0204");
    assert_eq!(spanned(&sources, d), "5s");
    assert!(hint(d).contains("timeout: 2d"));
    assert!(
        output.project.workflows.contains_key("w"),
        "warnings do not block the plan"
    );
}

#[test]
fn zero_counts() {
    assert_error(
        "workflow w { step a = http.get(\"https://x\") { retry { attempts 0 } } }",
        "E0003",
        "0",
    );
    assert_error(
        "workflow w { input { xs: array } step a = http.get(\"https://x/${item}\") { for_each item in input.xs concurrency 0 } }",
        "E0003",
        "0",
    );
    assert_error(
        "connection c { base_url \"https://a\" rate_limit 0 per second }",
        "E0003",
        "0",
    );
    assert_error(
        "workflow w { step a = http.get(\"https://x\") { timeout 0s } }",
        "E0003",
        "0s",
    );
    assert_error(
        "workflow w { step a = http.get(\"https://x\") { retry { backoff exponential(initial: 1s, factor: 0.5) } } }",
        "E0003",
        "0.5",
    );
}

#[test]
fn error_classes() {
    let d = assert_error(
        "workflow w { step a = http.get(\"https://x\") { retry { on [429, 6xx, timeout] } } }",
        "E0605",
        "6xx",
    );
    assert!(d.message.contains("6xx"));
    let d = assert_error(
        "workflow w { step a = http.get(\"https://x\") { retry { on [timeout, dns] } } }",
        "E0605",
        "dns",
    );
    assert!(hint(&d).contains("`timeout`"));
    let d = assert_error(
        "workflow w { step a = http.get(\"https://x\") { retry { on [timout] } } }",
        "E0605",
        "timout",
    );
    assert!(hint(&d).starts_with("did you mean `timeout`?"));
    assert_error(
        "workflow w { step a = http.get(\"https://x\") { retry { on [600] } } }",
        "E0605",
        "600",
    );
    assert_error(
        "workflow w { step a = http.get(\"https://x\") { retry { on [99] } } }",
        "E0605",
        "99",
    );
    assert_clean("workflow w { step a = http.get(\"https://x\") { retry { on [100, 599, 1xx, 5xx, timeout, network, expect, any] } } }");
}

#[test]
fn unknown_backoff() {
    assert_error(
        "workflow w { step a = http.get(\"https://x\") { retry { backoff linear(1s) } } }",
        "E0202",
        "linear",
    );
}
