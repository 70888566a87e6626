//! `http.paginate` against a local API offering each pagination style over the same 7 items.

use axum::extract::Query;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use braid_stdlib::http::{build_request, HttpClient, PaginateOptions, Target};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

const ITEMS: i64 = 7;

fn slice(from: i64, n: i64) -> Vec<i64> {
    (from..(from + n).min(ITEMS)).collect()
}

async fn serve() -> String {
    let app = Router::new()
        // 3 per page; the Link header points at the next page (relative URL).
        .route(
            "/link",
            get(
                |Query(q): Query<HashMap<String, String>>, headers: HeaderMap| async move {
                    let page: i64 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                    let key = headers
                        .get("idempotency-key")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    let mut h = HeaderMap::new();
                    if page * 3 < ITEMS {
                        h.insert(
                            "link",
                            format!(
                                "</link?page={}>; rel=\"next\", </link?page=3>; rel=\"last\"",
                                page + 1
                            )
                            .parse()
                            .unwrap(),
                        );
                    }
                    (
                        h,
                        Json(json!({ "data": slice((page - 1) * 3, 3), "key": key })),
                    )
                },
            ),
        )
        .route(
            "/cursor",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                let at: i64 = q.get("after").and_then(|c| c.parse().ok()).unwrap_or(0);
                let items = slice(at, 2);
                let next = if at + 2 < ITEMS {
                    json!((at + 2).to_string())
                } else {
                    Value::Null
                };
                Json(json!({ "results": items, "meta": { "next": next } }))
            }),
        )
        .route(
            "/pages",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                let page: i64 = q.get("p").and_then(|p| p.parse().ok()).unwrap_or(1);
                Json(json!({ "Invoices": slice((page - 1) * 4, 4) }))
            }),
        )
        .route(
            "/offset",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                let offset: i64 = q.get("offset").and_then(|p| p.parse().ok()).unwrap_or(0);
                let limit: i64 = q.get("limit").and_then(|p| p.parse().ok()).unwrap_or(10);
                Json(json!(slice(offset, limit))).into_response()
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn paginate(base: &str, path: &str, named: Value) -> Value {
    let named: BTreeMap<String, Value> = named
        .as_object()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let req = build_request(
        "get",
        Target::Url(format!("{base}{path}")),
        None,
        &named,
        "run/step",
        Duration::from_secs(5),
    )
    .expect("request");
    let options = PaginateOptions::from_named(&named).expect("options");
    HttpClient::default()
        .paginate(&req, &options)
        .await
        .expect("pages")
}

#[tokio::test]
async fn every_style_collects_all_items() {
    let base = serve().await;
    let all = json!([0, 1, 2, 3, 4, 5, 6]);
    let link = paginate(&base, "/link", json!({ "style": "link", "items": "data" })).await;
    assert_eq!(
        (link["items"].clone(), link["pages"].clone()),
        (all.clone(), json!(3))
    );
    let cursor = paginate(&base, "/cursor", json!({ "style": "cursor", "items": "results", "cursor_path": "meta.next", "cursor_param": "after" })).await;
    assert_eq!(
        (cursor["items"].clone(), cursor["pages"].clone()),
        (all.clone(), json!(4))
    );
    // Page numbers stop at the first empty page (page 3 holds nothing).
    let pages = paginate(
        &base,
        "/pages",
        json!({ "style": "page_number", "page_param": "p", "items": "Invoices" }),
    )
    .await;
    assert_eq!(
        (pages["items"].clone(), pages["pages"].clone()),
        (all.clone(), json!(3))
    );
    // Offsets stop at the first short page.
    let offset = paginate(&base, "/offset", json!({ "style": "offset", "limit": 3 })).await;
    assert_eq!(
        (offset["items"].clone(), offset["pages"].clone()),
        (all, json!(3))
    );
}

#[tokio::test]
async fn max_pages_bounds_the_walk() {
    let base = serve().await;
    let link = paginate(
        &base,
        "/link",
        json!({ "style": "link", "items": "data", "max_pages": 2 }),
    )
    .await;
    assert_eq!(
        (link["items"].clone(), link["pages"].clone()),
        (json!([0, 1, 2, 3, 4, 5]), json!(2))
    );
}
