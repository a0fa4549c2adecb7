//! `edge-resize serve`: the whole edge on one machine. Each request goes through the same
//! code as on CloudFront: the viewer-request handler, a bounded in-memory cache keyed on
//! the canonical path, the store as origin, and the origin-response handler on a miss.
//! Concurrent misses for one variant are single-flighted: the transform runs once.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use bytes::Bytes;

use crate::cloudfront::{self, header, BodyEncoding, Header, Headers, Request, ViewerResult};
use crate::edge::{origin_response, viewer_request, Deadline, EdgeError};
use crate::spec::{parse_variant_key, Format, Key};
use crate::store::{s3_client, AnyStore, DirStore, S3Store, Store};
use crate::Config;

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

/// A byte-bounded LRU cache, as a CDN edge keeps popular objects. `order` maps each entry's
/// last-use stamp to its key, so the least recently used is `order`'s first entry.
struct Cache {
    map: HashMap<String, (Entry, u64)>,
    order: BTreeMap<u64, String>,
    tick: u64,
    bytes: usize,
    cap: usize,
}

impl Cache {
    fn new(cap: usize) -> Self {
        Cache { map: HashMap::new(), order: BTreeMap::new(), tick: 0, bytes: 0, cap }
    }
    fn get(&mut self, k: &str) -> Option<Entry> {
        self.tick += 1;
        let (e, stamp) = self.map.get_mut(k)?;
        self.order.remove(stamp);
        *stamp = self.tick;
        self.order.insert(self.tick, k.to_string());
        Some(e.clone())
    }
    fn insert(&mut self, k: String, e: Entry) {
        // One object may not take more than a quarter: a few large images must not flush
        // every small one.
        if e.body.len() > self.cap / 4 {
            return;
        }
        self.remove(&k);
        self.tick += 1;
        self.bytes += e.body.len();
        self.order.insert(self.tick, k.clone());
        self.map.insert(k, (e, self.tick));
        while self.bytes > self.cap {
            let Some((_, old)) = self.order.pop_first() else {
                break;
            };
            if let Some((e, _)) = self.map.remove(&old) {
                self.bytes -= e.body.len();
            }
        }
    }
    fn remove(&mut self, k: &str) -> bool {
        match self.map.remove(k) {
            Some((e, stamp)) => {
                self.bytes -= e.body.len();
                self.order.remove(&stamp);
                true
            }
            None => false,
        }
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
    cache: Mutex<Cache>,
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pub stats: Stats,
}

impl Edge {
    pub fn new(cfg: Arc<Config>, store: AnyStore, cache_bytes: usize) -> Arc<Self> {
        Arc::new(Edge {
            cfg,
            store,
            cache: Mutex::new(Cache::new(cache_bytes)),
            flights: Mutex::new(HashMap::new()),
            stats: Stats::default(),
        })
    }

    /// The cache; a panic elsewhere while holding it leaves it usable (entries are whole).
    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drop cached paths (the local CDN invalidation). `/*`-suffixed paths are prefixes.
    pub fn invalidate(&self, paths: &[String]) -> usize {
        let mut c = self.cache();
        let keys: Vec<String> = c
            .map
            .keys()
            .filter(|k| paths.iter().any(|p| p.strip_suffix('*').map_or(*k == p, |pre| k.starts_with(pre))))
            .cloned()
            .collect();
        keys.iter().filter(|k| c.remove(k)).count()
    }
}

/// The router (used by `main` and by the tests).
pub fn router(edge: Arc<Edge>) -> Router {
    Router::new()
        .route("/_edge/stats", get(stats))
        .route("/_edge/invalidate", post(invalidate))
        .fallback(get(handle))
        .with_state(edge)
}

async fn stats(State(edge): State<Arc<Edge>>) -> Json<serde_json::Value> {
    let s = &edge.stats;
    let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
    Json(serde_json::json!({
        "requests": l(&s.requests), "cache_hits": l(&s.cache_hits), "origin_hits": l(&s.origin_hits),
        "transforms": l(&s.transforms), "errors": l(&s.errors),
    }))
}

async fn invalidate(State(edge): State<Arc<Edge>>, Json(paths): Json<Vec<String>>) -> Json<serde_json::Value> {
    let n = edge.invalidate(&paths);
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
        ViewerResult::Response(r) => return to_http(r, "viewer"),
    };
    let path = req.uri.clone();
    if let Some(e) = edge.cache().get(&path) {
        edge.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
        return entry_response(&e, "hit");
    }
    // Single flight: one request per path goes to the origin, the others wait for it and
    // then find the answer in the cache.
    let flight = {
        let mut f = edge.flights.lock().unwrap_or_else(|p| p.into_inner());
        f.entry(path.clone()).or_default().clone()
    };
    let _guard = flight.lock().await;
    if let Some(e) = edge.cache().get(&path) {
        edge.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
        return entry_response(&e, "hit");
    }
    let resp = fetch(edge, &req).await;
    {
        let mut f = edge.flights.lock().unwrap_or_else(|p| p.into_inner());
        if Arc::strong_count(&flight) <= 2 {
            f.remove(&path);
        }
    }
    resp
}

