//! `edge-resize serve`: the whole edge on one machine. Each request goes through the same
//! code as on CloudFront: the viewer-request handler, a bounded in-memory cache keyed on
//! the canonical path (moka: byte-weighted eviction), the store as origin, and the
//! origin-response handler on a miss. Concurrent misses for one path are coalesced: one
//! origin fetch, whose answer every waiter gets. Transforms are admitted by a
//! [`Limiter`] (concurrency and estimated memory; over it, 503 + `Retry-After`).
//! `/metrics` serves the handlers' numbers in Prometheus' format, `/_edge/stats` a summary.

mod prom;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use bytes::Bytes;

use crate::cloudfront::{self, header, BodyEncoding, Header, Headers, Request, ViewerResult};
use crate::edge::{origin_response_measured, viewer_request, Deadline, EdgeError, Limiter};
use crate::metrics::Invocation;
use crate::spec::{parse_variant_key, Format, Key};
use crate::store::{s3_client, AnyStore, DirStore, S3Store, Store};
use crate::Config;
pub use prom::Prom;

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory of originals; `/image/x.jpg` is `{dir}/image/x.jpg`.
    #[arg(long, default_value = "fixtures")]
    pub dir: PathBuf,
    /// Use this S3 bucket (at `AWS_ENDPOINT_URL`, if set) instead of the directory.
    #[arg(long)]
    pub bucket: Option<String>,
    /// In-memory cache size, MiB.
    #[arg(long, default_value_t = 64)]
    pub cache_mib: usize,
}

/// One cached answer.
#[derive(Clone)]
struct Entry {
    status: u16,
    content_type: String,
    cache_control: String,
    /// Validators, as S3 or the origin-response gave them.
    etag: Option<String>,
    last_modified: Option<String>,
    body: Bytes,
}

/// An answer every request coalesced on one miss can be given (the one that made it gets
/// its own, with the miss's headers).
#[derive(Clone)]
struct Answer {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

impl Answer {
    fn into_http(self) -> HttpResponse {
        let mut resp = HttpResponse::new(Body::from(self.body));
        *resp.status_mut() = self.status;
        for (n, v) in self.headers {
            resp.headers_mut().append(n, v);
        }
        resp
    }
}

/// Counters, served at `/_edge/stats` (the tests read them).
#[derive(Default, serde::Serialize)]
pub struct Stats {
    pub requests: AtomicU64,
    pub cache_hits: AtomicU64,
    pub origin_hits: AtomicU64,
    pub transforms: AtomicU64,
    pub errors: AtomicU64,
}

/// Shared state of the local edge.
pub struct Edge {
    cfg: Arc<Config>,
    store: AnyStore,
    cache: moka::future::Cache<String, Entry>,
    /// One object may not take more than this: a few large images must not flush every small one.
    max_entry: usize,
    limiter: Limiter,
    pub stats: Stats,
    pub prom: Prom,
}

impl Edge {
    /// An edge over `store` with a cache of `cache_bytes` and the transform limits of `cfg`.
    pub fn new(cfg: Arc<Config>, store: AnyStore, cache_bytes: usize) -> Arc<Self> {
        let cache = moka::future::Cache::builder()
            .max_capacity(cache_bytes as u64)
            .weigher(|_k: &String, e: &Entry| u32::try_from(e.body.len()).unwrap_or(u32::MAX))
            .build();
        Arc::new(Edge {
            limiter: Limiter::for_config(&cfg),
            cfg,
            store,
            cache,
            max_entry: cache_bytes / 4,
            stats: Stats::default(),
            prom: Prom::new(),
        })
    }

    /// Drop cached paths (the local CDN invalidation). `/*`-suffixed paths are prefixes.
    pub async fn invalidate(&self, paths: &[String]) -> usize {
        let hit = |k: &str| paths.iter().any(|p| p.strip_suffix('*').map_or(k == p, |pre| k.starts_with(pre)));
        let keys: Vec<Arc<String>> = self.cache.iter().map(|(k, _)| k).filter(|k| hit(k)).collect();
        for k in &keys {
            self.cache.invalidate(k.as_str()).await;
        }
        keys.len()
    }

