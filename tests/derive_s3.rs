//! Derived variants (`derive_from_variants`) against a real S3-compatible server (moto):
//! which stored variant a miss is made from, judged by the pixels it returns.
//!
//! The proof of the source: a solid red image stored under the larger variant's key. A miss
//! made from it is red; one made from the original (a brown coffee cup) is not.

mod common;

use std::sync::Arc;

use base64::Engine;
use common::*;
use edge_resize::cdn::CloudFrontInvalidator;
use edge_resize::cloudfront::Response;
use edge_resize::edge::{origin_response, Deadline};
use edge_resize::janitor::plan::{Change, ObjectEvent};
use edge_resize::janitor::Janitor;
use edge_resize::spec::{Fit, Format, Key, Size};
use edge_resize::store::{DirStore, DERIVED_FROM, SOURCE_ETAG};
use edge_resize::Config;

const ORIGINAL: &str = "image/coffee.jpg";
/// 100x100 of the 600x400 original; the one candidate of the allow-list below is 300x300.
const TARGET: &str = "/image/100x100/coffee.jpg";
const SOURCE: &str = "image/300x300/coffee.jpg";

/// A small allow-list: 100x100 derives from 300x300 (3x); 150 wide from 400 wide.
fn cfg(derive: bool) -> Arc<Config> {
    Arc::new(Config {
        sizes: vec![Size::new(100, 100), Size::new(300, 300), Size::new(150, 0), Size::new(400, 0)],
        fits: vec![Fit::Cover],
        qualities: vec![],
        formats: vec![Format::Jpeg, Format::Png, Format::Webp],
        derive_from_variants: derive,
        ..Config::default()
    })
}

fn body(r: &Response) -> Vec<u8> {
    assert_eq!(r.status, "200", "{:?}", r.body);
    base64::engine::general_purpose::STANDARD.decode(r.body.as_deref().unwrap()).unwrap()
}

fn solid_jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(w, h, image::Rgb([220, 20, 20]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// Store a variant as the origin-response does, with its recorded metadata.
async fn put_variant(
    c: &aws_sdk_s3::Client,
    b: &str,
    k: &str,
    bytes: Vec<u8>,
    source_etag: Option<&str>,
    derived_from: Option<&str>,
) {
    let mut put = c.put_object().bucket(b).key(k).content_type("image/jpeg").body(bytes.into());
    if let Some(e) = source_etag {
        put = put.metadata(SOURCE_ETAG, e);
    }
    if let Some(d) = derived_from {
        put = put.metadata(DERIVED_FROM, d);
    }
    put.send().await.unwrap();
}

/// A bucket holding the original; its ETag.
async fn with_original() -> (aws_sdk_s3::Client, String, String) {
    let (c, b) = bucket("derive").await;
    put(&c, &b, ORIGINAL, fixture("coffee.jpg"), "image/jpeg").await;
    let etag = c.head_object().bucket(&b).key(ORIGINAL).send().await.unwrap().e_tag().unwrap().to_string();
    (c, b, etag)
}

/// `uri` made in a fresh bucket from the original alone (derivation off): the reference.
async fn from_original(uri: &str) -> Vec<u8> {
    let (c, b, _) = with_original().await;
    body(&respond(origin_event(uri, "403", &b), &cfg(false), &c).await)
}

/// Size and mean RGB of an encoded image.
fn look(bytes: &[u8]) -> ((u32, u32), [f64; 3]) {
    let img = image::load_from_memory(bytes).unwrap().to_rgb8();
    let n = f64::from(img.width() * img.height());
    let mut sum = [0.0; 3];
    for p in img.pixels() {
        for (s, v) in sum.iter_mut().zip(p.0) {
            *s += f64::from(v);
        }
    }
    ((img.width(), img.height()), sum.map(|s| s / n))
}

fn is_red(bytes: &[u8]) -> bool {
    let (_, [r, g, b]) = look(bytes);
    r > 190.0 && g < 50.0 && b < 50.0
}

/// Mean absolute difference per channel between two images of the same size, 0..=255.
fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    let (a, b) = (image::load_from_memory(a).unwrap().to_rgb8(), image::load_from_memory(b).unwrap().to_rgb8());
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: f64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| f64::from(x.abs_diff(*y))).sum();
    sum / a.as_raw().len() as f64
}

/// The stored variant's recorded (source ETag, derived-from).
async fn recorded(c: &aws_sdk_s3::Client, b: &str, k: &str) -> (Option<String>, Option<String>) {
    let h = c.head_object().bucket(b).key(k).send().await.expect("stored");
    let m = h.metadata().cloned().unwrap_or_default();
    (m.get(SOURCE_ETAG).cloned(), m.get(DERIVED_FROM).cloned())
}

