//! `http.paginate`: every page of a collection, followed by `Link: rel="next"` headers, a
//! cursor in the body, page numbers, or offsets, up to `max_pages`. The result is
//! `{items, pages}`.

use super::client::HttpClient;
use super::error::CallError;
use super::request::HttpRequest;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The pages fetched when `max_pages` is not given.
pub const DEFAULT_MAX_PAGES: u32 = 100;

/// How the next page is found.
#[derive(Debug, Clone, PartialEq)]
pub enum Style {
    /// The `Link` header's `rel="next"` URL.
    Link,
    /// A cursor read from the body at `cursor_path`, sent back as the `cursor_param` query parameter.
    Cursor {
        /// Dot path of the cursor in the body (`meta.next_cursor`).
        cursor_path: String,
        /// The query parameter it is sent in.
        cursor_param: String,
    },
    /// A page number in `page_param`, from `start`; stops at an empty page.
    PageNumber {
        /// The query parameter.
        page_param: String,
        /// The first page's number.
        start: i64,
    },
    /// An offset in `offset_param` and a page size in `limit_param`; stops at a short page.
    Offset {
        /// The offset's query parameter.
        offset_param: String,
        /// The page size's query parameter.
        limit_param: String,
        /// The page size.
        limit: i64,
    },
}

/// The options of one `http.paginate` call.
#[derive(Debug, Clone, PartialEq)]
pub struct PaginateOptions {
    /// How to find the next page.
    pub style: Style,
    /// Dot path of the items in each page's body; the body itself when absent.
    pub items: Option<String>,
    /// The most pages to fetch.
    pub max_pages: u32,
}

fn text_arg(
    named: &BTreeMap<String, Value>,
    name: &str,
    default: &str,
) -> Result<String, CallError> {
    match named.get(name) {
        None | Some(Value::Null) => Ok(default.to_string()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(CallError::invalid(format!(
            "`{name}` must be a string, got {other}"
        ))),
    }
}

fn int_arg(named: &BTreeMap<String, Value>, name: &str, default: i64) -> Result<i64, CallError> {
    match named.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| CallError::invalid(format!("`{name}` must be a whole number, got {v}"))),
    }
}

impl PaginateOptions {
    /// Reads the named arguments of `http.paginate`.
    pub fn from_named(named: &BTreeMap<String, Value>) -> Result<Self, CallError> {
        let style = match text_arg(named, "style", "")?.as_str() {
            "link" => Style::Link,
            "cursor" => Style::Cursor {
                cursor_path: text_arg(named, "cursor_path", "next_cursor")?,
                cursor_param: text_arg(named, "cursor_param", "cursor")?,
            },
            "page_number" => Style::PageNumber {
                page_param: text_arg(named, "page_param", "page")?,
                start: int_arg(named, "start_page", 1)?,
            },
            "offset" => {
                let limit = int_arg(named, "limit", 100)?;
                if limit <= 0 {
                    return Err(CallError::invalid("`limit` must be at least 1"));
                }
                Style::Offset {
                    offset_param: text_arg(named, "offset_param", "offset")?,
                    limit_param: text_arg(named, "limit_param", "limit")?,
                    limit,
                }
            }
            other => {
                return Err(CallError::invalid(format!(
                    "unknown pagination style `{other}`: use \"link\", \"cursor\", \"page_number\" or \"offset\""
                )))
            }
        };
        let max_pages = int_arg(named, "max_pages", i64::from(DEFAULT_MAX_PAGES))?;
        if max_pages < 1 {
            return Err(CallError::invalid("`max_pages` must be at least 1"));
        }
        let items = match named.get("items") {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        Ok(PaginateOptions {
            style,
            items,
            max_pages: u32::try_from(max_pages).unwrap_or(u32::MAX),
        })
    }
}

/// The value at a dot path (`meta.next_cursor`).
fn at_path<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.')
        .filter(|p| !p.is_empty())
        .try_fold(value, |v, key| v.get(key))
}

