//! Building a request from a step's evaluated arguments and its connection.

use super::error::CallError;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// A connection with every expression evaluated (secrets resolved).
#[derive(Clone, Default)]
pub struct ConnectionConfig {
    /// The connection's name (for messages and shared state such as tokens).
    pub name: String,
    /// Prefix for relative paths.
    pub base_url: String,
    /// Credentials.
    pub auth: AuthConfig,
    /// Headers sent on every call.
    pub headers: Vec<(String, String)>,
    /// The connection's `rate_limit`, shared by all calls on it.
    pub rate_limit: Option<super::RateLimit>,
}

impl std::fmt::Debug for ConnectionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values may be credentials: names only.
        let headers: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ConnectionConfig")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("auth", &self.auth)
            .field("headers", &headers)
            .finish()
    }
}

/// How a connection authenticates, with its secrets resolved.
#[derive(Clone, Default)]
pub enum AuthConfig {
    /// No credentials.
    #[default]
    None,
    /// `Authorization: Bearer TOKEN`.
    Bearer {
        /// The token.
        token: String,
    },
    /// HTTP basic authentication.
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// A key in a header.
    ApiKeyHeader {
        /// Header name.
        header: String,
        /// The key.
        value: String,
    },
    /// A key in a query parameter.
    ApiKeyQuery {
        /// Parameter name.
        param: String,
        /// The key.
        value: String,
    },
    /// OAuth2 bearer tokens from a token endpoint.
    OAuth2(super::oauth2::OAuth2Config),
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuthConfig::None => "None",
            AuthConfig::Bearer { .. } => "Bearer(***)",
            AuthConfig::Basic { .. } => "Basic(***)",
            AuthConfig::ApiKeyHeader { .. } => "ApiKeyHeader(***)",
            AuthConfig::ApiKeyQuery { .. } => "ApiKeyQuery(***)",
            AuthConfig::OAuth2(_) => "OAuth2(***)",
        })
    }
}

/// Where a request goes: a connection (plus a path) or a full URL.
#[derive(Debug, Clone)]
pub enum Target {
    /// A named connection.
    Connection(Arc<ConnectionConfig>),
    /// A full URL given as an expression.
    Url(String),
}

/// A request body.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// No body.
    None,
    /// A JSON body (`body:`).
    Json(Value),
    /// A form body (`form:`), `application/x-www-form-urlencoded`.
    Form(Vec<(String, String)>),
}