#[tokio::test]
async fn a_current_larger_variant_is_the_source_and_is_recorded() {
    let (c, b, etag) = with_original().await;
    put_variant(&c, &b, SOURCE, solid_jpeg(300, 300), Some(&etag), None).await;
    let out = body(&respond(origin_event(TARGET, "403", &b), &cfg(true), &c).await);
    assert_eq!(look(&out).0, (100, 100));
    assert!(is_red(&out), "made from the stored 300x300, not the original: {:?}", look(&out));
    // The stored variant records the original's ETag (for the janitor and the race check)
    // and what it was derived from.
    assert_eq!(recorded(&c, &b, "image/100x100/coffee.jpg").await, (Some(etag), Some(SOURCE.to_string())));
}

#[tokio::test]
async fn a_derived_variant_is_close_to_one_made_from_the_original() {
    let (c, b, etag) = with_original().await;
    let cfg = cfg(true);
    // 300x300 has no larger source: made from the original, and stored.
    let big = body(&respond(origin_event("/image/300x300/coffee.jpg", "403", &b), &cfg, &c).await);
    assert_eq!(look(&big).0, (300, 300));
    assert_eq!(recorded(&c, &b, SOURCE).await, (Some(etag.clone()), None));
    let derived = body(&respond(origin_event(TARGET, "403", &b), &cfg, &c).await);
    assert_eq!(recorded(&c, &b, "image/100x100/coffee.jpg").await, (Some(etag), Some(SOURCE.to_string())));
    let direct = from_original(TARGET).await;
    assert_eq!(look(&derived).0, look(&direct).0);
    assert_ne!(derived, direct, "a second resampling and encode changes the bytes");
    let d = mean_abs_diff(&derived, &direct);
    assert!(d < 4.0, "derived differs from direct by {d:.2} levels on average");

    // A width-only size: 150 wide from the stored 400 wide, the height from the aspect ratio.
    let wide = body(&respond(origin_event("/image/400x0/coffee.jpg", "403", &b), &cfg, &c).await);
    assert_eq!(look(&wide).0, (400, 267));
    let derived = body(&respond(origin_event("/image/150x0/coffee.jpg", "403", &b), &cfg, &c).await);
    assert_eq!(recorded(&c, &b, "image/150x0/coffee.jpg").await.1.as_deref(), Some("image/400x0/coffee.jpg"));
    let direct = from_original("/image/150x0/coffee.jpg").await;
    assert_eq!(look(&derived).0, (150, 100));
    assert_eq!(look(&direct).0, (150, 100));
    let d = mean_abs_diff(&derived, &direct);
    assert!(d < 4.0, "derived differs from direct by {d:.2} levels on average");
}

#[tokio::test]
async fn a_stale_larger_variant_is_not_used() {
    let (c, b, _) = with_original().await;
    put_variant(&c, &b, SOURCE, solid_jpeg(300, 300), Some("\"0123456789abcdef0123456789abcdef\""), None).await;
    let out = body(&respond(origin_event(TARGET, "403", &b), &cfg(true), &c).await);
    assert!(!is_red(&out), "{:?}", look(&out));
    assert_eq!(out, from_original(TARGET).await, "made from the original");
    assert_eq!(recorded(&c, &b, "image/100x100/coffee.jpg").await.1, None);
    // A variant that records no source (stored before sources were recorded) is stale too.
    let (c, b, _) = with_original().await;
    put_variant(&c, &b, SOURCE, solid_jpeg(300, 300), None, None).await;
    let out = body(&respond(origin_event(TARGET, "403", &b), &cfg(true), &c).await);
    assert!(!is_red(&out), "{:?}", look(&out));
}

#[tokio::test]
async fn with_the_option_off_nothing_is_derived() {
    let (c, b, etag) = with_original().await;
    put_variant(&c, &b, SOURCE, solid_jpeg(300, 300), Some(&etag), None).await;
    let out = body(&respond(origin_event(TARGET, "403", &b), &cfg(false), &c).await);
    assert!(!is_red(&out), "{:?}", look(&out));
    assert_eq!(out, from_original(TARGET).await);
    assert_eq!(recorded(&c, &b, "image/100x100/coffee.jpg").await.1, None);
}

#[tokio::test]
async fn a_derived_variant_is_never_a_source() {
    let (c, b, etag) = with_original().await;
    put_variant(&c, &b, SOURCE, solid_jpeg(300, 300), Some(&etag), Some("image/900x900/coffee.jpg")).await;
    let out = body(&respond(origin_event(TARGET, "403", &b), &cfg(true), &c).await);
    assert!(!is_red(&out), "{:?}", look(&out));
    assert_eq!(out, from_original(TARGET).await);
}

#[tokio::test]
async fn a_variant_smaller_than_its_key_says_is_not_used() {
    // Under the 300x300 key but 150x150 (as from a small original): under the 2x ratio.
    let (c, b, etag) = with_original().await;
    put_variant(&c, &b, SOURCE, solid_jpeg(150, 150), Some(&etag), None).await;
    let out = body(&respond(origin_event(TARGET, "403", &b), &cfg(true), &c).await);
    assert!(!is_red(&out), "{:?}", look(&out));
    assert_eq!(out, from_original(TARGET).await);
}

