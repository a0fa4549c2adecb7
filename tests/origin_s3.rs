//! origin-response against a real S3-compatible server (moto) over HTTP.

mod common;

use std::sync::Arc;

use base64::Engine;
use common::*;
use edge_resize::cloudfront::header;
use edge_resize::edge::{origin_response_event, Deadline};
use edge_resize::store::s3_client_at;
use edge_resize::Config;

fn cfg() -> Arc<Config> {
    Arc::new(Config::default())
}

fn body(r: &edge_resize::cloudfront::Response) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(r.body.as_deref().unwrap()).unwrap()
}

#[tokio::test]
async fn miss_makes_stores_and_returns_the_variant() {
    let (c, b) = bucket("miss").await;
    let original = fixture("coffee.jpg");
    put(&c, &b, "image/coffee.jpg", original.clone(), "image/jpeg").await;
    let (_, _, _, etag_before) = get(&c, &b, "image/coffee.jpg").await.unwrap();
    let cfg = cfg();

    let ev = origin_event("/image/100x100/webp/coffee.jpg", "403", &b);
    let r = respond(ev, &cfg, &c).await;
    assert_eq!(r.status, "200");
    assert_eq!(header(&r.headers, "content-type"), Some("image/webp"));
    assert_eq!(header(&r.headers, "cache-control").map(str::to_string), Some(cfg.variant_cache_control()));
    // Read-only headers carried over, S3's own dropped.
    assert_eq!(header(&r.headers, "transfer-encoding"), Some("chunked"));
    assert!(!r.headers.contains_key("x-amz-request-id"));
    // CloudFront refuses (502) an answer carrying a disallowed header, X-Edge-* among them.
    let disallowed = edge_resize::cloudfront::FORBIDDEN_RESPONSE_HEADER_PREFIXES;
    assert!(r.headers.keys().all(|k| !disallowed.iter().any(|p| k.starts_with(p))), "{:?}", r.headers.keys());
    assert_eq!(header(&r.headers, "x-resize-result"), Some("generated"));
    assert!(r.json_len() <= cfg.response_budget);
    let img = image::load_from_memory(&body(&r)).unwrap();
    assert_eq!((img.width(), img.height()), (100, 100));

    // Stored under the canonical key with the right metadata and the same bytes.
    let (stored, ct, cc, _) = get(&c, &b, "image/100x100/webp/coffee.jpg").await.expect("variant stored");
    assert_eq!(stored, body(&r));
    assert_eq!(ct.as_deref(), Some("image/webp"));
    assert_eq!(cc, Some(cfg.variant_cache_control()));
    // The original is untouched.
    let (after, _, _, etag_after) = get(&c, &b, "image/coffee.jpg").await.unwrap();
    assert_eq!(after, original);
    assert_eq!(etag_before, etag_after);
}

#[tokio::test]
async fn a_200_passes_through_untouched() {
    let cfg = cfg();
    let ev = event("origin-response-hit.json");
    let before = ev.records[0].cf.response.clone().unwrap();
    // The store would fail if used: the endpoint does not exist.
    let c = s3_client_at(Some("us-east-1".into()), Some("http://127.0.0.1:9".into())).await;
    let r = respond(ev, &cfg, &c).await;
    assert_eq!(r, before);
}

#[tokio::test]
async fn missing_original_is_a_short_cached_404() {
    let (c, b) = bucket("missing").await;
    let cfg = cfg();
    let r = respond(origin_event("/image/100x100/nothing.jpg", "403", &b), &cfg, &c).await;
    assert_eq!(r.status, "404");
    assert_eq!(header(&r.headers, "cache-control"), Some("public, max-age=60"));
    assert!(get(&c, &b, "image/100x100/nothing.jpg").await.is_none());
}

