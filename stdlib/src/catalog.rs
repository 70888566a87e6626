//! The catalog: every function a workflow can call, with its signature. The checker resolves
//! calls against it; the evaluator calls the pure ones through it.

use crate::functions;
use braid_dsl::catalog::{ArgKind, ArgValue, FunctionKind, Library, NamedParam, Signature};
use braid_dsl::eval::{EvalError, EvalErrorKind, Host};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

use ArgKind::{ConnectionOrUrl as Conn, Duration as Dur, Lambda, Value as V, WorkflowName};
use FunctionKind::{Control, Pure, Step};

const fn named(name: &'static str) -> NamedParam {
    NamedParam {
        name,
        required: false,
    }
}

const fn required(name: &'static str) -> NamedParam {
    NamedParam {
        name,
        required: true,
    }
}

const fn sig(
    name: &'static str,
    kind: FunctionKind,
    positional: &'static [ArgKind],
    required_positional: usize,
    summary: &'static str,
) -> Signature {
    Signature {
        name,
        kind,
        positional,
        required_positional,
        variadic: false,
        named: &[],
        summary,
    }
}

const fn variadic(mut s: Signature) -> Signature {
    s.variadic = true;
    s
}

const fn with_named(mut s: Signature, named: &'static [NamedParam]) -> Signature {
    s.named = named;
    s
}

/// Named arguments of every `http.*` request function.
const HTTP_NAMED: &[NamedParam] = &[
    named("body"),
    named("query"),
    named("headers"),
    named("form"),
];

/// Named arguments of `http.paginate`.
const PAGINATE_NAMED: &[NamedParam] = &[
    required("style"),
    named("query"),
    named("headers"),
    named("items"),
    named("page_param"),
    named("start_page"),
    named("cursor_path"),
    named("cursor_param"),
    named("offset_param"),
    named("limit_param"),
    named("limit"),
    named("max_pages"),
];

/// Every signature of the standard library.
pub const SIGNATURES: &[Signature] = &[
    // Strings
    sig(
        "len",
        Pure,
        &[V],
        1,
        "Length of a string (in characters), array, or object (keys).",
    ),
    sig(
        "upper",
        Pure,
        &[V],
        1,
        "The string in upper case (Unicode-aware).",
    ),
    sig(
        "lower",
        Pure,
        &[V],
        1,
        "The string in lower case (Unicode-aware).",
    ),
    sig(
        "trim",
        Pure,
        &[V],
        1,
        "The string without leading and trailing whitespace.",
    ),
    sig(
        "split",
        Pure,
        &[V, V],
        2,
        "The string split at each occurrence of a separator.",
    ),
    sig(
        "join",
        Pure,
        &[V, V],
        2,
        "The strings of an array joined with a separator.",
    ),
    sig(
        "replace",
        Pure,
        &[V, V, V],
        3,
        "The string with every occurrence of a pattern replaced.",
    ),
    sig(
        "contains",
        Pure,
        &[V, V],
        2,
        "Whether a string holds a substring, an array an item, or an object a key.",
    ),
    sig(
        "starts_with",
        Pure,
        &[V, V],
        2,
        "Whether a string starts with a prefix.",
    ),
    sig(
        "ends_with",
        Pure,
        &[V, V],
        2,
        "Whether a string ends with a suffix.",
    ),
    // Conversions
    sig(
        "number",
        Pure,
        &[V],
        1,
        "A number from a number, a numeric string or a bool.",
    ),
    sig(
        "int",
        Pure,
        &[V],
        1,
        "An integer from a number (truncated toward zero) or an integer string.",
    ),
    sig(
        "string",
        Pure,
        &[V],
        1,
        "A string: strings as they are, other values as JSON.",
    ),
    sig(
        "bool",
        Pure,
        &[V],
        1,
        "Truthiness: false for null, false, 0, \"\", [] and {}; true otherwise.",
    ),
    // Collections
    sig("keys", Pure, &[V], 1, "The keys of an object, sorted."),
    sig(
        "values",
        Pure,
        &[V],
        1,
        "The values of an object, in key order.",
    ),
    sig(
        "pick",
        Pure,
        &[V, V],
        2,
        "The object with only the given keys.",
    ),
    sig(
        "omit",
        Pure,
        &[V, V],
        2,
        "The object without the given keys.",
    ),
    variadic(sig(
        "merge",
        Pure,
        &[V, V],
        2,
        "Objects merged left to right, deeply (later values win).",
    )),
    sig(
        "default",
        Pure,
        &[V, V],
        2,
        "The first argument unless it is null, else the second.",
    ),
    sig(
        "map",
        Pure,
        &[V, Lambda(1)],
        2,
        "Each item of an array transformed by a lambda.",
    ),
    sig(
        "filter",
        Pure,
        &[V, Lambda(1)],
        2,
        "The items of an array for which a lambda is true.",
    ),
    sig(
        "sum",
        Pure,
        &[V],
        1,
        "The sum of an array of numbers (0 for an empty array).",
    ),
    variadic(sig(
        "min",
        Pure,
        &[V],
        1,
        "The smallest of an array of numbers, or of the arguments (null when empty).",
    )),
    variadic(sig(
        "max",
        Pure,
        &[V],
        1,
        "The largest of an array of numbers, or of the arguments (null when empty).",
    )),
    sig(
        "round",
        Pure,
        &[V, V],
        1,
        "A number rounded half away from zero, to an optional number of decimals.",
    ),
    // Encoding
    sig(
        "json_encode",
        Pure,
        &[V],
        1,
        "A value as compact JSON text.",
    ),
    sig("json_decode", Pure, &[V], 1, "The value of a JSON text."),
    sig(
        "base64_encode",
        Pure,
        &[V],
        1,
        "A string's UTF-8 bytes in standard base64.",
    ),
    sig(
        "base64_decode",
        Pure,
        &[V],
        1,
        "The UTF-8 text of standard (or URL-safe) base64.",
    ),
    sig(
        "sha256",
        Pure,
        &[V],
        1,
        "The SHA-256 of a string, in lower-case hex.",
    ),
    sig(
        "hmac_sha256",
        Pure,
        &[V, V],
        2,
        "HMAC-SHA256 of a message with a key, in lower-case hex.",
    ),
    // Time and identity
    sig(
        "uuid",
        Pure,
        &[],
        0,
        "A random UUID v4 (recorded, so a resumed run sees the same one).",
    ),
    sig(
        "now",
        Pure,
        &[],
        0,
        "The current time in RFC 3339, UTC (recorded, like uuid()).",
    ),
    sig(
        "format_time",
        Pure,
        &[V, V],
        2,
        "A time (RFC 3339 text or epoch seconds) formatted with strftime codes.",
    ),
    sig(
        "parse_time",
        Pure,
        &[V, V],
        1,
        "A time parsed from RFC 3339 (or with a strftime format), as RFC 3339 UTC.",
    ),
    // Step functions
    with_named(
        sig(
            "http.get",
            Step,
            &[Conn, V],
            1,
            "GET a path of a connection, or a full URL.",
        ),
        HTTP_NAMED,
    ),
    with_named(
        sig(
            "http.post",
            Step,
            &[Conn, V],
            1,
            "POST to a path of a connection, or a full URL.",
        ),
        HTTP_NAMED,
    ),
    with_named(
        sig(
            "http.put",
            Step,
            &[Conn, V],
            1,
            "PUT to a path of a connection, or a full URL.",
        ),
        HTTP_NAMED,
    ),
    with_named(
        sig(
            "http.patch",
            Step,
            &[Conn, V],
            1,
            "PATCH a path of a connection, or a full URL.",
        ),
        HTTP_NAMED,
    ),
    with_named(
        sig(
            "http.delete",
            Step,
            &[Conn, V],
            1,
            "DELETE a path of a connection, or a full URL.",
        ),
        HTTP_NAMED,
    ),
    with_named(
        sig(
            "http.request",
            Step,
            &[V, Conn, V],
            2,
            "A request with any method.",
        ),
        HTTP_NAMED,
    ),
    with_named(
        sig(
            "http.paginate",
            Step,
            &[Conn, V],
            1,
            "Every page of a paginated collection: {items, pages}.",
        ),
        PAGINATE_NAMED,
    ),
    // Control steps
    sig(
        "sleep",
        Control,
        &[Dur],
        1,
        "Waits for a duration (a durable timer).",
    ),
    sig(
        "sleep_until",
        Control,
        &[V],
        1,
        "Waits until a time (RFC 3339 or epoch seconds).",
    ),
    with_named(
        sig(
            "wait_signal",
            Control,
            &[V],
            1,
            "Waits for a signal sent to the run; its output is the signal's payload.",
        ),
        &[named("timeout")],
    ),
    with_named(
        sig(
            "workflow.run",
            Control,
            &[WorkflowName],
            1,
            "Runs another workflow as a durable child run; its output.",
        ),
        &[named("input")],
    ),
    sig(
        "transform",
        Control,
        &[V],
        1,
        "A pure computation as a step: its output is the expression's value.",
    ),
];

