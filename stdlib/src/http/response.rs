//! Reading a response into `{status, headers, body}`, within a size limit.

use super::error::{CallError, ErrorClass};
use serde_json::{Map, Value};

/// Responses larger than this are refused (10 MiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 10 * 1024 * 1024;

/// Reads the whole response, refusing bodies over `max_bytes` without buffering more than that.
pub async fn read(
    mut response: reqwest::Response,
    max_bytes: usize,
    what: &str,
) -> Result<Value, CallError> {
    let status = response.status().as_u16();
    let mut headers = Map::new();
    for (name, value) in response.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_string(), Value::String(value));
            }
        }
    }
    if response
        .content_length()
        .is_some_and(|n| n > max_bytes as u64)
    {
        return Err(too_large(what, max_bytes));
    }
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > max_bytes {
                    return Err(too_large(what, max_bytes));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) if e.is_timeout() => {
                return Err(CallError::new(
                    ErrorClass::Timeout,
                    format!("{what}: timed out reading the response"),
                ))
            }
            Err(_) => {
                return Err(CallError::new(
                    ErrorClass::Network,
                    format!("{what}: the connection broke while reading the response"),
                ))
            }
        }
    }
    let is_json = headers
        .get("content-type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.contains("json"));
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => v,
            Err(_) if is_json => {
                return Err(CallError::invalid(format!(
                    "{what}: the response claims to be JSON but does not parse"
                )))
            }
            Err(_) => Value::String(String::from_utf8_lossy(&bytes).into_owned()),
        }
    };
    let mut out = Map::new();
    out.insert("status".into(), Value::from(status));
    out.insert("headers".into(), Value::Object(headers));
    out.insert("body".into(), body);
    Ok(Value::Object(out))
}

fn too_large(what: &str, max: usize) -> CallError {
    CallError::invalid(format!(
        "{what}: the response is larger than the limit of {max} bytes"
    ))
}