#[tokio::test]
async fn over_budget_is_stored_and_redirected() {
    let (c, b) = bucket("budget").await;
    put(&c, &b, "image/coffee.jpg", fixture("coffee.jpg"), "image/jpeg").await;
    // Far below a 533x400 JPEG even at the lowest retry quality.
    let cfg = Config { response_budget: 4000, ..Default::default() };
    let cfg = Arc::new(cfg);
    let r = respond(origin_event("/image/640x480/coffee.jpg", "404", &b), &cfg, &c).await;
    assert_eq!(r.status, "302");
    assert_eq!(header(&r.headers, "location"), Some("/image/640x480/coffee.jpg"));
    assert_eq!(header(&r.headers, "cache-control"), Some("no-store"));
    assert!(r.body.is_none());
    let (v, ct, _, _) = get(&c, &b, "image/640x480/coffee.jpg").await.expect("stored anyway");
    assert_eq!(ct.as_deref(), Some("image/jpeg"));
    // 640x480 cover of a 600x400 original without upscaling: the box shrinks to 533x400.
    let img = image::load_from_memory(&v).unwrap();
    assert_eq!((img.width(), img.height()), (533, 400));
}

#[tokio::test]
async fn corrupt_original_is_502_and_nothing_is_stored() {
    let (c, b) = bucket("corrupt").await;
    put(&c, &b, "image/bad.jpg", fixture("truncated.jpg"), "image/jpeg").await;
    let cfg = cfg();
    let r = respond(origin_event("/image/100x100/bad.jpg", "403", &b), &cfg, &c).await;
    assert_eq!(r.status, "502");
    assert_eq!(header(&r.headers, "cache-control"), Some("no-store"));
    assert!(get(&c, &b, "image/100x100/bad.jpg").await.is_none());
}

#[tokio::test]
async fn heic_and_avif_originals_are_a_short_cached_415_and_nothing_is_stored() {
    let (c, b) = bucket("heic").await;
    put(&c, &b, "image/IMG_0001.HEIC", fixture("quadrants.heic"), "image/heic").await;
    put(&c, &b, "image/q.avif", fixture("quadrants.avif"), "image/avif").await;
    let cfg = cfg();
    for (uri, key, name) in [
        ("/image/640x0/IMG_0001.HEIC", "image/640x0/IMG_0001.HEIC", "HEIC"),
        ("/image/0x96/q.avif", "image/0x96/q.avif", "AVIF"),
    ] {
        let r = respond(origin_event(uri, "403", &b), &cfg, &c).await;
        assert_eq!((r.status.as_str(), r.status_description.as_deref()), ("415", Some("Unsupported Media Type")));
        assert_eq!(header(&r.headers, "cache-control"), Some("public, max-age=60"));
        assert!(r.body.as_deref().unwrap_or("").starts_with(&format!("{name} originals are not supported")));
        assert!(get(&c, &b, key).await.is_none());
    }
}

#[tokio::test]
async fn tampered_origin_bucket_is_refused() {
    let (c, b) = bucket("tamper").await;
    put(&c, &b, "image/coffee.jpg", fixture("coffee.jpg"), "image/jpeg").await;
    let cfg = Config { bucket: Some("the-real-bucket".into()), ..Default::default() };
    let cfg = Arc::new(cfg);
    let mut used = None;
    let r = origin_response_event(
        origin_event("/image/100x100/coffee.jpg", "403", &b),
        &cfg,
        Deadline::for_config(&cfg),
        |bk, _| {
            used = Some(bk.to_string());
            store(&c, bk, &cfg)
        },
    )
    .await;
    assert_eq!(r.status, "500");
    assert_eq!(used, None, "no store was built for the tampered bucket");
    assert!(get(&c, &b, "image/100x100/coffee.jpg").await.is_none());
}

#[tokio::test]
async fn store_refuses_to_write_or_delete_originals() {
    use edge_resize::spec::Key;
    use edge_resize::store::{Store, StoreError, VariantMeta};
    let (c, b) = bucket("guard").await;
    put(&c, &b, "image/coffee.jpg", fixture("coffee.jpg"), "image/jpeg").await;
    let cfg = cfg();
    let s = store(&c, &b, &cfg);
    let k = Key::new("image/coffee.jpg").unwrap();
    let meta = VariantMeta { content_type: "image/jpeg", cache_control: "x", source_etag: None, derived_from: None };
    assert!(matches!(s.put_variant(&k, vec![1].into(), &meta).await, Err(StoreError::NotAVariant(_))));
    assert!(matches!(s.delete_variants(&[k]).await, Err(StoreError::NotAVariant(_))));
    assert_eq!(get(&c, &b, "image/coffee.jpg").await.unwrap().0, fixture("coffee.jpg"));
}
