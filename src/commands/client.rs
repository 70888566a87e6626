//! Talking to a running `braid serve`: the server's address and token, requests, and the
//! exit codes of the operator commands.

use anyhow::{bail, Context};
use serde_json::Value;

/// Where the server is.
#[derive(clap::Args, Clone)]
pub struct ServerArgs {
    /// The server's base URL.
    #[arg(
        long,
        env = "BRAID_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub server: String,
    /// Print the server's JSON answer instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// An error answer of the API: its status and message. Exit code 1.
#[derive(Debug, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiFailure {
    /// The HTTP status.
    pub status: u16,
    /// The server's message.
    pub message: String,
}

/// A client for one server.
pub struct Client {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl Client {
    /// A client for `args.server`, with `BRAID_API_TOKEN` as its bearer token if set.
    pub fn new(args: &ServerArgs) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .context("building the HTTP client")?;
        Ok(Client {
            base: args.server.trim_end_matches('/').to_string(),
            http,
            token: std::env::var("BRAID_API_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
        })
    }

    /// `GET path` (with `query`).
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        let request = self.http.get(format!("{}{path}", self.base)).query(query);
        self.send(request).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let mut request = self.http.post(format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request).await
    }

    async fn send(&self, mut request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the Braid server at {}", self.base))?;
        let status = response.status();
        let text = response.text().await.context("reading the answer")?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !status.is_success() {
            let message = value
                .get("error")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            return Err(ApiFailure {
                status: status.as_u16(),
                message,
            }
            .into());
        }
        Ok(value)
    }
}

/// Reads JSON given as text or as `@file`.
pub fn json_arg(arg: &str) -> anyhow::Result<Value> {
    let text = match arg.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading JSON from `{path}`"))?
        }
        None => arg.to_string(),
    };
    match serde_json::from_str(&text) {
        Ok(v) => Ok(v),
        Err(e) => bail!("not valid JSON: {e}"),
    }
}