/// The `rel="next"` URL of a `Link` header (`rel` may list several relations: `rel="next last"`).
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|param| {
            let Some((name, value)) = param.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_matches('"')
                    .split_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        is_next.then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

fn set_param(query: &mut Vec<(String, String)>, name: &str, value: String) {
    query.retain(|(k, _)| k != name);
    query.push((name.to_string(), value));
}

impl HttpClient {
    /// Fetches every page of `first` (with its stable idempotency key suffixed per page).
    pub async fn paginate(
        &self,
        first: &HttpRequest,
        options: &PaginateOptions,
    ) -> Result<Value, CallError> {
        let mut items = Vec::new();
        let mut request = first.clone();
        let mut pages = 0u32;
        loop {
            match &options.style {
                Style::PageNumber { page_param, start } => {
                    set_param(
                        &mut request.query,
                        page_param,
                        (start + i64::from(pages)).to_string(),
                    );
                }
                Style::Offset {
                    offset_param,
                    limit_param,
                    limit,
                } => {
                    set_param(
                        &mut request.query,
                        offset_param,
                        (limit * i64::from(pages)).to_string(),
                    );
                    set_param(&mut request.query, limit_param, limit.to_string());
                }
                Style::Link | Style::Cursor { .. } => {}
            }
            request.idempotency_key = format!("{}/page/{}", first.idempotency_key, pages + 1);
            let page = self.call(&request).await?;
            pages += 1;
            let body = &page["body"];
            let found = match &options.items {
                Some(path) => at_path(body, path).cloned().unwrap_or(Value::Null),
                None => body.clone(),
            };
            let count = match found {
                Value::Array(list) => {
                    let n = list.len();
                    items.extend(list);
                    n
                }
                Value::Null => 0,
                other => {
                    return Err(CallError::invalid(format!(
                        "page {pages} of {}: the items are not a list ({other})",
                        first.describe()
                    )))
                }
            };
            if pages >= options.max_pages {
                break;
            }
            let more = match &options.style {
                Style::Link => match page["headers"]
                    .get("link")
                    .and_then(Value::as_str)
                    .and_then(next_link)
                {
                    Some(next) => {
                        let base = url::Url::parse(&request.url)
                            .map_err(|_| CallError::invalid("bad page URL"))?;
                        let next = base
                            .join(&next)
                            .map_err(|_| CallError::invalid("the next-page link is not a URL"))?;
                        request.query = next
                            .query_pairs()
                            .map(|(k, v)| (k.into_owned(), v.into_owned()))
                            .collect();
                        let mut bare = next;
                        bare.set_query(None);
                        request.url = bare.to_string();
                        true
                    }
                    None => false,
                },
                Style::Cursor {
                    cursor_path,
                    cursor_param,
                } => match at_path(body, cursor_path) {
                    Some(Value::String(c)) if !c.is_empty() => {
                        set_param(&mut request.query, cursor_param, c.clone());
                        true
                    }
                    Some(Value::Number(n)) => {
                        set_param(&mut request.query, cursor_param, n.to_string());
                        true
                    }
                    _ => false,
                },
                Style::PageNumber { .. } => count > 0,
                Style::Offset { limit, .. } => count as i64 >= *limit,
            };
            if !more {
                break;
            }
        }
        Ok(json!({ "items": items, "pages": pages }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_next_link() {
        let h = r#"<https://api.example/items?page=2>; rel="next", <https://api.example/items?page=9>; rel="last""#;
        assert_eq!(
            next_link(h).as_deref(),
            Some("https://api.example/items?page=2")
        );
        assert_eq!(
            next_link(r#"</items?page=3>; rel=next"#).as_deref(),
            Some("/items?page=3")
        );
        assert_eq!(next_link(r#"<https://a/x>; rel="prev""#), None);
    }

    #[test]
    fn options_from_named_arguments() {
        let named = |v: Value| {
            v.as_object()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .collect::<BTreeMap<_, _>>()
        };
        let o = PaginateOptions::from_named(&named(json!({"style": "page_number", "page_param": "p", "items": "Invoices", "max_pages": 200}))).unwrap();
        assert_eq!(
            o.style,
            Style::PageNumber {
                page_param: "p".into(),
                start: 1
            }
        );
        assert_eq!((o.items.as_deref(), o.max_pages), (Some("Invoices"), 200));
        assert!(PaginateOptions::from_named(&named(json!({"style": "pages"}))).is_err());
        assert!(
            PaginateOptions::from_named(&named(json!({"style": "offset", "limit": 0}))).is_err()
        );
        assert!(
            PaginateOptions::from_named(&named(json!({"style": "link", "max_pages": 0}))).is_err()
        );
    }
}
