//! origin-response: when S3 has no variant (403/404), make it from the original, store it
//! and return it, within Lambda@Edge's 1 MB limit for a generated origin response.
//! The origin's body is not visible to the function, so it fetches the original itself.

use std::time::{Instant, SystemTime};

use base64::Engine;
use bytes::Bytes;

use super::http_date::http_date;
use super::limit::Limiter;
use super::viewer::small_response;
use super::{derive, reason, Deadline, EdgeError};
use crate::cloudfront::{set_header, BodyEncoding, Event, Headers, Request, Response};
use crate::metrics::{Invocation, Outcome, Stages};
use crate::spec::{parse_variant_key, Key, Variant};
use crate::store::{Store, VariantMeta};
use crate::transform::{self, Options, Output};
use crate::Config;

/// Headers CloudFront does not let a function change; they are carried over as they are.
const KEEP: &[&str] = &["via", "transfer-encoding", "date", "server"];

/// What became of a made variant in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// Stored, and the original was unchanged after the PUT: the answer may be cached.
    /// `etag` is the stored object's, so a browser's later If-None-Match gets a 304 from
    /// CloudFront or S3 alike; `last_modified` is taken after the PUT completed, so it is
    /// never earlier than S3's own Last-Modified for the object.
    Stored { etag: Option<String>, last_modified: SystemTime },
    /// The PUT failed or ran out of time: nothing was stored.
    NotStored,
    /// Stored, but the original changed (or could not be re-read) after the transform read
    /// it: the variant was deleted again (`deleted`: whether that worked) and is not cached.
    Withdrawn { deleted: bool },
}

/// A made variant, what became of it, and what it took.
#[derive(Debug)]
pub struct Made {
    pub output: Output,
    pub kept: Kept,
    /// Every stage's duration: the transform's own, plus the S3 GET and PUT.
    pub stages: Stages,
    /// The bytes read to make it: the original's size, or the stored variant's when derived.
    pub input_bytes: u64,
    /// The stored variant it was derived from (`derive`), `None` when made from the original.
    pub derived_from: Option<Key>,
}

impl Made {
    /// The invocation's metrics, once its answer (`status`, `outcome`) is known.
    fn invocation(&self, status: u16, outcome: Outcome) -> Invocation {
        let o = &self.output;
        Invocation {
            outcome,
            status,
            stages: self.stages,
            input_bytes: Some(self.input_bytes),
            input_pixels: Some(o.input_pixels),
            output_bytes: Some(o.bytes.len() as u64),
            output_pixels: Some(u64::from(o.width) * u64::from(o.height)),
            format: Some(o.format),
            quality_retries: Some(o.quality_retries),
            overloaded: false,
            derived: self.derived_from.is_some(),
        }
    }
}

/// The bucket this event may touch: the configured one, else the one its S3 origin names,
/// which must then be allowed (a tampered event cannot point the function elsewhere).
pub fn target_bucket(req: &Request, cfg: &Config) -> Result<String, EdgeError> {
    let named = req.origin.as_ref().and_then(|o| o.s3.as_ref()).and_then(|s| s.bucket()).map(str::to_string);
    match (&cfg.bucket, named) {
        (Some(b), Some(n)) if *b != n && !cfg.bucket_allowed(&n) => Err(EdgeError::BucketNotAllowed(n)),
        (Some(b), _) => Ok(b.clone()),
        (None, Some(n)) if cfg.bucket_allowed(&n) => Ok(n),
        (None, Some(n)) => Err(EdgeError::BucketNotAllowed(n)),
        (None, None) => Err(EdgeError::NoBucket),
    }
}

/// The region to talk to: configured, else the S3 origin's.
pub fn target_region(req: &Request, cfg: &Config) -> Option<String> {
    cfg.region
        .clone()
        .or_else(|| req.origin.as_ref().and_then(|o| o.s3.as_ref()).map(|s| s.region.clone()).filter(|r| !r.is_empty()))
}

/// Share of the time left that reading the original may take: the rest is kept for the
/// transform and the PutObject, so a slow or retried GET cannot starve them.
const READ_SHARE: f64 = 0.6;

/// Share of the time left that the PutObject may take: the rest is kept to re-read the
/// original's ETag and, if it changed, to delete the variant again.
const PUT_SHARE: f64 = 0.8;

