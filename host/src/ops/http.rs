//! The operator's HTTP listener: `/metrics`, `/api/status` and the status page at `/`.
//!
//! Gazette serves `/metrics` and `/debug/pprof` on its gRPC port through Go's
//! `net/http`; ours is a separate listener (`--metrics-listen`) with a minimal
//! HTTP/1.1 server: `GET` only, one request per connection (`Connection: close`),
//! request heads up to 8 KiB. That is all a Prometheus scraper and a browser polling
//! JSON need, without pulling a web framework into the host.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::collect::{millis, render_status, StatusSource};
use super::history::SAMPLE_EVERY;
use crate::metrics::REGISTRY;

/// Largest request head read.
pub const MAX_REQUEST_HEAD: usize = 8 << 10;
/// A client must send its request head within this time.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest a `/api/status?after=N` request waits for a new chart sample.
pub const LONG_POLL: Duration = Duration::from_secs(3);

/// The status page (inline script and charts, no external assets).
const PAGE: &str = include_str!("page.html");

/// A running listener.
pub struct OpsServer {
    /// The bound address.
    addr: SocketAddr,
    /// Stops the accept loop.
    shutdown: watch::Sender<bool>,
    /// The accept loop and the chart sampler.
    tasks: [JoinHandle<()>; 2],
}

impl OpsServer {
    /// Binds `addr` (port 0 picks one) and serves `source`.
    ///
    /// # Errors
    /// The address cannot be bound (named as `--metrics-listen`).
    pub async fn start(addr: SocketAddr, source: Arc<StatusSource>) -> anyhow::Result<OpsServer> {
        let listener = TcpListener::bind(addr).await.with_context(|| format!("binding --metrics-listen {addr}"))?;
        let addr = listener.local_addr().context("--metrics-listen address")?;
        let (shutdown, rx) = watch::channel(false);
        let sampler = tokio::spawn(sample_loop(source.clone(), rx.clone()));
        let accept = tokio::spawn(accept_loop(listener, source, rx));
        Ok(OpsServer { addr, shutdown, tasks: [accept, sampler] })
    }

    /// `http://host:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting and sampling, and waits for both tasks.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

async fn accept_loop(listener: TcpListener, source: Arc<StatusSource>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let source = source.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serve(stream, &source).await {
                            tracing::debug!(error = %e, "status request failed");
                        }
                    });
                }
                Err(e) => tracing::warn!(error = %e, "accepting a status connection"),
            },
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

/// Records a chart sample every [`SAMPLE_EVERY`] until shutdown.
async fn sample_loop(source: Arc<StatusSource>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => source.history.record(source.totals(), Instant::now(), millis(SystemTime::now())),
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

/// A parsed request line.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// The path without the query string.
    pub path: String,
    /// `after=N` of the query string: answer once a chart sample newer than N exists.
    pub after: Option<u64>,
}

/// Parses the request line of a head (`GET /metrics?x HTTP/1.1`).
pub fn parse_head(head: &[u8]) -> Option<Request> {
    let text = std::str::from_utf8(head).ok()?;
    let mut parts = text.lines().next()?.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return None;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let after = query.split('&').find_map(|kv| kv.strip_prefix("after=")).and_then(|v| v.parse().ok());
    Some(Request { method: method.to_owned(), path: path.to_owned(), after })
}

async fn serve(mut stream: TcpStream, source: &StatusSource) -> anyhow::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let complete = tokio::time::timeout(REQUEST_TIMEOUT, async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST_HEAD {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok::<bool, std::io::Error>(false);
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok(true)
    })
    .await;
    let response = match (complete, parse_head(&head)) {
        (Ok(Ok(true)), Some(req)) => respond(&req, source).await,
        (Ok(Ok(false)), _) | (Ok(Err(_)), _) => return Ok(()),
        _ => (400, "text/plain; charset=utf-8", "bad request\n".to_string()),
    };
    let (code, content_type, body) = response;
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Method Not Allowed",
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await?;
    Ok(())
}

async fn respond(req: &Request, source: &StatusSource) -> (u16, &'static str, String) {
    if req.method != "GET" {
        return (405, "text/plain; charset=utf-8", format!("{} is not supported: use GET\n", req.method));
    }
    match req.path.as_str() {
        "/metrics" => {
            let status = source.gather().await;
            let mut out = String::new();
            REGISTRY.render(&mut out);
            render_status(&status, &mut out);
            (200, "text/plain; version=0.0.4; charset=utf-8", out)
        }
        "/api/status" => {
            if let Some(after) = req.after {
                source.history.wait_newer(after, LONG_POLL).await;
            }
            let status = source.gather().await;
            (
                200,
                "application/json",
                serde_json::to_string(&status).unwrap_or_else(|e| format!("{{\"errors\":[\"{e}\"]}}")),
            )
        }
        "/" | "/index.html" => (200, "text/html; charset=utf-8", PAGE.to_string()),
        other => (404, "text/plain; charset=utf-8", format!("no page {other}: try /, /metrics or /api/status\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_parse_and_garbage_is_refused() {
        let req = parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!(req, Request { method: "GET".into(), path: "/metrics".into(), after: None });
        let req = parse_head(b"GET /api/status?x=1&after=17 HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!((req.path.as_str(), req.after), ("/api/status", Some(17)));
        for bad in [&b""[..], b"GET\r\n\r\n", b"GET metrics HTTP/1.1\r\n\r\n", b"GET / SPDY/3\r\n\r\n", b"\xff\xfe"] {
            assert_eq!(parse_head(bad), None, "{bad:?}");
        }
    }
}