#[tokio::test]
async fn a_missing_original_is_still_a_404_with_the_option_on() {
    let (c, b) = bucket("derive-missing").await;
    put_variant(&c, &b, SOURCE, solid_jpeg(300, 300), Some("\"e\""), None).await;
    let r = respond(origin_event(TARGET, "403", &b), &cfg(true), &c).await;
    assert_eq!(r.status, "404");
}

#[tokio::test]
async fn the_janitor_deletes_derived_variants_when_the_original_changes() {
    let (c, b, _) = with_original().await;
    let cfg = cfg(true);
    body(&respond(origin_event("/image/300x300/coffee.jpg", "403", &b), &cfg, &c).await);
    body(&respond(origin_event(TARGET, "403", &b), &cfg, &c).await);
    assert_eq!(recorded(&c, &b, "image/100x100/coffee.jpg").await.1.as_deref(), Some(SOURCE));
    put(&c, &b, ORIGINAL, fixture("chelsea.jpg"), "image/jpeg").await;
    let j = Janitor::<CloudFrontInvalidator> { cfg: cfg.clone(), s3: c.clone(), cdn: None, dry_run: false };
    let ev = ObjectEvent::new(&b, Key::new(ORIGINAL).unwrap(), Change::Created);
    let r = j.run(&[ev]).await.unwrap();
    assert_eq!(r.deletes, vec!["image/100x100/coffee.jpg", "image/300x300/coffee.jpg"]);
    assert!(get(&c, &b, "image/100x100/coffee.jpg").await.is_none());
    assert!(get(&c, &b, SOURCE).await.is_none());
}

#[tokio::test]
async fn the_directory_store_never_derives() {
    // It records no source ETag, so no stored variant can be shown to be current.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("image/300x300")).unwrap();
    std::fs::write(dir.path().join(ORIGINAL), fixture("coffee.jpg")).unwrap();
    std::fs::write(dir.path().join(SOURCE), solid_jpeg(300, 300)).unwrap();
    let cfg = cfg(true);
    let store = DirStore::new(dir.path(), cfg.clone());
    let ev = origin_event(TARGET, "404", "unused");
    let cf = &ev.records[0].cf;
    let r = origin_response(&cf.request, cf.response.clone().unwrap(), &cfg, Some(&store), Deadline::for_config(&cfg))
        .await;
    let out = body(&r);
    assert_eq!(look(&out).0, (100, 100));
    assert!(!is_red(&out), "{:?}", look(&out));
}

/// The S3 store, overwriting the original right after a candidate variant is read.
struct OverwriteAfterSourceRead {
    inner: edge_resize::store::S3Store,
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl edge_resize::store::Store for OverwriteAfterSourceRead {
    async fn get(&self, k: &Key, max: u64) -> Result<edge_resize::store::Object, edge_resize::store::StoreError> {
        let r = self.inner.get(k, max).await;
        if k.as_str() == SOURCE {
            put(&self.client, &self.bucket, ORIGINAL, fixture("chelsea.jpg"), "image/jpeg").await;
        }
        r
    }
    async fn put_variant(
        &self,
        k: &Key,
        body: bytes::Bytes,
        meta: &edge_resize::store::VariantMeta<'_>,
    ) -> Result<edge_resize::store::Stored, edge_resize::store::StoreError> {
        self.inner.put_variant(k, body, meta).await
    }
    async fn delete_variants(&self, keys: &[Key]) -> Result<Vec<Key>, edge_resize::store::StoreError> {
        self.inner.delete_variants(keys).await
    }
    async fn head(&self, k: &Key) -> Result<Option<edge_resize::store::Meta>, edge_resize::store::StoreError> {
        self.inner.head(k).await
    }
}

#[tokio::test]
async fn an_overwrite_after_the_source_was_read_withdraws_the_derived_variant() {
    // The race check after the PUT compares the original's ETag with the one the source
    // recorded: derived or not, a variant of a changed original is not left behind.
    let (c, b, etag) = with_original().await;
    put_variant(&c, &b, SOURCE, solid_jpeg(300, 300), Some(&etag), None).await;
    let cfg = cfg(true);
    let store = OverwriteAfterSourceRead { inner: store(&c, &b, &cfg), client: c.clone(), bucket: b.clone() };
    let ev = origin_event(TARGET, "403", &b);
    let cf = &ev.records[0].cf;
    let r = origin_response(&cf.request, cf.response.clone().unwrap(), &cfg, Some(&store), Deadline::for_config(&cfg))
        .await;
    // Answered (it was right when made) but not cacheable, and not left in S3.
    let out = body(&r);
    assert!(is_red(&out), "made from the source: {:?}", look(&out));
    assert_eq!(edge_resize::cloudfront::header(&r.headers, "cache-control"), Some("no-store"));
    assert!(get(&c, &b, "image/100x100/coffee.jpg").await.is_none(), "withdrawn");
}