/// Origin fetch + origin-response handler, as CloudFront would do on a cache miss.
async fn fetch(edge: &Edge, req: &Request) -> HttpResponse {
    let cfg = &edge.cfg;
    let Ok(key) = Key::from_uri(&req.uri) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let origin = match edge.store.get(&key, cfg.max_input_bytes).await {
        Ok(obj) => {
            edge.stats.origin_hits.fetch_add(1, Ordering::Relaxed);
            let e = Entry {
                status: 200,
                content_type: obj.content_type.clone().unwrap_or_else(|| content_type_of(&key, cfg)),
                cache_control: cfg.variant_cache_control(),
                etag: obj.etag.clone(),
                last_modified: obj.last_modified.map(crate::edge::http_date::http_date),
                body: obj.bytes,
            };
            edge.cache().insert(req.uri.clone(), e.clone());
            return entry_response(&e, "miss");
        }
        Err(e) if e.is_not_found() => cloudfront::Response::new(404, "Not Found"),
        Err(e) => {
            edge.stats.errors.fetch_add(1, Ordering::Relaxed);
            let r = crate::edge::origin::error_response(&Headers::new(), &EdgeError::Store(e), cfg);
            return to_http(r, "error");
        }
    };
    let r = origin_response(req, origin, cfg, Some(&edge.store), Deadline::for_config(cfg)).await;
    let generated = header(&r.headers, "x-resize-result") == Some("generated");
    if generated {
        edge.stats.transforms.fetch_add(1, Ordering::Relaxed);
        // As CloudFront does: what the origin says not to store is not cached.
        if let Some(e) = entry_of(&r).filter(|e| !e.cache_control.contains("no-store")) {
            edge.cache().insert(req.uri.clone(), e);
        }
    } else if r.status.starts_with('5') {
        edge.stats.errors.fetch_add(1, Ordering::Relaxed);
    }
    to_http(r, "miss")
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
    let mut resp = HttpResponse::new(Body::from(e.body.clone()));
    *resp.status_mut() = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&e.content_type) {
        h.insert("content-type", v);
    }
    if let Ok(v) = HeaderValue::from_str(&e.cache_control) {
        h.insert("cache-control", v);
    }
    for (name, v) in [("etag", &e.etag), ("last-modified", &e.last_modified)] {
        if let Some(v) = v.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            h.insert(name, v);
        }
    }
    h.insert("x-edge-cache", HeaderValue::from_static(cache));
    resp
}

/// A CloudFront response object as an HTTP response.
fn to_http(r: cloudfront::Response, cache: &'static str) -> HttpResponse {
    let mut resp = HttpResponse::new(Body::from(decode_body(&r)));
    *resp.status_mut() =
        r.status.parse::<u16>().ok().and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::BAD_GATEWAY);
    let h = resp.headers_mut();
    for (name, values) in &r.headers {
        if matches!(name.as_str(), "transfer-encoding" | "content-length" | "via" | "date" | "server") {
            continue;
        }
        for v in values {
            if let (Ok(n), Ok(v)) =
                (axum::http::HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&v.value))
            {
                h.append(n, v);
            }
        }
    }
    h.insert("x-edge-cache", HeaderValue::from_static(cache));
    resp
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
    fn cache_evicts_the_least_recently_used_within_its_byte_cap() {
        let mut c = Cache::new(400);
        c.insert("a".into(), entry(100));
        c.insert("b".into(), entry(100));
        c.insert("c".into(), entry(100));
        assert!(c.get("a").is_some()); // a is now the most recently used
        c.insert("d".into(), entry(100));
        c.insert("e".into(), entry(100)); // 500 bytes > 400: the LRU, b, goes
        assert!(c.get("b").is_none());
        assert!(["a", "c", "d", "e"].iter().all(|k| c.get(k).is_some()));
        assert_eq!(c.bytes, 400);
        c.insert("big".into(), entry(101)); // over a quarter of the cap: not cached
        assert!(c.get("big").is_none());
        assert!(c.remove("a") && !c.remove("a"));
        assert_eq!((c.bytes, c.map.len(), c.order.len()), (300, 3, 3));
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
