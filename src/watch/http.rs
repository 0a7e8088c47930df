//! The metrics endpoint (`/metrics`, `/healthz`) on tokio with hyper. The
//! daemon's loop renders the page once a second; the server only hands out
//! the latest rendering, so a slow scraper never touches capture.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Result};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// The latest metrics page.
pub type Page = Arc<Mutex<String>>;

/// Binds `addr` (before privileges are dropped: ports below 1024).
pub fn bind(addr: &str) -> Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr).map_err(|e| anyhow!("--metrics {addr}: {e}"))?;
    l.set_nonblocking(true)
        .map_err(|e| anyhow!("--metrics {addr}: {e}"))?;
    Ok(l)
}

fn respond(path: &str, page: &Page) -> Response<Full<Bytes>> {
    let (status, body, ctype) = match path {
        "/metrics" => (
            200,
            page.lock().map(|g| g.clone()).unwrap_or_default(),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        "/healthz" => (200, "ok\n".to_string(), "text/plain"),
        _ => (
            404,
            "not found: try /metrics or /healthz\n".to_string(),
            "text/plain",
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    if let Ok(v) = hyper::header::HeaderValue::from_str(ctype) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// Serves a bound listener until the task is dropped (inside the runtime).
pub async fn serve(listener: std::net::TcpListener, page: Page) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            log::error!("metrics endpoint: {e}");
            return;
        }
    };
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let page = Arc::clone(&page);
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let r = respond(req.uri().path(), &page);
                async move { Ok::<_, Infallible>(r) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                log::debug!("metrics connection: {e}");
            }
        });
    }
}