/// A request ready to send.
#[derive(Clone)]
pub struct HttpRequest {
    /// The method.
    pub method: reqwest::Method,
    /// The URL without the query.
    pub url: String,
    /// Query parameters (the URL's own, then `query:`, then an API key).
    pub query: Vec<(String, String)>,
    /// Headers (connection's, then `headers:`), without auth.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
    /// Sent as `Idempotency-Key`.
    pub idempotency_key: String,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// The connection's credentials.
    pub auth: AuthConfig,
    /// The key of the connection's rate limit (its name and base URL), and the limit, when it
    /// has one.
    pub rate_limit: Option<(String, super::RateLimit)>,
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header and query values may hold credentials: names only.
        let names =
            |pairs: &[(String, String)]| pairs.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("query", &names(&self.query))
            .field("headers", &names(&self.headers))
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpRequest {
    /// `METHOD URL` without the query string, safe for messages.
    pub fn describe(&self) -> String {
        format!("{} {}", self.method, self.url)
    }
}

/// Builds the request of `http.get/post/put/patch/delete/request`. `target` is the connection or
/// URL argument, `path` the optional path after it, `named` the named arguments.
pub fn build_request(
    method: &str,
    target: Target,
    path: Option<&Value>,
    named: &BTreeMap<String, Value>,
    idempotency_key: &str,
    timeout: Duration,
) -> Result<HttpRequest, CallError> {
    let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| CallError::invalid(format!("`{method}` is not an HTTP method")))?;
    let path = match path {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(p.as_str()),
        Some(other) => {
            return Err(CallError::invalid(format!(
                "the path must be a string, got {other}"
            )))
        }
    };
    let (base, auth, mut headers) = match &target {
        Target::Connection(c) => (c.base_url.clone(), c.auth.clone(), c.headers.clone()),
        Target::Url(u) => (u.clone(), AuthConfig::None, Vec::new()),
    };
    let rate_limit = match &target {
        // Two files may each define a connection of one name: a limit is the system's, so
        // the key says which system too.
        Target::Connection(c) => c
            .rate_limit
            .map(|l| (format!("{} {}", c.name, c.base_url), l)),
        Target::Url(_) => None,
    };
    let full = match path {
        Some(p) if p.starts_with("http://") || p.starts_with("https://") => p.to_string(),
        Some(p) if !p.is_empty() => format!(
            "{}/{}",
            base.trim_end_matches('/'),
            p.trim_start_matches('/')
        ),
        _ => base,
    };
    let parsed = url::Url::parse(&full).map_err(|e| {
        CallError::invalid(format!("`{}` is not a valid URL: {e}", strip_query(&full)))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(CallError::invalid(format!(
            "only http and https URLs can be called, not `{}`",
            parsed.scheme()
        )));
    }
    let mut query: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut bare = parsed.clone();
    bare.set_query(None);
    bare.set_fragment(None);
    if let Some(q) = named.get("query") {
        query.extend(pairs(q, "query")?);
    }
    if let Some(h) = named.get("headers") {
        headers.extend(pairs(h, "headers")?);
    }
    let body = match (named.get("body"), named.get("form")) {
        (Some(_), Some(_)) => {
            return Err(CallError::invalid("give either `body` or `form`, not both"))
        }
        (Some(b), None) => Body::Json(b.clone()),
        (None, Some(f)) => Body::Form(pairs(f, "form")?),
        (None, None) => Body::None,
    };
    Ok(HttpRequest {
        method,
        url: bare.to_string(),
        query,
        headers,
        body,
        idempotency_key: idempotency_key.to_string(),
        timeout,
        auth,
        rate_limit,
    })
}

/// An object's entries as string pairs; arrays repeat the key, `null` values are left out.
fn pairs(value: &Value, what: &str) -> Result<Vec<(String, String)>, CallError> {
    let Value::Object(map) = value else {
        return Err(CallError::invalid(format!("`{what}` must be an object")));
    };
    let mut out = Vec::new();
    for (k, v) in map {
        match v {
            Value::Null => {}
            Value::Array(items) => out.extend(
                items
                    .iter()
                    .filter(|i| !i.is_null())
                    .map(|i| (k.clone(), scalar(i))),
            ),
            other => out.push((k.clone(), scalar(other))),
        }
    }
    Ok(out)
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `url` without its query string and fragment.
pub(crate) fn strip_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conn() -> Target {
        Target::Connection(Arc::new(ConnectionConfig {
            name: "crm".into(),
            base_url: "https://api.example/v3/".into(),
            auth: AuthConfig::Bearer {
                token: "t0ken-value".into(),
            },
            headers: vec![("Accept".into(), "application/json".into())],
            rate_limit: None,
        }))
    }

    fn named(v: Value) -> BTreeMap<String, Value> {
        v.as_object()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect()
    }

    #[test]
    fn connections_of_one_name_on_other_systems_have_limits_of_their_own() {
        let limited = |base_url: &str| {
            Target::Connection(Arc::new(ConnectionConfig {
                name: "crm".into(),
                base_url: base_url.into(),
                auth: AuthConfig::None,
                headers: Vec::new(),
                rate_limit: Some(crate::http::RateLimit {
                    count: 10,
                    per: Duration::from_secs(1),
                }),
            }))
        };
        let key = |target| {
            build_request(
                "get",
                target,
                None,
                &BTreeMap::new(),
                "k",
                Duration::from_secs(1),
            )
            .unwrap()
            .rate_limit
            .map(|(key, _)| key)
        };
        let a = key(limited("https://a.example"));
        assert_eq!(
            a,
            key(limited("https://a.example")),
            "one system, one limit"
        );
        assert_ne!(a, key(limited("https://b.example")));
    }

    #[test]
    fn joins_base_url_and_path_and_collects_query() {
        let r = build_request(
            "post",
            conn(),
            Some(&json!("/deals?x=1")),
            &named(json!({"query": {"a": 1, "tags": ["p", "q"], "skip": null}, "body": {"n": 1}})),
            "run/step",
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(r.method, reqwest::Method::POST);
        assert_eq!(r.url, "https://api.example/v3/deals");
        assert_eq!(
            r.query,
            vec![
                ("x".into(), "1".into()),
                ("a".into(), "1".into()),
                ("tags".into(), "p".into()),
                ("tags".into(), "q".into())
            ]
        );
        assert_eq!(r.body, Body::Json(json!({"n": 1})));
        assert_eq!(
            r.headers,
            vec![("Accept".to_string(), "application/json".to_string())]
        );
    }

    #[test]
    fn full_urls_forms_and_bad_arguments() {
        let r = build_request(
            "GET",
            Target::Url("https://h.example/a".into()),
            None,
            &BTreeMap::new(),
            "k",
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(r.url, "https://h.example/a");
        let r = build_request(
            "put",
            conn(),
            Some(&json!("https://other.example/x")),
            &named(json!({"form": {"a": "b"}})),
            "k",
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(r.url, "https://other.example/x");
        assert_eq!(r.body, Body::Form(vec![("a".into(), "b".into())]));
        let bad = |m: &str, t: Target, p: Option<Value>, n: Value| {
            build_request(m, t, p.as_ref(), &named(n), "k", Duration::from_secs(1)).unwrap_err()
        };
        assert!(bad("get", Target::Url("not a url".into()), None, json!({}))
            .message
            .contains("not a valid URL"));
        assert!(bad("get", Target::Url("ftp://h/x".into()), None, json!({}))
            .message
            .contains("http and https"));
        assert!(bad("get", conn(), Some(json!(5)), json!({}))
            .message
            .contains("path"));
        assert!(bad("post", conn(), None, json!({"body": 1, "form": {}}))
            .message
            .contains("either"));
        assert!(bad("post", conn(), None, json!({"query": [1]}))
            .message
            .contains("object"));
        assert!(bad("bad method", conn(), None, json!({}))
            .message
            .contains("method"));
    }

    #[test]
    fn debug_output_hides_credentials() {
        let Target::Connection(c) = conn() else {
            panic!()
        };
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("t0ken-value") && !shown.contains("application/json"),
            "{shown}"
        );
    }
}