    /// The transform limits.
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// Count one origin-response invocation in the stats and the Prometheus metrics.
    fn record(&self, inv: &Invocation) {
        let count = |a: &AtomicU64| a.fetch_add(1, Ordering::Relaxed);
        match inv.outcome {
            crate::metrics::Outcome::Generated => count(&self.stats.transforms),
            crate::metrics::Outcome::ServerError => count(&self.stats.errors),
            _ => 0,
        };
        self.prom.record(inv);
    }
}

/// The router (used by `main` and by the tests).
pub fn router(edge: Arc<Edge>) -> Router {
    Router::new()
        .route("/_edge/stats", get(stats))
        .route("/_edge/invalidate", post(invalidate))
        .route("/metrics", get(metrics))
        .fallback(get(handle))
        .with_state(edge)
}

async fn stats(State(edge): State<Arc<Edge>>) -> Json<serde_json::Value> {
    let s = &edge.stats;
    let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
    Json(serde_json::json!({
        "requests": l(&s.requests), "cache_hits": l(&s.cache_hits), "origin_hits": l(&s.origin_hits),
        "transforms": l(&s.transforms), "errors": l(&s.errors),
        "transforms_running": edge.limiter.running(), "transform_memory_reserved_mib": edge.limiter.reserved_mib(),
    }))
}

async fn metrics(State(edge): State<Arc<Edge>>) -> impl IntoResponse {
    edge.cache.run_pending_tasks().await;
    let text = edge.prom.render(&edge.limiter, edge.cache.weighted_size());
    ([("content-type", "text/plain; version=0.0.4; charset=utf-8")], text)
}

async fn invalidate(State(edge): State<Arc<Edge>>, Json(paths): Json<Vec<String>>) -> Json<serde_json::Value> {
    let n = edge.invalidate(&paths).await;
    Json(serde_json::json!({ "invalidated": n }))
}

async fn handle(State(edge): State<Arc<Edge>>, OriginalUri(uri): OriginalUri, headers: HeaderMap) -> HttpResponse {
    let inm = headers.get("if-none-match").and_then(|v| v.to_str().ok()).map(str::to_string);
    let resp = answer(&edge, &uri, &headers).await;
    match inm {
        Some(inm) => not_modified(resp, &inm),
        None => resp,
    }
}

/// A 200 whose ETag the client already has becomes a 304 with the same validators and
/// Cache-Control and no body (RFC 9110 §13.1.2: weak comparison, `*` matches any).
fn not_modified(resp: HttpResponse, if_none_match: &str) -> HttpResponse {
    let Some(etag) = resp.headers().get("etag").and_then(|v| v.to_str().ok()) else { return resp };
    let weak = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let matches = if_none_match.trim() == "*" || if_none_match.split(',').any(|t| weak(t) == weak(etag));
    if resp.status() != StatusCode::OK || !matches {
        return resp;
    }
    let mut r = HttpResponse::new(Body::empty());
    *r.status_mut() = StatusCode::NOT_MODIFIED;
    for name in ["etag", "cache-control", "last-modified", "x-edge-cache"] {
        if let Some(v) = resp.headers().get(name) {
            r.headers_mut().insert(name, v.clone());
        }
    }
    r
}

/// The answer to one GET, as CloudFront would give it.
async fn answer(edge: &Arc<Edge>, uri: &axum::http::Uri, headers: &HeaderMap) -> HttpResponse {
    edge.stats.requests.fetch_add(1, Ordering::Relaxed);
    edge.prom.requests.inc();
    let mut cf_headers = Headers::new();
    if let Some(a) = headers.get("accept").and_then(|v| v.to_str().ok()) {
        cf_headers.insert("accept".into(), vec![Header { key: Some("Accept".into()), value: a.into() }]);
    }
    let req = Request {
        client_ip: None,
        headers: cf_headers,
        method: "GET".into(),
        querystring: uri.query().unwrap_or("").to_string(),
        uri: uri.path().to_string(),
        origin: None,
        extra: Default::default(),
    };
    let req = match viewer_request(req, &edge.cfg) {
        ViewerResult::Request(r) => r,
        ViewerResult::Response(r) => return to_answer(r, "viewer").into_http(),
    };
    // One origin fetch per path: moka runs the first caller's fetch and hands its result to
    // the others waiting on the same key; only a cacheable answer (Ok) is stored.
    let mut mine: Option<Answer> = None;
    let got = edge
        .cache
        .try_get_with(req.uri.clone(), async {
            let (answer, entry) = fetch(edge, &req).await;
            match entry {
                Some(e) => {
                    mine = Some(answer);
                    Ok(e)
                }
                None => Err(answer),
            }
        })
        .await;
    match (got, mine) {
        (Ok(_), Some(a)) => a.into_http(),
        (Ok(e), None) => {
            edge.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
            edge.prom.cache_hits.inc();
            entry_response(&e, "hit")
        }
        (Err(shared), _) => Answer::clone(&shared).into_http(),
    }
}

/// Origin fetch + origin-response handler, as CloudFront would do on a cache miss: the
/// answer, and what to cache (nothing for errors, `no-store` and objects over a quarter
/// of the cache).
async fn fetch(edge: &Edge, req: &Request) -> (Answer, Option<Entry>) {
    let cfg = &edge.cfg;
    let Ok(key) = Key::from_uri(&req.uri) else {
        let r = (StatusCode::NOT_FOUND, "not found\n").into_response();
        let headers = r.headers().iter().map(|(n, v)| (n.clone(), v.clone())).collect();
        return (Answer { status: StatusCode::NOT_FOUND, headers, body: Bytes::from_static(b"not found\n") }, None);
    };
    let origin = match edge.store.get(&key, cfg.max_input_bytes).await {
        Ok(obj) => {
            edge.stats.origin_hits.fetch_add(1, Ordering::Relaxed);
            edge.prom.record(&Invocation { status: 200, ..Invocation::default() });
            let e = Entry {
                status: 200,
                content_type: obj.content_type.clone().unwrap_or_else(|| content_type_of(&key, cfg)),
                cache_control: cfg.variant_cache_control(),
                etag: obj.etag.clone(),
                last_modified: obj.last_modified.map(crate::edge::http_date::http_date),
                body: obj.bytes,
            };
            let answer = entry_answer(&e, "miss");
            return (answer, edge.cacheable(e));
        }
        Err(e) if e.is_not_found() => cloudfront::Response::new(404, "Not Found"),
        Err(e) => {
            let e = EdgeError::Store(e);
            edge.record(&Invocation::answered(e.status()));
            let r = crate::edge::origin::error_response(&Headers::new(), &e, cfg);
            return (to_answer(r, "error"), None);
        }
    };
    let deadline = Deadline::for_config(cfg);
    let (r, inv) = origin_response_measured(req, origin, cfg, Some(&edge.store), deadline, Some(&edge.limiter)).await;
    edge.record(&inv);
    let generated = header(&r.headers, "x-resize-result") == Some("generated");
    // As CloudFront does: what the origin says not to store is not cached.
    let entry = entry_of(&r).filter(|e| generated && !e.cache_control.contains("no-store"));
    (to_answer(r, "miss"), entry.and_then(|e| edge.cacheable(e)))
}

impl Edge {
    /// `e`, unless it is too large to cache.
    fn cacheable(&self, e: Entry) -> Option<Entry> {
        (e.body.len() <= self.max_entry).then_some(e)
    }
}

/// The content type of a stored object when the store has none (the directory store keeps
/// no metadata): a variant's output format, else the original's extension.
fn content_type_of(key: &Key, cfg: &Config) -> String {
    let format = match parse_variant_key(key, cfg) {
        Some((original, v)) => v.output_format(&original),
        None => match key.extension().as_deref() {
            Some(e @ ("gif" | "heic" | "heif")) => return format!("image/{e}"),
            e => e.and_then(Format::parse),
        },
    };
    format.map_or("application/octet-stream", Format::content_type).into()
}

fn decode_body(r: &cloudfront::Response) -> Bytes {
    match (&r.body, r.body_encoding) {
        (Some(b), Some(BodyEncoding::Base64)) => {
            Bytes::from(base64::engine::general_purpose::STANDARD.decode(b).unwrap_or_default())
        }
        (Some(b), _) => Bytes::from(b.clone().into_bytes()),
        (None, _) => Bytes::new(),
    }
}

fn entry_of(r: &cloudfront::Response) -> Option<Entry> {
    Some(Entry {
        status: r.status.parse().ok()?,
        content_type: header(&r.headers, "content-type")?.to_string(),
        cache_control: header(&r.headers, "cache-control").unwrap_or("").to_string(),
        etag: header(&r.headers, "etag").map(str::to_string),
        last_modified: header(&r.headers, "last-modified").map(str::to_string),
        body: decode_body(r),
    })
}

fn entry_response(e: &Entry, cache: &'static str) -> HttpResponse {
    entry_answer(e, cache).into_http()
}

fn entry_answer(e: &Entry, cache: &'static str) -> Answer {
    let mut h: Vec<(HeaderName, HeaderValue)> = Vec::new();
    let mut add = |name: &'static str, v: Option<&str>| {
        if let Some(v) = v.and_then(|v| HeaderValue::from_str(v).ok()) {
            h.push((HeaderName::from_static(name), v));
        }
    };
    add("content-type", Some(&e.content_type));
    add("cache-control", Some(&e.cache_control));
    add("etag", e.etag.as_deref());
    add("last-modified", e.last_modified.as_deref());
    add("x-edge-cache", Some(cache));
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Answer { status, headers: h, body: e.body.clone() }
}

