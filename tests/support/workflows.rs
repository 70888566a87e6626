//! Workflow texts the multi-process tests share.

/// One HTTP step calling `{base}/{name}`: its own path, so the server can tell steps apart;
/// retried generously, since a killed process costs an attempt.
pub fn call_step(base: &str, name: &str, body: &str) -> String {
    format!(
        "  step {name} = http.post(\"{base}/{name}\", body: {body}) {{ retry {{ attempts 10 backoff fixed(200ms) }} }}\n"
    )
}

/// `tick`: a call to `{base}/tick` each second from cron, carrying its scheduled time; every
/// tick must run (`catchup all`, `overlap allow`), however late a busy machine looks at it.
pub fn cron_tick(base: &str) -> String {
    format!(
        r#"workflow tick {{
          trigger cron "* * * * * *" {{ overlap allow catchup all input {{ at: now() }} }}
          input {{ at: string }}
          step call = http.post("{base}/tick", body: {{ at: input.at }}) {{ retry {{ attempts 10 backoff fixed(200ms) }} }}
        }}
"#
    )
}