/// Fetch the original, transform it (on a blocking thread), store the variant and check the
/// original did not change meanwhile, all before `deadline`. `body_budget` is the largest
/// encoded image that still fits a generated response. With a `limiter`, the transform
/// first waits for a slot and its estimated memory (or fails with `Overloaded`).
#[allow(clippy::too_many_arguments)]
pub async fn make_variant<S: Store>(
    store: &S,
    key: &Key,
    original: &Key,
    variant: &Variant,
    cfg: &Config,
    body_budget: usize,
    deadline: Deadline,
    limiter: Option<&Limiter>,
) -> Result<Made, EdgeError> {
    let start = Instant::now();
    // Boxed: nested inline, its state machine makes the binaries' handler future deeper than
    // rustc's layout queries allow (`recursion_limit`); one allocation per miss.
    let source = Box::pin(read_source(store, key, original, variant, cfg, deadline)).await?;
    let format = variant.output_format(original).ok_or(EdgeError::Transform(transform::TransformError::Unsupported))?;
    let s3_get = start.elapsed();
    let mut opts = Options::for_variant(variant, format, cfg);
    opts.budget = Some(body_budget);
    let ReadSource { bytes: input, etag: source_etag, derived_from } = source;
    let input_bytes = input.len() as u64;
    let admitted = match limiter {
        Some(l) => {
            // An unreadable header is the transform's to report; reserve the bytes at least.
            let estimate = transform::memory::estimate(&input, &opts).unwrap_or(input_bytes);
            Some(deadline.run(1.0, "waiting for a transform slot", l.admit(estimate)).await??)
        }
        None => None,
    };
    // The pixel limit bounds the transform's time; the deadline only stops waiting for it.
    // The admission moves into the blocking task: its memory is given back when the
    // transform has really finished, not when the handler stops waiting for it.
    let transform = tokio::task::spawn_blocking(move || {
        let out = transform::run(&input, &opts);
        drop(admitted);
        out
    });
    let output = deadline
        .run(1.0, "transforming", transform)
        .await?
        .map_err(|e| EdgeError::Transform(transform::TransformError::Internal(e.to_string())))??;
    let put = Put {
        key,
        original,
        source_etag: source_etag.as_deref(),
        derived_from: derived_from.as_ref(),
        content_type: format.content_type(),
    };
    let start = Instant::now();
    let kept = put.keep(store, Bytes::from(output.bytes.clone()), cfg, deadline).await;
    let stages = Stages { s3_get: Some(s3_get), s3_put: Some(start.elapsed()), ..output.timings };
    Ok(Made { output, kept, stages, input_bytes, derived_from })
}

/// The encoded image a miss is made from, and the original's ETag it stands for.
struct ReadSource {
    bytes: Bytes,
    /// The original's ETag: read with it, or recorded by the stored variant used instead.
    etag: Option<String>,
    /// The stored variant used instead of the original (`derive`), if any.
    derived_from: Option<Key>,
}

/// A larger stored variant of the same original when derivation is on and one is usable
/// (`derive::find_source`), else the original.
async fn read_source<S: Store>(
    store: &S,
    key: &Key,
    original: &Key,
    variant: &Variant,
    cfg: &Config,
    deadline: Deadline,
) -> Result<ReadSource, EdgeError> {
    if let Some(s) = derive::find_source(store, key, original, variant, cfg, deadline).await {
        return Ok(ReadSource { bytes: s.bytes, etag: Some(s.etag), derived_from: Some(s.variant) });
    }
    let obj = deadline
        .run(READ_SHARE, "reading the original", store.get(original, cfg.max_input_bytes))
        .await?
        .map_err(|e| match e {
            e if e.is_not_found() => EdgeError::OriginalMissing(original.to_string()),
            e => EdgeError::Store(e),
        })?;
    Ok(ReadSource { bytes: obj.bytes, etag: obj.etag, derived_from: None })
}

/// One variant to store, and the original it was made from.
struct Put<'a> {
    key: &'a Key,
    original: &'a Key,
    /// The original's ETag when the transform read it (or, for a derived variant, the one
    /// its source recorded, which was the original's current ETag when it was looked up):
    /// the re-check after the PUT is the same either way.
    source_etag: Option<&'a str>,
    /// The stored variant it was derived from, recorded so it is never a source itself.
    derived_from: Option<&'a Key>,
    content_type: &'a str,
}