/// A CloudFront response object as an HTTP answer.
fn to_answer(r: cloudfront::Response, cache: &'static str) -> Answer {
    let status =
        r.status.parse::<u16>().ok().and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut headers = Vec::new();
    for (name, values) in &r.headers {
        if matches!(name.as_str(), "transfer-encoding" | "content-length" | "via" | "date" | "server") {
            continue;
        }
        for v in values {
            if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&v.value)) {
                headers.push((n, v));
            }
        }
    }
    headers.push((HeaderName::from_static("x-edge-cache"), HeaderValue::from_static(cache)));
    Answer { status, headers, body: decode_body(&r) }
}

/// Build the store `serve` fronts.
pub async fn store_for(cfg: &Arc<Config>, args: &ServeArgs) -> AnyStore {
    match &args.bucket {
        Some(b) => AnyStore::S3(S3Store::new(s3_client(cfg.region.clone()).await, b.clone(), cfg.clone())),
        None => AnyStore::Dir(DirStore::new(args.dir.clone(), cfg.clone())),
    }
}

/// Run the server until Ctrl-C.
pub fn main(cfg: Config, args: ServeArgs) -> Result<(), std::io::Error> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .try_init();
    limit_malloc_arenas();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let cfg = Arc::new(cfg);
        let store = store_for(&cfg, &args).await;
        let edge = Edge::new(cfg.clone(), store, args.cache_mib << 20);
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        let addr = listener.local_addr()?;
        let origin = args.bucket.as_ref().map_or_else(|| args.dir.display().to_string(), |b| format!("s3://{b}"));
        println!("edge-resize serving {origin} on http://{addr}");
        println!("try: curl -o /tmp/coffee-100.jpg 'http://{addr}{}coffee.jpg?d=100'", cfg.prefix);
        axum::serve(listener, router(edge))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    })
}