/// The standard library, as the language sees it.
pub struct StdLibrary {
    by_name: HashMap<&'static str, &'static Signature>,
}

/// The one standard library instance.
pub fn std_library() -> &'static StdLibrary {
    static LIBRARY: OnceLock<StdLibrary> = OnceLock::new();
    LIBRARY.get_or_init(|| StdLibrary {
        by_name: SIGNATURES.iter().map(|s| (s.name, s)).collect(),
    })
}

impl Library for StdLibrary {
    fn signature(&self, name: &str) -> Option<&Signature> {
        self.by_name.get(name).copied()
    }

    fn signatures(&self) -> Vec<&Signature> {
        SIGNATURES.iter().collect()
    }

    fn modules(&self) -> Vec<&'static str> {
        vec!["http", "workflow"]
    }

    fn call_pure(
        &self,
        name: &str,
        args: &[ArgValue<'_>],
        host: &dyn Host,
    ) -> Result<Value, EvalError> {
        match self.signature(name) {
            Some(sig) if sig.kind == Pure => functions::call(name, args, host),
            Some(_) => Err(EvalError::new(
                EvalErrorKind::Function,
                format!("`{name}` can only be called as a step"),
            )),
            None => Err(EvalError::new(
                EvalErrorKind::Function,
                format!("unknown function `{name}`"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pure_function_is_implemented() {
        struct NoHost;
        impl Host for NoHost {
            fn env(&self, _: &str) -> Option<String> {
                None
            }
            fn secret(&self, _: &str) -> Option<String> {
                None
            }
            fn now(&self) -> chrono::DateTime<chrono::Utc> {
                chrono::DateTime::UNIX_EPOCH
            }
            fn uuid(&self) -> String {
                "00000000-0000-4000-8000-000000000000".into()
            }
        }
        for sig in SIGNATURES.iter().filter(|s| s.kind == Pure) {
            // Calling with no arguments must give a typed error (or a value for 0-ary functions),
            // never "unknown function".
            let result = std_library().call_pure(sig.name, &[], &NoHost);
            if let Err(e) = result {
                assert!(
                    !e.message.contains("unknown function"),
                    "{}: {}",
                    sig.name,
                    e.message
                );
            }
        }
    }

    #[test]
    fn names_are_unique() {
        assert_eq!(std_library().by_name.len(), SIGNATURES.len());
    }
}
