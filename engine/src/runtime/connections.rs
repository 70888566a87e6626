//! Evaluating a connection of the plan into what the HTTP client needs.

use super::failure::StepFailure;
use braid_dsl::eval::{Evaluator, Scope};
use braid_dsl::plan::{ApiKeyPlace, AuthPlan, ConnectionPlan, Failure};
use braid_stdlib::http::oauth2::{Grant, OAuth2Config};
use braid_stdlib::http::{AuthConfig, ConnectionConfig, RateLimit};
use serde_json::Value;
use std::time::Duration;

/// Evaluates `plan` (its options read only literals, `env()`, `secret()` and pure functions).
pub fn resolve(plan: &ConnectionPlan, ev: &Evaluator) -> Result<ConnectionConfig, StepFailure> {
    let scope = Scope::new();
    let text = |expr, what: &str| -> Result<String, StepFailure> {
        match ev.eval(expr, &scope) {
            Ok(Value::String(s)) => Ok(s),
            Ok(other) => Err(invalid(
                &plan.name,
                format!("`{what}` must be a string, got {other}"),
            )),
            Err(e) => Err(invalid(&plan.name, format!("`{what}`: {e}"))),
        }
    };
    let base_url = text(&plan.base_url, "base_url")?;
    let auth = match &plan.auth {
        None => AuthConfig::None,
        Some(AuthPlan::Bearer { token }) => AuthConfig::Bearer {
            token: text(token, "bearer")?,
        },
        Some(AuthPlan::Basic { user, password }) => AuthConfig::Basic {
            user: text(user, "basic user")?,
            password: text(password, "basic password")?,
        },
        Some(AuthPlan::ApiKey { place, name, value }) => {
            let (name, value) = (text(name, "api_key name")?, text(value, "api_key value")?);
            match place {
                ApiKeyPlace::Header => AuthConfig::ApiKeyHeader {
                    header: name,
                    value,
                },
                ApiKeyPlace::Query => AuthConfig::ApiKeyQuery { param: name, value },
            }
        }
        Some(AuthPlan::OAuth2ClientCredentials {
            token_url,
            client_id,
            client_secret,
            scopes,
        }) => {
            let scopes = match scopes {
                None => Vec::new(),
                Some(expr) => match ev.eval(expr, &scope) {
                    Ok(Value::Array(items)) => items
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect(),
                    Ok(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
                    Ok(other) => {
                        return Err(invalid(
                            &plan.name,
                            format!("`scopes` must be a list, got {other}"),
                        ))
                    }
                    Err(e) => return Err(invalid(&plan.name, format!("`scopes`: {e}"))),
                },
            };
            AuthConfig::OAuth2(OAuth2Config {
                token_url: text(token_url, "token_url")?,
                client_id: text(client_id, "client_id")?,
                client_secret: text(client_secret, "client_secret")?,
                grant: Grant::ClientCredentials { scopes },
            })
        }
        Some(AuthPlan::OAuth2RefreshToken {
            token_url,
            client_id,
            client_secret,
            refresh_token,
        }) => AuthConfig::OAuth2(OAuth2Config {
            token_url: text(token_url, "token_url")?,
            client_id: text(client_id, "client_id")?,
            client_secret: text(client_secret, "client_secret")?,
            grant: Grant::RefreshToken {
                refresh_token: text(refresh_token, "refresh_token")?,
            },
        }),
    };
    let mut headers = Vec::new();
    if let Some(expr) = &plan.headers {
        match ev.eval(expr, &scope) {
            Ok(Value::Object(map)) => {
                for (k, v) in map {
                    headers.push((
                        k,
                        match v {
                            Value::String(s) => s,
                            other => other.to_string(),
                        },
                    ));
                }
            }
            Ok(other) => {
                return Err(invalid(
                    &plan.name,
                    format!("`headers` must be an object, got {other}"),
                ))
            }
            Err(e) => return Err(invalid(&plan.name, format!("`headers`: {e}"))),
        }
    }
    Ok(ConnectionConfig {
        name: plan.name.clone(),
        base_url,
        auth,
        headers,
        rate_limit: plan.rate_limit.as_ref().map(|r| RateLimit {
            count: r.count,
            per: Duration::from_millis(r.per_ms),
        }),
    })
}

fn invalid(connection: &str, message: impl std::fmt::Display) -> StepFailure {
    StepFailure::new(
        Failure::Other,
        "invalid",
        format!("connection `{connection}`: {message}"),
    )
}