/// Cap glibc's malloc arenas at two, before any thread starts. glibc gives each thread that
/// contends for the allocator an arena of its own (up to 8 per core) and keeps freed pages
/// there, so transforms on many blocking threads leave memory that the next transform on
/// another thread cannot reuse: `make load`'s burst peaked at 477 MiB for a 384 MiB
/// transform budget, and at 204-258 MiB with `MALLOC_ARENA_MAX=2`. The budget counts live
/// buffers; this makes RSS follow them. See mallopt(3), `M_ARENA_MAX`.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(len: usize) -> Entry {
        Entry {
            status: 200,
            content_type: "image/jpeg".into(),
            cache_control: String::new(),
            etag: None,
            last_modified: None,
            body: vec![0; len].into(),
        }
    }

    #[test]
    fn a_known_etag_is_a_304_without_a_body() {
        let e = Entry { etag: Some("\"abc\"".into()), cache_control: "public, max-age=60".into(), ..entry(10) };
        for inm in ["\"abc\"", "W/\"abc\"", "\"x\", \"abc\"", "*"] {
            let r = not_modified(entry_response(&e, "hit"), inm);
            assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "{inm}");
            assert_eq!(r.headers()["etag"], "\"abc\"");
            assert_eq!(r.headers()["cache-control"], "public, max-age=60");
            assert!(r.headers().get("content-type").is_none());
        }
        assert_eq!(not_modified(entry_response(&e, "hit"), "\"other\"").status(), StatusCode::OK);
        // No validator, or not a 200: nothing to compare.
        assert_eq!(not_modified(entry_response(&entry(10), "hit"), "*").status(), StatusCode::OK);
        let err = Entry { status: 404, ..e };
        assert_eq!(not_modified(entry_response(&err, "miss"), "\"abc\"").status(), StatusCode::NOT_FOUND);
    }
}
