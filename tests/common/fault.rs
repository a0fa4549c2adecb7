//! A fault-injecting HTTP proxy on 127.0.0.1 in front of the S3-compatible server.
//!
//! Each request takes the next fault queued for its method (then `always`, then passes
//! through), so a test can say "the next two GETs get 500s" or "every PUT stalls" and then
//! count how many requests of each method reached the proxy.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// Forward after this much latency.
    Delay(Duration),
    /// S3's 500 InternalError.
    InternalError,
    /// S3's 503 SlowDown throttling.
    SlowDown,
    /// Close the connection without answering.
    Drop,
    /// Forward, then send the response headers and half the body, and close.
    CutBody,
}

type Body = BoxBody<Bytes, std::io::Error>;

#[derive(Default)]
struct Script {
    next: HashMap<Method, VecDeque<Fault>>,
    always: HashMap<Method, Fault>,
    seen: HashMap<Method, usize>,
}

#[derive(Clone)]
pub struct FaultProxy {
    pub url: String,
    upstream: String,
    script: Arc<Mutex<Script>>,
    http: reqwest::Client,
}

impl FaultProxy {
    /// Start a proxy to `upstream` (e.g. `http://127.0.0.1:5055`) on a free port.
    pub async fn start(upstream: &str) -> FaultProxy {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = FaultProxy {
            url: format!("http://{}", l.local_addr().unwrap()),
            upstream: upstream.trim_end_matches('/').to_string(),
            script: Arc::default(),
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
        };
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = l.accept().await {
                let p = p.clone();
                tokio::spawn(async move {
                    // A `Drop` fault wakes this and the connection is dropped unanswered.
                    let drop_it = Arc::new(Notify::new());
                    let d = drop_it.clone();
                    let svc = hyper::service::service_fn(move |req| {
                        let (p, d) = (p.clone(), d.clone());
                        async move { Ok::<_, Infallible>(p.handle(req, d).await) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
                    tokio::select! {
                        _ = conn => {}
                        _ = drop_it.notified() => {}
                    }
                });
            }
        });
        proxy
    }

    /// Queue faults for the next requests of `method`.
    pub fn next(&self, method: Method, faults: impl IntoIterator<Item = Fault>) {
        self.script.lock().unwrap().next.entry(method).or_default().extend(faults);
    }

    /// Apply `fault` to every request of `method` once the queue is empty.
    pub fn always(&self, method: Method, fault: Fault) {
        self.script.lock().unwrap().always.insert(method, fault);
    }

    /// How many requests of `method` reached the proxy.
    pub fn seen(&self, method: Method) -> usize {
        self.script.lock().unwrap().seen.get(&method).copied().unwrap_or(0)
    }

    fn take(&self, method: &Method) -> Option<Fault> {
        let mut s = self.script.lock().unwrap();
        *s.seen.entry(method.clone()).or_default() += 1;
        let queued = s.next.get_mut(method).and_then(VecDeque::pop_front);
        queued.or_else(|| s.always.get(method).copied())
    }

    async fn handle(&self, req: Request<Incoming>, drop_it: Arc<Notify>) -> Response<Body> {
        let fault = self.take(req.method());
        match fault {
            Some(Fault::Drop) => {
                drop_it.notify_one();
                std::future::pending().await
            }
            Some(Fault::InternalError) => return s3_error(500, "InternalError", "We encountered an internal error."),
            Some(Fault::SlowDown) => return s3_error(503, "SlowDown", "Please reduce your request rate."),
            Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
            Some(Fault::CutBody) | None => {}
        }
        let (status, headers, body) = match self.forward(req).await {
            Ok(r) => r,
            Err(e) => return s3_error(502, "ProxyError", &e),
        };
        let mut resp = Response::builder().status(status);
        for (k, v) in &headers {
            if !matches!(k.as_str(), "transfer-encoding" | "connection") {
                resp = resp.header(k, v);
            }
        }
        let body: Body = if fault == Some(Fault::CutBody) && body.len() > 1 {
            // Content-Length still promises the whole body: the client sees it cut short.
            let half = body.slice(..body.len() / 2);
            let frames: Vec<Result<Frame<Bytes>, std::io::Error>> =
                vec![Ok(Frame::data(half)), Err(std::io::Error::other("connection cut by the fault proxy"))];
            BodyExt::boxed(StreamBody::new(futures_util::stream::iter(frames)))
        } else {
            full(body)
        };
        resp.body(body).unwrap()
    }

    async fn forward(&self, req: Request<Incoming>) -> Result<(u16, hyper::HeaderMap, Bytes), String> {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut headers = parts.headers;
        for h in ["host", "content-length", "transfer-encoding", "expect", "connection"] {
            headers.remove(h);
        }
        let r = self
            .http
            .request(parts.method, format!("{}{path}", self.upstream))
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        Ok((status, headers, r.bytes().await.map_err(|e| e.to_string())?))
    }
}

fn full(b: Bytes) -> Body {
    Full::new(b).map_err(|never| match never {}).boxed()
}

fn s3_error(status: u16, code: &str, message: &str) -> Response<Body> {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    Response::builder().status(status).header("content-type", "application/xml").body(full(xml.into())).unwrap()
}
