//! Connections: their options and `auth` blocks, compiled into [`ConnectionPlan`]s.
//! Connection options may use only literals, `env()`, `secret()` and pure functions.

use super::context::{Cx, Uses};
use super::names::Index;
use super::options::{keyword_span, positive_count, timeout_ms, unknown_option, Once};
use super::retry::check_retry;
use super::scope::{Place, Scope};
use super::walk::Walker;
use crate::ast::{Auth, AuthField, Connection, ConnectionOption, Expr, RatePeriod};
use crate::diagnostic::{Code, Diagnostic};
use crate::plan::{ApiKeyPlace, AuthPlan, ConnectionPlan, RateLimit, RetryOverride};
use crate::span::{FileId, Span};
use std::collections::HashMap;

const CONNECTION_OPTIONS: &[&str] = &[
    "base_url",
    "auth",
    "headers",
    "rate_limit",
    "timeout",
    "retry",
];

/// A connection after checking.
pub(crate) struct CheckedConnection {
    /// Its plan, when it has no errors.
    pub plan: Option<ConnectionPlan>,
    /// The `env()`/`secret()` names it reads.
    pub uses: Uses,
}

/// Checks every connection; the result holds the first definition of each name in each file.
pub(crate) fn check_connections<'a>(
    cx: &mut Cx<'_>,
    index: &Index<'a>,
) -> HashMap<(FileId, &'a str), CheckedConnection> {
    let mut out = HashMap::with_capacity(index.connection_list.len());
    for at in &index.connection_list {
        let checked = check_connection(cx, index, at.file, at.item);
        let name = at.item.name.name.as_str();
        let checked = if index.duplicated_connection(at.file, name) {
            CheckedConnection {
                plan: None,
                ..checked
            }
        } else {
            checked
        };
        out.entry((at.file, name)).or_insert(checked);
    }
    out
}

fn check_connection(
    cx: &mut Cx<'_>,
    index: &Index<'_>,
    file: FileId,
    conn: &Connection,
) -> CheckedConnection {
    let before = cx.errors();
    let mut uses = Uses::default();
    let mut once = Once::default();
    let mut base_url = None;
    let mut auth = None;
    let mut headers = None;
    let mut rate_limit = None;
    let mut timeout = None;
    let mut retry = RetryOverride::default();
    for option in &conn.options {
        let span = option.span;
        match &option.node {
            ConnectionOption::BaseUrl(e) => {
                if once.first(cx, file, "base_url", span) {
                    constant(cx, index, file, e, &mut uses);
                    base_url = Some(e.clone());
                }
            }
            ConnectionOption::Auth(a) => {
                if once.first(cx, file, "auth", span) {
                    auth = check_auth(cx, index, file, a, keyword_span(span, "auth"), &mut uses);
                }
            }
            ConnectionOption::Headers(e) => {
                if once.first(cx, file, "headers", span) {
                    constant(cx, index, file, e, &mut uses);
                    headers = Some(e.clone());
                }
            }
            ConnectionOption::RateLimit { count, per } => {
                if once.first(cx, file, "rate_limit", span) {
                    let per_ms = match per.node {
                        RatePeriod::Second => 1_000,
                        RatePeriod::Minute => 60_000,
                        RatePeriod::Hour => 3_600_000,
                    };
                    rate_limit =
                        positive_count(cx, file, "rate_limit", count).map(|count| RateLimit {
                            count: u64::from(count),
                            per_ms,
                        });
                }
            }
            ConnectionOption::Timeout(d) => {
                if once.first(cx, file, "timeout", span) {
                    timeout = timeout_ms(cx, file, d);
                }
            }
            ConnectionOption::Retry(block) => {
                if once.first(cx, file, "retry", span) {
                    retry = check_retry(cx, file, block);
                }
            }
            ConnectionOption::Unknown(id) => {
                unknown_option(cx, file, id, "a connection", CONNECTION_OPTIONS)
            }
        }
    }
    if base_url.is_none() {
        cx.report(
            Diagnostic::error(Code::MissingOption, file, conn.name.span, format!("connection `{}` has no `base_url`", conn.name.name))
                .with_label("missing `base_url`")
                .with_hint("add `base_url \"https://…\"`; paths in calls on this connection are relative to it"),
        );
    }
    let plan = match base_url {
        Some(base_url) if cx.errors() == before => Some(ConnectionPlan {
            name: conn.name.name.clone(),
            base_url,
            auth,
            headers,
            rate_limit,
            timeout_ms: timeout,
            retry,
        }),
        _ => None,
    };
    CheckedConnection { plan, uses }
}

/// Checks an expression of a connection option.
fn constant(cx: &mut Cx<'_>, index: &Index<'_>, file: FileId, e: &Expr, uses: &mut Uses) {
    Walker::new(cx, index, file, Scope::constant(Place::Connection), uses).expr(e);
}