impl Put<'_> {
    /// Store the variant, recording the original's ETag, then re-read the original's ETag.
    /// This closes the race with an overwrite: a janitor that ran between our GET and our
    /// PUT looked for this variant and did not find it. S3 is strongly consistent
    /// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/Welcome.html#ConsistencyModel>):
    /// an overwrite that completed before our HEAD is seen by it, and one that completes
    /// after it is followed by a notification whose janitor finds this variant.
    async fn keep<S: Store>(&self, store: &S, body: Bytes, cfg: &Config, deadline: Deadline) -> Kept {
        let cache_control = cfg.variant_cache_control();
        let meta = VariantMeta {
            content_type: self.content_type,
            cache_control: &cache_control,
            source_etag: self.source_etag,
            derived_from: self.derived_from.map(Key::as_str),
        };
        // One PutObject of the whole body: S3 stores all of it or nothing, and a PUT cut off by
        // the deadline is dropped before it completes, so no partial variant can be left behind.
        let put = store.put_variant(self.key, body, &meta);
        let stored = match deadline.run(PUT_SHARE, "storing the variant", put).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return self.not_stored(&EdgeError::Store(e)),
            Err(e) => return self.not_stored(&e),
        };
        let now = deadline.run(1.0, "re-reading the original", store.head(self.original)).await;
        let current = match &now {
            Ok(Ok(Some(m))) => m.etag.as_deref(),
            _ => None,
        };
        if self.source_etag.is_some() && current == self.source_etag {
            return Kept::Stored { etag: stored.etag, last_modified: SystemTime::now() };
        }
        tracing::warn!(key = %self.key, made_from = ?self.source_etag, now = ?now, "the original changed: withdrawing the variant");
        let deleted = matches!(
            deadline.run(1.0, "withdrawing the variant", store.delete_variants(std::slice::from_ref(self.key))).await,
            Ok(Ok(_))
        );
        if !deleted {
            tracing::error!(key = %self.key, "could not withdraw a variant of a changed original");
        }
        Kept::Withdrawn { deleted }
    }

    fn not_stored(&self, e: &EdgeError) -> Kept {
        // The image is still good: return it; the next miss will try to store it again.
        tracing::warn!(key = %self.key, error = %e, "storing the variant failed");
        Kept::NotStored
    }
}

/// Handle one origin response, answering before `deadline`. Anything but a 403/404 for a
/// variant key passes through.
pub async fn origin_response<S: Store>(
    req: &Request,
    resp: Response,
    cfg: &Config,
    store: Option<&S>,
    deadline: Deadline,
) -> Response {
    origin_response_measured(req, resp, cfg, store, deadline, None).await.0
}

/// [`origin_response`], with what it measured, and transforms admitted by `limiter` if any.
pub async fn origin_response_measured<S: Store>(
    req: &Request,
    resp: Response,
    cfg: &Config,
    store: Option<&S>,
    deadline: Deadline,
    limiter: Option<&Limiter>,
) -> (Response, Invocation) {
    let status: u16 = resp.status.parse().unwrap_or(0);
    let pass = |resp: Response| (resp, Invocation { status, ..Invocation::default() });
    if status != 403 && status != 404 {
        return pass(resp);
    }
    let Ok(key) = Key::from_uri(&req.uri) else {
        return pass(resp);
    };
    let Some((original, variant)) = parse_variant_key(&key, cfg) else {
        return pass(resp);
    };
    let Some(store) = store else {
        let e = target_bucket(req, cfg).err().unwrap_or(EdgeError::NoBucket);
        return failed(&resp.headers, &e, cfg);
    };
    let widest = Stages::widest_server_timing();
    let skeleton = image_response(&resp.headers, "image/webp", cfg, &largest_kept(), Vec::new(), Some(&widest));
    let body_budget = cfg.response_budget.saturating_sub(skeleton.json_len() + 64) / 4 * 3;
    match make_variant(store, &key, &original, &variant, cfg, body_budget, deadline, limiter).await {
        Ok(made) if made.output.fits_budget => {
            let inv = made.invocation(200, Outcome::Generated);
            let Made { output, kept, stages, .. } = made;
            tracing::info!(key = %key, bytes = output.bytes.len(), w = output.width, h = output.height, "generated");
            let timing = stages.server_timing();
            let ct = output.format.content_type();
            (image_response(&resp.headers, ct, cfg, &kept, output.bytes, timing.as_deref()), inv)
        }
        Ok(made @ Made { kept: Kept::Stored { .. }, .. }) => {
            // Too big to return inline: it is in S3 now, so send the viewer back for it.
            tracing::info!(key = %key, bytes = made.output.bytes.len(), "over the response budget: 302");
            let mut r = Response::new(302, reason(302));
            carry(&resp.headers, &mut r.headers);
            set_header(&mut r.headers, "Location", key.to_uri());
            set_header(&mut r.headers, "Cache-Control", "no-store");
            (r, made.invocation(302, Outcome::Redirect))
        }
        Ok(made @ Made { kept: Kept::NotStored, .. }) => {
            let (r, _) = failed(&resp.headers, &EdgeError::OverBudgetUnstored, cfg);
            let inv = made.invocation(503, Outcome::ServerError);
            (r, inv)
        }
        // Withdrawn: there is nothing current to redirect to yet; a retry makes it afresh.
        Ok(made @ Made { kept: Kept::Withdrawn { .. }, .. }) => {
            let (r, _) = failed(&resp.headers, &EdgeError::OriginalChanged, cfg);
            let inv = made.invocation(503, Outcome::ServerError);
            (r, inv)
        }
        Err(e) => failed(&resp.headers, &e, cfg),
    }
}

