//! A local HTTP endpoint that records what it is sent — notifications' webhook, an OTLP
//! collector — answering each call with the next status of a script.

use std::sync::{Arc, Mutex};

use http_body_util::BodyExt;
use hyper::service::service_fn;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct RecordedCall {
    pub traceparent: Option<String>,
    pub body: Value,
}

pub type Calls = Arc<Mutex<Vec<RecordedCall>>>;

/// Serves on a free loopback port until the test ends; returns its origin and its calls.
/// Call `n` is answered `statuses[n]`, the last status repeating.
pub async fn recording_endpoint(statuses: Vec<u16>) -> anyhow::Result<(String, Calls)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let calls: Calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = seen.clone();
            let statuses = statuses.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let seen = seen.clone();
                    let statuses = statuses.clone();
                    async move {
                        let traceparent = request
                            .headers()
                            .get("traceparent")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        let body = request
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let status = {
                            let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                            seen.push(RecordedCall {
                                traceparent,
                                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                            });
                            statuses
                                .get(seen.len() - 1)
                                .or(statuses.last())
                                .copied()
                                .unwrap_or(204)
                        };
                        hyper::Response::builder()
                            .status(status)
                            .body(http_body_util::Empty::<bytes::Bytes>::new())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((format!("http://127.0.0.1:{port}"), calls))
}