fn check_auth(
    cx: &mut Cx<'_>,
    index: &Index<'_>,
    file: FileId,
    auth: &Auth,
    at: Span,
    uses: &mut Uses,
) -> Option<AuthPlan> {
    match auth {
        Auth::Bearer { token } => {
            constant(cx, index, file, token, uses);
            Some(AuthPlan::Bearer {
                token: token.clone(),
            })
        }
        Auth::Basic { user, password } => {
            constant(cx, index, file, user, uses);
            constant(cx, index, file, password, uses);
            Some(AuthPlan::Basic {
                user: user.clone(),
                password: password.clone(),
            })
        }
        Auth::ApiKey { fields } => {
            let f = auth_fields(
                cx,
                index,
                file,
                "api_key",
                fields,
                &["header", "query", "value"],
                &["value"],
                at,
                uses,
            )?;
            let place = match (f.get("header"), f.get("query")) {
                (Some(name), None) => (ApiKeyPlace::Header, *name),
                (None, Some(name)) => (ApiKeyPlace::Query, *name),
                (None, None) => {
                    cx.report(
                        Diagnostic::error(
                            Code::MissingOption,
                            file,
                            at,
                            "`api_key` needs `header` or `query`",
                        )
                        .with_label("says where the key goes")
                        .with_hint("add `header \"X-Api-Key\"` or `query \"api_key\"`"),
                    );
                    return None;
                }
                (Some(_), Some(query)) => {
                    cx.report(
                        Diagnostic::error(
                            Code::MisplacedOption,
                            file,
                            query.span,
                            "`api_key` takes `header` or `query`, not both",
                        )
                        .with_label("remove one of the two"),
                    );
                    return None;
                }
            };
            Some(AuthPlan::ApiKey {
                place: place.0,
                name: place.1.clone(),
                value: take(&f, "value")?,
            })
        }
        Auth::OAuth2ClientCredentials { fields } => {
            let allowed = &["token_url", "client_id", "client_secret", "scopes"];
            let f = auth_fields(
                cx,
                index,
                file,
                "oauth2_client_credentials",
                fields,
                allowed,
                &allowed[..3],
                at,
                uses,
            )?;
            Some(AuthPlan::OAuth2ClientCredentials {
                token_url: take(&f, "token_url")?,
                client_id: take(&f, "client_id")?,
                client_secret: take(&f, "client_secret")?,
                scopes: f.get("scopes").map(|e| (*e).clone()),
            })
        }
        Auth::OAuth2RefreshToken { fields } => {
            let allowed = &["token_url", "client_id", "client_secret", "refresh_token"];
            let f = auth_fields(
                cx,
                index,
                file,
                "oauth2_refresh_token",
                fields,
                allowed,
                allowed,
                at,
                uses,
            )?;
            Some(AuthPlan::OAuth2RefreshToken {
                token_url: take(&f, "token_url")?,
                client_id: take(&f, "client_id")?,
                client_secret: take(&f, "client_secret")?,
                refresh_token: take(&f, "refresh_token")?,
            })
        }
    }
}

/// A field's expression, cloned for the plan.
fn take(fields: &HashMap<&str, &Expr>, name: &str) -> Option<Expr> {
    fields.get(name).map(|e| (*e).clone())
}

/// The fields of an auth block: each known (E0201), given once (E0103), required ones present
/// (E0203). `None` when a required field is missing.
#[allow(clippy::too_many_arguments)]
fn auth_fields<'f>(
    cx: &mut Cx<'_>,
    index: &Index<'_>,
    file: FileId,
    kind: &str,
    fields: &'f [AuthField],
    allowed: &[&str],
    required: &[&str],
    at: Span,
    uses: &mut Uses,
) -> Option<HashMap<&'f str, &'f Expr>> {
    let mut once = Once::default();
    let mut out = HashMap::new();
    for field in fields {
        let name = field.name.name.as_str();
        constant(cx, index, file, &field.value, uses);
        if !allowed.contains(&name) {
            unknown_option(cx, file, &field.name, &format!("`{kind}`"), allowed);
            continue;
        }
        if once.first(cx, file, name, field.name.span) {
            out.insert(name, &field.value);
        }
    }
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|r| !out.contains_key(r))
        .collect();
    if missing.is_empty() {
        return Some(out);
    }
    for name in &missing {
        cx.report(
            Diagnostic::error(
                Code::MissingOption,
                file,
                at,
                format!("`{kind}` needs `{name}`"),
            )
            .with_label(format!("missing `{name}`"))
            .with_hint(format!(
                "`{kind}` needs {}",
                super::names::quoted_list(required)
            )),
        );
    }
    None
}
