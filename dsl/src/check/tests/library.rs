//! A small library mirroring the standard library's signatures (the `dsl` crate cannot depend
//! on `braid-stdlib`), so the checker can be tested on its own.

use crate::catalog::{ArgKind, ArgValue, FunctionKind, Library, NamedParam, Signature};
use crate::eval::{EvalError, EvalErrorKind, Host};
use serde_json::Value;

const fn pure(name: &'static str, positional: &'static [ArgKind], required: usize) -> Signature {
    Signature {
        name,
        kind: FunctionKind::Pure,
        positional,
        required_positional: required,
        variadic: false,
        named: &[],
        summary: "",
    }
}

const V: ArgKind = ArgKind::Value;
const fn opt(name: &'static str) -> NamedParam {
    NamedParam {
        name,
        required: false,
    }
}
const HTTP_NAMED: &[NamedParam] = &[opt("body"), opt("query"), opt("headers"), opt("form")];
const PAGINATE_NAMED: &[NamedParam] = &[
    NamedParam {
        name: "style",
        required: true,
    },
    opt("items"),
    opt("page_param"),
    opt("cursor_path"),
    opt("cursor_param"),
    opt("limit_param"),
    opt("limit"),
    opt("max_pages"),
    opt("query"),
    opt("headers"),
];

const fn http(name: &'static str) -> Signature {
    Signature {
        name,
        kind: FunctionKind::Step,
        positional: &[ArgKind::ConnectionOrUrl, V],
        required_positional: 1,
        variadic: false,
        named: HTTP_NAMED,
        summary: "an HTTP call",
    }
}

static SIGNATURES: &[Signature] = &[
    pure("len", &[V], 1),
    pure("upper", &[V], 1),
    pure("lower", &[V], 1),
    pure("trim", &[V], 1),
    pure("split", &[V, V], 2),
    pure("join", &[V, V], 2),
    pure("replace", &[V, V, V], 3),
    pure("contains", &[V, V], 2),
    pure("starts_with", &[V, V], 2),
    pure("ends_with", &[V, V], 2),
    pure("number", &[V], 1),
    pure("int", &[V], 1),
    pure("string", &[V], 1),
    pure("bool", &[V], 1),
    pure("keys", &[V], 1),
    pure("values", &[V], 1),
    pure("pick", &[V, V], 2),
    pure("omit", &[V, V], 2),
    Signature {
        variadic: true,
        ..pure("merge", &[V], 1)
    },
    pure("default", &[V, V], 2),
    pure("json_encode", &[V], 1),
    pure("json_decode", &[V], 1),
    pure("base64_encode", &[V], 1),
    pure("base64_decode", &[V], 1),
    pure("sha256", &[V], 1),
    pure("hmac_sha256", &[V, V], 2),
    pure("uuid", &[], 0),
    pure("now", &[], 0),
    pure("format_time", &[V, V], 2),
    pure("parse_time", &[V, V], 1),
    pure("sum", &[V], 1),
    pure("min", &[V], 1),
    pure("max", &[V], 1),
    pure("round", &[V, V], 1),
    pure("map", &[V, ArgKind::Lambda(1)], 2),
    pure("filter", &[V, ArgKind::Lambda(1)], 2),
    http("http.get"),
    http("http.post"),
    http("http.put"),
    http("http.patch"),
    http("http.delete"),
    Signature {
        name: "http.request",
        kind: FunctionKind::Step,
        positional: &[V, ArgKind::ConnectionOrUrl, V],
        required_positional: 2,
        variadic: false,
        named: HTTP_NAMED,
        summary: "an HTTP call with any method",
    },
    Signature {
        name: "http.paginate",
        named: PAGINATE_NAMED,
        ..http("http.paginate")
    },
    Signature {
        name: "sleep",
        kind: FunctionKind::Control,
        positional: &[ArgKind::Duration],
        required_positional: 1,
        variadic: false,
        named: &[],
        summary: "waits",
    },
    Signature {
        name: "sleep_until",
        kind: FunctionKind::Control,
        positional: &[V],
        required_positional: 1,
        variadic: false,
        named: &[],
        summary: "waits until a time",
    },
    Signature {
        name: "wait_signal",
        kind: FunctionKind::Control,
        positional: &[V],
        required_positional: 1,
        variadic: false,
        named: &[opt("timeout")],
        summary: "waits for a signal",
    },
    Signature {
        name: "workflow.run",
        kind: FunctionKind::Control,
        positional: &[ArgKind::WorkflowName],
        required_positional: 1,
        variadic: false,
        named: &[opt("input")],
        summary: "runs a child workflow",
    },
    Signature {
        name: "transform",
        kind: FunctionKind::Control,
        positional: &[V],
        required_positional: 1,
        variadic: false,
        named: &[],
        summary: "evaluates an expression",
    },
];

/// The test library.
pub struct TestLibrary;

impl Library for TestLibrary {
    fn signature(&self, name: &str) -> Option<&Signature> {
        SIGNATURES.iter().find(|s| s.name == name)
    }

    fn signatures(&self) -> Vec<&Signature> {
        SIGNATURES.iter().collect()
    }

    fn modules(&self) -> Vec<&'static str> {
        vec!["http", "workflow"]
    }

    fn call_pure(
        &self,
        _name: &str,
        _args: &[ArgValue<'_>],
        _host: &dyn Host,
    ) -> Result<Value, EvalError> {
        Err(EvalError::new(
            EvalErrorKind::Function,
            "the test library does not evaluate",
        ))
    }
}