/// The error answer and its metrics.
fn failed(origin_headers: &Headers, e: &EdgeError, cfg: &Config) -> (Response, Invocation) {
    let r = error_response(origin_headers, e, cfg);
    let mut inv = Invocation::answered(e.status());
    inv.overloaded = matches!(e, EdgeError::Overloaded { .. });
    (r, inv)
}

fn carry(from: &Headers, to: &mut Headers) {
    for k in KEEP {
        if let Some(v) = from.get(*k) {
            to.insert((*k).to_string(), v.clone());
        }
    }
}

/// The largest validators an image response carries, to size the body budget: an S3 ETag
/// is at most 32 hex digits, a dash and a part count (at most 10,000 parts), quoted.
fn largest_kept() -> Kept {
    Kept::Stored { etag: Some(format!("\"{}-10000\"", "0".repeat(32))), last_modified: SystemTime::UNIX_EPOCH }
}

/// A generated image. Only a stored and verified variant is cacheable, with validators
/// (ETag, Last-Modified) so that a browser's revalidation is a 304, not a transform;
/// anything else is `no-store`: an unstored one must be retried, a withdrawn one is stale.
/// `Server-Timing` names each stage's milliseconds (CloudFront passes it to the viewer).
fn image_response(
    origin_headers: &Headers,
    content_type: &str,
    cfg: &Config,
    kept: &Kept,
    body: Vec<u8>,
    server_timing: Option<&str>,
) -> Response {
    let mut r = Response::new(200, reason(200));
    carry(origin_headers, &mut r.headers);
    set_header(&mut r.headers, "Content-Type", content_type);
    match kept {
        Kept::Stored { etag, last_modified } => {
            set_header(&mut r.headers, "Cache-Control", cfg.variant_cache_control());
            if let Some(e) = etag {
                set_header(&mut r.headers, "ETag", e.clone());
            }
            set_header(&mut r.headers, "Last-Modified", http_date(*last_modified));
        }
        Kept::NotStored | Kept::Withdrawn { .. } => set_header(&mut r.headers, "Cache-Control", "no-store"),
    }
    set_header(&mut r.headers, "X-Resize-Result", "generated");
    if let Some(t) = server_timing {
        set_header(&mut r.headers, "Server-Timing", t.to_string());
    }
    r.body = Some(base64::engine::general_purpose::STANDARD.encode(body));
    r.body_encoding = Some(BodyEncoding::Base64);
    r
}

/// 404 for a missing original and 415 for an original this build cannot decode (short
/// caches, so a new upload or a new build shows soon); anything else is a 4xx/5xx with
/// `no-store`, never a cached broken image.
pub fn error_response(origin_headers: &Headers, e: &EdgeError, cfg: &Config) -> Response {
    let status = e.status();
    tracing::warn!(status, error = %e, "variant not made");
    let mut r = small_response(status, &e.to_string());
    carry(origin_headers, &mut r.headers);
    match status {
        404 => set_header(&mut r.headers, "Cache-Control", cfg.not_found_cache_control.clone()),
        415 => set_header(&mut r.headers, "Cache-Control", cfg.unsupported_cache_control.clone()),
        _ => {}
    }
    // RFC 9110 §10.2.3: when to come back; the 503 itself is `no-store` (small_response).
    if let EdgeError::Overloaded { retry_after_s } = e {
        set_header(&mut r.headers, "Retry-After", retry_after_s.to_string());
    }
    r
}

/// The Lambda entry point's logic: pick the bucket from the event, build its store, handle.
pub async fn origin_response_event<S: Store, F>(
    event: Event,
    cfg: &Config,
    deadline: Deadline,
    store_for: F,
) -> Response
where
    F: FnOnce(&str, Option<String>) -> S,
{
    origin_response_event_measured(event, cfg, deadline, store_for).await.0
}

/// [`origin_response_event`] with the invocation's metrics (the binary prints their EMF line).
pub async fn origin_response_event_measured<S: Store, F>(
    event: Event,
    cfg: &Config,
    deadline: Deadline,
    store_for: F,
) -> (Response, Invocation)
where
    F: FnOnce(&str, Option<String>) -> S,
{
    let bad = |m: &str| (small_response(500, m), Invocation::answered(500));
    let Some(rec) = event.records.into_iter().next() else {
        return bad("event without records");
    };
    let Some(resp) = rec.cf.response else {
        return bad("origin-response event without a response");
    };
    let req = rec.cf.request;
    let store = target_bucket(&req, cfg).ok().map(|b| store_for(&b, target_region(&req, cfg)));
    origin_response_measured(&req, resp, cfg, store.as_ref(), deadline, None).await
}
