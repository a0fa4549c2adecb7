//! The janitor and the origin-response's race guard against moto (S3 + CloudFront API) on
//! 127.0.0.1: what is left in S3 and which paths CloudFront received, after each run.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// HEADs for one changed original with the default allow-list: the original and each candidate
/// variant key, (5 boxes x 3 fits + 32 srcset widths and heights) x 3 qualities x 3 formats.
/// The original and each candidate of the default allow-list: (5 boxes x 3 fits + 32 srcset
/// widths and heights) x 3 qualities x 4 formats.
const HEADS: usize = 1 + (5 * 3 + 32) * 3 * 4;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_cloudfront::types::{
    DefaultCacheBehavior, DistributionConfig, Origin, Origins, S3OriginConfig, ViewerProtocolPolicy,
};
use bytes::Bytes;
use common::fault::FaultProxy;
use common::*;
use edge_resize::cdn::{Batch, CdnError, CloudFrontInvalidator, Invalidator};
use edge_resize::cloudfront::header;
use edge_resize::edge::{origin_response_event, Deadline};
use edge_resize::janitor::plan::{Change, ObjectEvent};
use edge_resize::janitor::{Janitor, Report};
use edge_resize::spec::{all_variant_keys, Fit, Format, Key, Size};
use edge_resize::store::{s3_client_at, Meta, Object, S3Store, Store, StoreError, Stored, VariantMeta};
use edge_resize::Config;
use hyper::Method;

async fn cloudfront_at(endpoint: Option<&str>) -> (aws_sdk_cloudfront::Client, String) {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let mut conf = aws_sdk_cloudfront::config::Builder::from(&sdk);
    if let Some(e) = endpoint {
        conf = conf.endpoint_url(e);
    }
    let cf = aws_sdk_cloudfront::Client::from_conf(conf.build());
    let origin = Origin::builder()
        .id("s3")
        .domain_name("bucket.s3.amazonaws.com")
        .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
        .build()
        .unwrap();
    let cfg = DistributionConfig::builder()
        .caller_reference(format!("test-{}-{:?}", std::process::id(), Instant::now()))
        .origins(Origins::builder().quantity(1).items(origin).build().unwrap())
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("s3")
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .cache_policy_id("658327ea-f89d-4fab-a63d-7e88639e58f6")
                .build()
                .unwrap(),
        )
        .comment("edge-resize test")
        .enabled(true)
        .build()
        .unwrap();
    let d = cf.create_distribution().distribution_config(cfg).send().await.expect("create distribution");
    let id = d.distribution().unwrap().id().to_string();
    (cf, id)
}

async fn cloudfront() -> (aws_sdk_cloudfront::Client, String) {
    cloudfront_at(None).await
}

/// Every invalidation the distribution received, each as its sorted paths.
async fn invalidations(cf: &aws_sdk_cloudfront::Client, id: &str) -> Vec<Vec<String>> {
    let list = cf.list_invalidations().distribution_id(id).send().await.unwrap();
    let mut out = Vec::new();
    for s in list.invalidation_list().map(|l| l.items()).unwrap_or_default() {
        let inv = cf.get_invalidation().distribution_id(id).id(s.id()).send().await.unwrap();
        let b = inv.invalidation().unwrap().invalidation_batch().unwrap();
        let paths = b.paths().unwrap();
        assert_eq!(paths.quantity() as usize, paths.items().len(), "Quantity must equal the item count");
        let mut p = paths.items().to_vec();
        p.sort();
        out.push(p);
    }
    out
}

fn s3_event(bucket: &str, raw_key: &str, name: &str, sequencer: &str) -> String {
    serde_json::json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-28T00:00:00.000Z", "eventName": name,
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.9"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "variants",
               "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": raw_key, "size": 1, "sequencer": sequencer}}
    }]})
    .to_string()
}

fn sqs(bodies: &[&str]) -> SqsEvent {
    SqsEvent {
        records: bodies
            .iter()
            .enumerate()
            .map(|(i, b)| SqsMessage {
                message_id: Some(format!("m{i}")),
                body: Some((*b).to_string()),
                ..Default::default()
            })
            .collect(),
    }
}

fn key(k: &str) -> Key {
    Key::new(k).unwrap()
}

fn ev(bucket: &str, k: &str, change: Change, sequencer: &str) -> ObjectEvent {
    ObjectEvent { sequencer: Some(sequencer.into()), ..ObjectEvent::new(bucket, key(k), change) }
}

/// A small allow-list keeps the path counts readable: 2 sizes x 1 fit x 1 quality x 3
/// formats = 6 variant keys per original.
fn small_cfg(paths_per_day: u32) -> Config {
    Config {
        sizes: vec![Size::new(100, 100), Size::new(200, 200)],
        fits: vec![Fit::Cover],
        qualities: vec![],
        formats: vec![Format::Jpeg, Format::Png, Format::Webp],
        invalidation_paths_per_day: paths_per_day,
        ..Config::default()
    }
}

async fn etag_of(c: &aws_sdk_s3::Client, b: &str, k: &str) -> String {
    c.head_object().bucket(b).key(k).send().await.unwrap().e_tag().unwrap().to_string()
}

/// Store a variant as the origin-response does: with the original's ETag it was made from.
async fn put_variant(c: &aws_sdk_s3::Client, b: &str, k: &str, source_etag: Option<&str>) {
    let mut put = c.put_object().bucket(b).key(k).content_type("image/jpeg").body(vec![1, 2, 3].into());
    if let Some(e) = source_etag {
        put = put.metadata("source-etag", e);
    }
    put.send().await.unwrap();
}

type Rig = (aws_sdk_s3::Client, String, aws_sdk_cloudfront::Client, String, Janitor<CloudFrontInvalidator>);

/// A bucket with `originals` and every one of their allowed variants stored (without a
/// recorded source: variants of unknown origin are stale), a distribution, a janitor.
async fn setup(cfg: Config, originals: &[&str]) -> Rig {
    let (c, b) = bucket("janitor").await;
    let (cf, id) = cloudfront().await;
    for k in originals {
        put(&c, &b, k, fixture("coffee.jpg"), "image/jpeg").await;
        for v in all_variant_keys(&key(k), &cfg) {
            put_variant(&c, &b, v.as_str(), None).await;
        }
    }
    let j = Janitor {
        cfg: Arc::new(cfg),
        s3: c.clone(),
        cdn: Some(CloudFrontInvalidator::new(cf.clone(), &id)),
        dry_run: false,
    };
    (c, b, cf, id, j)
}

async fn keys(c: &aws_sdk_s3::Client, b: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let l = c.list_objects_v2().bucket(b).prefix(prefix).set_continuation_token(token).send().await.unwrap();
        out.extend(l.contents().iter().filter_map(|o| o.key().map(str::to_string)));
        token = l.next_continuation_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    out.sort();
    out
}

fn uris(keys: &[Key]) -> Vec<String> {
    let mut u: Vec<String> = keys.iter().map(Key::to_uri).collect();
    u.sort();
    u
}

#[tokio::test]
async fn delete_event_removes_exactly_the_variants_and_invalidates_once() {
    let (c, b, cf, id, j) = setup(small_cfg(100), &["image/a.jpg", "image/b.jpg"]).await;
    put(&c, &b, "image/100x100/keep.txt", vec![1], "text/plain").await;
    c.delete_object().bucket(&b).key("image/a.jpg").send().await.unwrap();

    let body = s3_event(&b, "image/a.jpg", "ObjectRemoved:Delete", "0055AED6DCD90281E5");
    let resp = j.handle_sqs(&sqs(&[&body])).await;
    assert!(resp.batch_item_failures.is_empty());

    let left = keys(&c, &b, "image/").await;
    assert!(!left.iter().any(|k| k.ends_with("/a.jpg") || k == "image/a.jpg"), "{left:?}");
    // b's original and variants, and the unrelated object, are untouched.
    let mut want_left: Vec<String> = all_variant_keys(&key("image/b.jpg"), &j.cfg).iter().map(Key::to_string).collect();
    want_left.extend(["image/100x100/keep.txt".to_string(), "image/b.jpg".to_string()]);
    want_left.sort();
    assert_eq!(left, want_left);

    let mut want = uris(&all_variant_keys(&key("image/a.jpg"), &j.cfg));
    want.push("/image/a.jpg".into());
    want.sort();
    assert_eq!(invalidations(&cf, &id).await, vec![want]);

    // The same delivery again: nothing to delete, nothing new invalidated.
    let resp = j.handle_sqs(&sqs(&[&body])).await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(invalidations(&cf, &id).await.len(), 1);
    assert!(keys(&c, &b, "_edge-resize/owed/").await.is_empty(), "nothing is owed after success");
}

#[tokio::test]
async fn only_stored_variants_are_deleted_and_invalidated() {
    // The default allow-list: 135 possible variants per original, two of them stored.
    let cfg = Config::default();
    let (c, b) = bucket("exact").await;
    let (cf, id) = cloudfront().await;
    put(&c, &b, "image/products/coffee.jpg", fixture("coffee.jpg"), "image/jpeg").await;
    put(&c, &b, "image/products/tea.jpg", fixture("coffee.jpg"), "image/jpeg").await;
    let old = etag_of(&c, &b, "image/products/coffee.jpg").await;
    let tea = etag_of(&c, &b, "image/products/tea.jpg").await;
    for v in ["image/products/100x100/coffee.jpg", "image/products/640x480/webp/coffee.jpg"] {
        put_variant(&c, &b, v, Some(&old)).await;
    }
    put_variant(&c, &b, "image/products/100x100/tea.jpg", Some(&tea)).await;
    // The update.
    put(&c, &b, "image/products/coffee.jpg", fixture("chelsea.jpg"), "image/jpeg").await;
    let j = Janitor {
        cfg: Arc::new(cfg),
        s3: c.clone(),
        cdn: Some(CloudFrontInvalidator::new(cf.clone(), &id)),
        dry_run: false,
    };
    let r = j.run(&[ev(&b, "image/products/coffee.jpg", Change::Created, "01")]).await.unwrap();
    assert_eq!(r.deletes, vec!["image/products/100x100/coffee.jpg", "image/products/640x480/webp/coffee.jpg"]);
    assert_eq!((r.deleted, r.heads), (2, HEADS));
    assert_eq!(
        invalidations(&cf, &id).await,
        vec![vec![
            "/image/products/100x100/coffee.jpg".to_string(),
            "/image/products/640x480/webp/coffee.jpg".to_string(),
            "/image/products/coffee.jpg".to_string(),
        ]]
    );
    assert_eq!(
        keys(&c, &b, "image/").await,
        vec!["image/products/100x100/tea.jpg", "image/products/coffee.jpg", "image/products/tea.jpg"]
    );
}

#[tokio::test]
async fn variants_made_from_the_current_original_are_kept() {
    let cfg = small_cfg(100);
    let (c, b) = bucket("fresh").await;
    let (cf, id) = cloudfront().await;
    put(&c, &b, "image/a.jpg", fixture("coffee.jpg"), "image/jpeg").await;
    let old = etag_of(&c, &b, "image/a.jpg").await;
    put_variant(&c, &b, "image/100x100/a.jpg", Some(&old)).await;
    put(&c, &b, "image/a.jpg", fixture("chelsea.jpg"), "image/jpeg").await;
    let new = etag_of(&c, &b, "image/a.jpg").await;
    assert_ne!(old, new);
    // A miss between the overwrite and the janitor made this one from the new original.
    put_variant(&c, &b, "image/200x200/a.jpg", Some(&new)).await;
    let j = Janitor {
        cfg: Arc::new(cfg),
        s3: c.clone(),
        cdn: Some(CloudFrontInvalidator::new(cf.clone(), &id)),
        dry_run: false,
    };
    let r = j.run(&[ev(&b, "image/a.jpg", Change::Created, "02")]).await.unwrap();
    assert_eq!(
        (r.deletes.clone(), r.fresh.clone()),
        (vec!["image/100x100/a.jpg".into()], vec!["image/200x200/a.jpg".into()])
    );
    assert_eq!(keys(&c, &b, "image/").await, vec!["image/200x200/a.jpg", "image/a.jpg"]);
    assert_eq!(invalidations(&cf, &id).await, vec![vec!["/image/100x100/a.jpg".to_string(), "/image/a.jpg".into()]]);
}

#[tokio::test]
async fn versioned_bucket_overwrites_noncurrent_deletes_and_delete_markers() {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let cfg = small_cfg(1000);
    let (c, b) = bucket("versioned").await;
    let (cf, id) = cloudfront().await;
    let on = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    c.put_bucket_versioning().bucket(&b).versioning_configuration(on).send().await.unwrap();
    let j = Janitor {
        cfg: Arc::new(cfg),
        s3: c.clone(),
        cdn: Some(CloudFrontInvalidator::new(cf.clone(), &id)),
        dry_run: false,
    };
    let event = |name: &str, version: &str, seq: &str| {
        let mut v: serde_json::Value = serde_json::from_str(&s3_event(&b, "image/v.jpg", name, seq)).unwrap();
        v["Records"][0]["s3"]["object"]["versionId"] = version.into();
        v
    };

    let v1 = c.put_object().bucket(&b).key("image/v.jpg").body(fixture("coffee.jpg").into()).send().await.unwrap();
    put_variant(&c, &b, "image/100x100/v.jpg", v1.e_tag()).await;
    let v2 = c.put_object().bucket(&b).key("image/v.jpg").body(fixture("chelsea.jpg").into()).send().await.unwrap();
    let r = j.handle(event("ObjectCreated:Put", v2.version_id().unwrap(), "10")).await.unwrap();
    assert_eq!(r["deletes"], serde_json::json!(["image/100x100/v.jpg"]));
    put_variant(&c, &b, "image/100x100/v.jpg", v2.e_tag()).await;

    // Deleting the old, noncurrent version changes nothing served: the variant made from
    // the current version stays; only the original's own path is invalidated.
    let v1_id = v1.version_id().unwrap();
    c.delete_object().bucket(&b).key("image/v.jpg").version_id(v1_id).send().await.unwrap();
    let r = j.handle(event("ObjectRemoved:Delete", v1_id, "11")).await.unwrap();
    assert_eq!(
        (r["deletes"].clone(), r["fresh"].clone()),
        (serde_json::json!([]), serde_json::json!(["image/100x100/v.jpg"]))
    );
    assert_eq!(r["paths"], serde_json::json!(["/image/v.jpg"]));

    // A delete marker: the original is gone, every variant is stale.
    let m = c.delete_object().bucket(&b).key("image/v.jpg").send().await.unwrap();
    assert_eq!(m.delete_marker(), Some(true));
    let r = j.handle(event("ObjectRemoved:DeleteMarkerCreated", m.version_id().unwrap(), "12")).await.unwrap();
    assert_eq!(r["deletes"], serde_json::json!(["image/100x100/v.jpg"]));
    assert!(c.head_object().bucket(&b).key("image/100x100/v.jpg").send().await.is_err());
    assert_eq!(invalidations(&cf, &id).await.len(), 3);
}

#[tokio::test]
async fn eventbridge_events_and_encoded_keys() {
    let (c, b, cf, id, j) = setup(small_cfg(100), &["image/c++ (1).jpg", "image/my cat ü.jpg"]).await;
    // S3 notifications form-encode keys: space as '+', '+' as %2B, UTF-8 percent-escaped.
    let body = s3_event(&b, "image/c%2B%2B+%281%29.jpg", "ObjectCreated:Put", "20");
    assert!(j.handle_sqs(&sqs(&[&body])).await.batch_item_failures.is_empty());
    let eb = serde_json::json!({
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103", "detail-type": "Object Created",
        "source": "aws.s3", "account": "111122223333", "time": "2026-11-28T00:00:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{b}")],
        "detail": {"version": "0", "bucket": {"name": b}, "object": {"key": "image/my+cat+%C3%BC.jpg", "size": 5,
                   "etag": "b1946ac92492d2347c6235b4d2611184", "sequencer": "617f08299329d189"},
                   "request-id": "N4N7GDK58NMKJ12R", "requester": "111122223333", "reason": "PutObject"}
    });
    let r = j.handle(eb).await.unwrap();
    assert_eq!(r["deleted"], 6);
    assert_eq!(keys(&c, &b, "image/").await, vec!["image/c++ (1).jpg", "image/my cat ü.jpg"]);
    let invs = invalidations(&cf, &id).await;
    assert_eq!(invs.len(), 2);
    let all: Vec<String> = invs.concat();
    for p in
        ["/image/c%2B%2B%20%281%29.jpg", "/image/my%20cat%20%C3%BC.jpg", "/image/100x100/webp/my%20cat%20%C3%BC.jpg"]
    {
        assert!(all.contains(&p.to_string()), "{p} not in {all:?}");
    }
    assert_eq!(all.len(), 14);
}

#[tokio::test]
async fn variant_events_do_nothing() {
    let (c, b, cf, id, j) = setup(small_cfg(100), &["image/a.jpg"]).await;
    let before = keys(&c, &b, "").await;
    let body = s3_event(&b, "image/100x100/a.jpg", "ObjectRemoved:Delete", "30");
    let created = s3_event(&b, "image/200x200/webp/a.jpg", "ObjectCreated:Put", "31");
    let resp = j.handle_sqs(&sqs(&[&body, &created])).await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(keys(&c, &b, "").await, before);
    assert!(invalidations(&cf, &id).await.is_empty());
}

#[tokio::test]
async fn over_budget_paths_are_reported_stale_with_their_lifetime() {
    // 7 paths per original (itself and 6 variants); 10 paths a day.
    let (c, b, cf, id, j) = setup(small_cfg(10), &["image/a.jpg", "image/b.jpg", "image/c.jpg"]).await;
    let r1 = j.run(&[ev(&b, "image/a.jpg", Change::Removed, "40")]).await.unwrap();
    assert_eq!((r1.invalidation.as_deref(), r1.paths.len(), r1.stale.clone()), (Some("spend"), 7, None));
    let r2 = j.run(&[ev(&b, "image/b.jpg", Change::Removed, "41")]).await.unwrap();
    assert_eq!((r2.invalidation.as_deref(), r2.deleted), (Some("spend"), 6));
    let stale = r2.stale.clone().expect("three paths left, four stale");
    assert_eq!((r2.paths.len(), stale.paths.len(), stale.for_at_most_s), (3, 4, j.cfg.cdn_max_age_s));
    // The original's own path is paid first.
    assert!(r2.paths.contains(&"/image/b.jpg".to_string()));
    let r3 = j.run(&[ev(&b, "image/c.jpg", Change::Removed, "42")]).await.unwrap();
    assert_eq!(
        (r3.invalidation.as_deref(), r3.deleted, r3.stale.map(|s| s.paths.len())),
        (Some("exhausted"), 6, Some(7))
    );
    // What CloudFront received is exactly what the reports say was sent.
    let mut sent: Vec<Vec<String>> = [r1.paths, r2.paths]
        .into_iter()
        .map(|mut p| {
            p.sort();
            p
        })
        .collect();
    sent.sort();
    let mut got = invalidations(&cf, &id).await;
    got.sort();
    assert_eq!(got, sent);
    assert!(!keys(&c, &b, "image/").await.iter().any(|k| k.contains("x") && k.ends_with("c.jpg")));
}

/// The CDN fails once, then works.
struct FailsOnce {
    inner: CloudFrontInvalidator,
    failed: Mutex<bool>,
}

impl Invalidator for FailsOnce {
    async fn invalidate(&self, batch: &Batch) -> Result<String, CdnError> {
        let first = !std::mem::replace(&mut *self.failed.lock().unwrap(), true);
        if first {
            return Err(CdnError::Unavailable("injected".into()));
        }
        self.inner.invalidate(batch).await
    }
}

#[tokio::test]
async fn paths_owed_by_a_failed_run_are_paid_by_the_redelivery() {
    let (c, b, cf, id, j) = setup(small_cfg(100), &["image/a.jpg"]).await;
    let j = Janitor {
        cfg: j.cfg.clone(),
        s3: c.clone(),
        cdn: Some(FailsOnce { inner: j.cdn.unwrap(), failed: Mutex::new(false) }),
        dry_run: false,
    };
    let body = s3_event(&b, "image/a.jpg", "ObjectCreated:Put", "50");
    let resp = j.handle_sqs(&sqs(&[&body])).await;
    assert_eq!(resp.batch_item_failures.len(), 1, "the batch fails and is redelivered");
    // The variants are gone already; what they owe the CDN is recorded.
    assert_eq!(keys(&c, &b, "image/").await, vec!["image/a.jpg"]);
    assert_eq!(keys(&c, &b, "_edge-resize/owed/").await.len(), 1);
    assert!(invalidations(&cf, &id).await.is_empty());

    assert!(j.handle_sqs(&sqs(&[&body])).await.batch_item_failures.is_empty());
    let mut want = uris(&all_variant_keys(&key("image/a.jpg"), &j.cfg));
    want.push("/image/a.jpg".into());
    want.sort();
    assert_eq!(invalidations(&cf, &id).await, vec![want]);
    assert!(keys(&c, &b, "_edge-resize/owed/").await.is_empty());
}

#[tokio::test]
async fn one_malformed_record_fails_alone() {
    let (c, b, cf, id, j) = setup(small_cfg(100), &["image/a.jpg"]).await;
    let good = s3_event(&b, "image/a.jpg", "ObjectRemoved:Delete", "60");
    let resp = j
        .handle_sqs(&sqs(&["{not json", &good, r#"{"Records":[{"eventName":"ObjectRemoved:Delete","s3":{}}]}"#]))
        .await;
    let failed: Vec<_> = resp.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, vec!["m0", "m2"]);
    assert_eq!(keys(&c, &b, "image/").await, vec!["image/a.jpg".to_string()]);
    assert_eq!(invalidations(&cf, &id).await.len(), 1);
}

#[tokio::test]
async fn purge_trigger_invalidates_the_prefix() {
    let (_c, b, cf, id, j) = setup(small_cfg(100), &[]).await;
    let body = s3_event(&b, "image/.purge", "ObjectCreated:Put", "70");
    assert!(j.handle_sqs(&sqs(&[&body])).await.batch_item_failures.is_empty());
    assert_eq!(invalidations(&cf, &id).await, vec![vec!["/image/*".to_string()]]);
}

#[tokio::test]
async fn dry_run_reads_but_writes_nothing() {
    let (c, b, cf, id, mut j) = setup(small_cfg(100), &["image/a.jpg"]).await;
    j.dry_run = true;
    let before = keys(&c, &b, "").await;
    let r = j.run(&[ev(&b, "image/a.jpg", Change::Removed, "80")]).await.unwrap();
    let variants = all_variant_keys(&key("image/a.jpg"), &j.cfg);
    assert_eq!(r.deleted, variants.len());
    let mut want_deletes: Vec<String> = variants.iter().map(Key::to_string).collect();
    want_deletes.sort();
    assert_eq!(r.deletes, want_deletes);
    let mut want_paths = uris(&variants);
    want_paths.push("/image/a.jpg".into());
    want_paths.sort();
    assert_eq!(r.paths, want_paths);
    assert_eq!(keys(&c, &b, "").await, before, "no delete, no ledger, no owed record");
    assert!(invalidations(&cf, &id).await.is_empty());
}

#[tokio::test]
async fn janitor_binary_dry_run_prints_the_exact_plan() {
    let (c, b) = bucket("dry-bin").await;
    let (cf, id) = cloudfront().await;
    put(&c, &b, "image/products/coffee.jpg", fixture("coffee.jpg"), "image/jpeg").await;
    let old = etag_of(&c, &b, "image/products/coffee.jpg").await;
    for v in ["image/products/100x100/coffee.jpg", "image/products/640x480/webp/coffee.jpg"] {
        put_variant(&c, &b, v, Some(&old)).await;
    }
    put(&c, &b, "image/products/coffee.jpg", fixture("chelsea.jpg"), "image/jpeg").await;
    let before = keys(&c, &b, "").await;
    let event = s3_event(&b, "image/products/coffee.jpg", "ObjectCreated:Put", "90");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_janitor"))
        .arg("--dry-run")
        .env("EDGE_RESIZE_DISTRIBUTION_ID", &id)
        .env_remove("EDGE_RESIZE_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(event.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((r["dry_run"].clone(), r["deleted"].clone(), r["heads"].clone()), (true.into(), 2.into(), HEADS.into()));
    assert_eq!(
        r["deletes"],
        serde_json::json!(["image/products/100x100/coffee.jpg", "image/products/640x480/webp/coffee.jpg"])
    );
    assert_eq!(
        r["paths"],
        serde_json::json!([
            "/image/products/100x100/coffee.jpg",
            "/image/products/640x480/webp/coffee.jpg",
            "/image/products/coffee.jpg"
        ])
    );
    assert_eq!(keys(&c, &b, "").await, before);
    assert!(invalidations(&cf, &id).await.is_empty());
}

// ------------------------------------------------------------------ the race guard

/// When the origin-response's miss meets the overwrite.
#[derive(Clone, Copy, PartialEq)]
enum Step {
    /// After it read the original, before it stored the variant.
    AfterGet,
    /// After it stored the variant, before it re-read the original's ETag.
    BeforeRecheck,
}

type Hook = Pin<Box<dyn Future<Output = Report> + Send>>;

/// The S3 store, with the overwrite (and the janitor's run) injected at one step.
struct Interleaved {
    inner: S3Store,
    at: Step,
    hook: Mutex<Option<Hook>>,
    janitor_saw: Arc<Mutex<Option<Report>>>,
}

impl Interleaved {
    async fn fire(&self) {
        let hook = self.hook.lock().unwrap().take();
        if let Some(h) = hook {
            let r = h.await;
            *self.janitor_saw.lock().unwrap() = Some(r);
        }
    }
}

impl Store for Interleaved {
    async fn get(&self, k: &Key, max: u64) -> Result<Object, StoreError> {
        let r = self.inner.get(k, max).await;
        if self.at == Step::AfterGet {
            self.fire().await;
        }
        r
    }
    async fn put_variant(&self, k: &Key, body: Bytes, meta: &VariantMeta<'_>) -> Result<Stored, StoreError> {
        self.inner.put_variant(k, body, meta).await
    }
    async fn delete_variants(&self, keys: &[Key]) -> Result<Vec<Key>, StoreError> {
        self.inner.delete_variants(keys).await
    }
    async fn head(&self, k: &Key) -> Result<Option<Meta>, StoreError> {
        if self.at == Step::BeforeRecheck {
            self.fire().await;
        }
        self.inner.head(k).await
    }
}

const ORIGINAL: &str = "image/race.jpg";
const VARIANT: &str = "/image/100x100/race.jpg";

/// A miss for VARIANT while ORIGINAL is overwritten and its janitor runs at `at` (never
/// when `None`). Returns the answer, the janitor's report and the rig.
async fn race(at: Option<Step>) -> (edge_resize::cloudfront::Response, Option<Report>, Rig) {
    // The small allow-list: the janitor runs inside the miss, and 565 HEADs of the default
    // list on a busy machine could outlast the miss's deadline, which drops the hook.
    let cfg = small_cfg(1000);
    let (c, b) = bucket("race").await;
    let (cf, id) = cloudfront().await;
    put(&c, &b, ORIGINAL, fixture("coffee.jpg"), "image/jpeg").await;
    let j = Arc::new(Janitor {
        cfg: Arc::new(cfg.clone()),
        s3: c.clone(),
        cdn: Some(CloudFrontInvalidator::new(cf.clone(), &id)),
        dry_run: false,
    });
    let (c2, b2, j2) = (c.clone(), b.clone(), j.clone());
    let hook: Hook = Box::pin(async move {
        put(&c2, &b2, ORIGINAL, fixture("chelsea.jpg"), "image/jpeg").await;
        j2.run(&[ev(&b2, ORIGINAL, Change::Created, "A0")]).await.unwrap()
    });
    let saw = Arc::new(Mutex::new(None));
    let cfg = Arc::new(cfg);
    let store = Interleaved {
        inner: S3Store::new(c.clone(), &b, cfg.clone()),
        at: at.unwrap_or(Step::AfterGet),
        hook: Mutex::new(at.map(|_| hook)),
        janitor_saw: saw.clone(),
    };
    let r =
        origin_response_event(origin_event(VARIANT, "403", &b), &cfg, Deadline::for_config(&cfg), |_, _| store).await;
    let report = saw.lock().unwrap().take();
    let j = Arc::try_unwrap(j).ok().expect("the hook has run or been dropped");
    (r, report, (c, b, cf, id, j))
}

#[tokio::test]
async fn without_a_race_the_variant_is_cacheable_with_validators() {
    let (r, _, (c, b, _, _, _)) = race(None).await;
    assert_eq!(r.status, "200");
    // Browsers: an hour, then revalidate; CloudFront: 30 days, invalidated by the janitor.
    assert_eq!(header(&r.headers, "cache-control"), Some("public, max-age=3600, s-maxage=2592000"));
    let stored = c.head_object().bucket(&b).key(&VARIANT[1..]).send().await.expect("stored");
    assert_eq!(stored.cache_control(), header(&r.headers, "cache-control"));
    assert_eq!(stored.e_tag(), header(&r.headers, "etag"), "the answer's ETag is S3's");
    let source = stored.metadata().and_then(|m| m.get("source-etag")).cloned();
    assert_eq!(source, Some(etag_of(&c, &b, ORIGINAL).await), "the variant records its original's ETag");
    // Last-Modified is never earlier than S3's own, so If-Modified-Since revalidates too.
    let s3_lm = stored.last_modified().unwrap().secs();
    let ours = header(&r.headers, "last-modified").unwrap();
    assert!(ours.ends_with(" GMT") && ours.len() == 29, "{ours}");
    let ours_secs = httpdate_secs(ours);
    assert!(ours_secs >= s3_lm && ours_secs - s3_lm < 60, "{ours} vs {s3_lm}");
    // A browser's revalidation through CloudFront reaches S3 as a conditional GET: a 304.
    let etag = header(&r.headers, "etag").unwrap();
    let cond = c.get_object().bucket(&b).key(&VARIANT[1..]).if_none_match(etag).send().await;
    let status = cond.err().and_then(|e| e.raw_response().map(|r| r.status().as_u16()));
    assert_eq!(status, Some(304));
}

/// Seconds since the epoch of an IMF-fixdate, for the comparison above.
fn httpdate_secs(s: &str) -> i64 {
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let p: Vec<&str> = s.split([' ', ':']).collect();
    let (d, m, y) = (
        p[1].parse::<i64>().unwrap(),
        months.iter().position(|x| *x == p[2]).unwrap() as i64 + 1,
        p[3].parse::<i64>().unwrap(),
    );
    // days_from_civil (Howard Hinnant)
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400
        + p[4].parse::<i64>().unwrap() * 3600
        + p[5].parse::<i64>().unwrap() * 60
        + p[6].parse::<i64>().unwrap()
}

#[tokio::test]
async fn an_overwrite_between_the_read_and_the_store_is_withdrawn() {
    let (r, report, (c, b, cf, id, _)) = race(Some(Step::AfterGet)).await;
    // The janitor ran before the variant existed: nothing to delete, only the original.
    let report = report.expect("the janitor ran");
    assert_eq!((report.deleted, report.paths.clone()), (0, vec!["/image/race.jpg".to_string()]));
    // The miss noticed the change after its PUT: it deleted its variant and did not let
    // anything cache the old image.
    assert_eq!(r.status, "200");
    assert_eq!(header(&r.headers, "cache-control"), Some("no-store"));
    assert!(header(&r.headers, "etag").is_none());
    assert_eq!(keys(&c, &b, "image/").await, vec![ORIGINAL]);
    assert_eq!(invalidations(&cf, &id).await, vec![vec!["/image/race.jpg".to_string()]]);
}

#[tokio::test]
async fn an_overwrite_between_the_store_and_the_recheck_is_caught_twice() {
    let (r, report, (c, b, cf, id, _)) = race(Some(Step::BeforeRecheck)).await;
    // The janitor found the stored variant (its source ETag is the old one) and deleted it.
    let report = report.expect("the janitor ran");
    assert_eq!(report.deletes, vec![&VARIANT[1..]]);
    assert_eq!(header(&r.headers, "cache-control"), Some("no-store"));
    assert_eq!(keys(&c, &b, "image/").await, vec![ORIGINAL]);
    assert_eq!(invalidations(&cf, &id).await, vec![vec![VARIANT.to_string(), "/image/race.jpg".into()]]);
}

#[tokio::test]
async fn an_overwrite_after_the_miss_is_the_janitors() {
    let (r, _, (c, b, cf, id, j)) = race(None).await;
    assert_eq!(header(&r.headers, "cache-control"), Some("public, max-age=3600, s-maxage=2592000"));
    put(&c, &b, ORIGINAL, fixture("chelsea.jpg"), "image/jpeg").await;
    let report = j.run(&[ev(&b, ORIGINAL, Change::Created, "B0")]).await.unwrap();
    assert_eq!(report.deletes, vec![&VARIANT[1..]]);
    assert_eq!(keys(&c, &b, "image/").await, vec![ORIGINAL]);
    assert_eq!(invalidations(&cf, &id).await, vec![vec![VARIANT.to_string(), "/image/race.jpg".into()]]);
}

// ------------------------------------------------------------------ the measurement

/// One update among N originals with 2 stored variants each, the default allow-list,
/// every S3 and CloudFront request counted by a proxy in front of moto. The janitor never
/// lists, so what it does cannot depend on N: CI uses 100 (moto stores ~100 objects a
/// second); the README's numbers are from
/// `EDGE_RESIZE_MEASURE_ORIGINALS=1000 cargo test --release --test janitor one_update_among -- --nocapture`.
#[tokio::test]
async fn one_update_among_many_originals() {
    use futures_util::StreamExt;
    let n: usize = std::env::var("EDGE_RESIZE_MEASURE_ORIGINALS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    assert!((2..=10_000).contains(&n), "{n}");
    let changed = n / 2;
    let cfg = Config::default();
    let (c, b) = bucket("many").await;
    let name = |i: usize| format!("image/products/p{i:04}.jpg");
    futures_util::stream::iter(0..n)
        .for_each_concurrent(32, |i| {
            let (c, b) = (c.clone(), b.clone());
            async move {
                let o = name(i);
                let r = c.put_object().bucket(&b).key(&o).body(vec![i as u8; 64].into()).send().await.unwrap();
                let source = r.e_tag().unwrap().to_string();
                for v in
                    [format!("image/products/100x100/p{i:04}.jpg"), format!("image/products/640x480/webp/p{i:04}.jpg")]
                {
                    put_variant(&c, &b, &v, Some(&source)).await;
                }
            }
        })
        .await;
    let before = keys(&c, &b, "image/").await;
    assert_eq!(before.len(), 3 * n);

    let proxy = FaultProxy::start(&endpoint()).await;
    let (cf, id) = cloudfront_at(Some(&proxy.url)).await;
    let seen = |m: Method| proxy.seen(m);
    let at_start = [Method::HEAD, Method::GET, Method::PUT, Method::POST, Method::DELETE].map(seen);
    let j = Janitor {
        cfg: Arc::new(cfg),
        s3: s3_client_at(Some("us-east-1".into()), Some(proxy.url.clone())).await,
        cdn: Some(CloudFrontInvalidator::new(cf.clone(), &id)),
        dry_run: false,
    };
    // The update: one product photo replaced.
    put(&c, &b, &name(changed), vec![7; 64], "image/jpeg").await;
    let t = Instant::now();
    let r = j.run(&[ev(&b, &name(changed), Change::Created, "C0")]).await.unwrap();
    let took = t.elapsed();
    let counts: Vec<usize> = [Method::HEAD, Method::GET, Method::PUT, Method::POST, Method::DELETE]
        .map(seen)
        .iter()
        .zip(at_start)
        .map(|(a, b)| a - b)
        .collect();

    let after = keys(&c, &b, "image/").await;
    let gone: Vec<&String> = before.iter().filter(|k| !after.contains(k)).collect();
    let file = format!("p{changed:04}.jpg");
    assert_eq!(
        gone,
        [format!("image/products/100x100/{file}"), format!("image/products/640x480/webp/{file}")]
            .iter()
            .collect::<Vec<_>>()
    );
    let invs = invalidations(&cf, &id).await;
    assert_eq!(invs.len(), 1);
    let others = invs[0].iter().filter(|p| p.contains('*') || !p.ends_with(&format!("/{file}"))).count();
    assert_eq!(others, 0, "no path covers another original: {:?}", invs[0]);
    assert_eq!(invs[0].len(), 3);
    assert_eq!(r.heads, HEADS);
    // HEAD the original and its candidates; GET: the owed record, the ledger; PUT: owed record, ledger; POST:
    // DeleteObjects, CreateInvalidation; DELETE: the owed record.
    assert_eq!(counts, vec![HEADS, 2, 2, 2, 1]);
    eprintln!(
        "one update among {n} originals x 2 variants: deleted {}, paths {} ({:?}), other originals' paths 0, \
         requests {} (HEAD {}, GET {}, PUT {}, POST {}, DELETE {}), janitor time {:.0} ms (moto on 127.0.0.1)",
        r.deleted,
        invs[0].len(),
        invs[0],
        counts.iter().sum::<usize>(),
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        counts[4],
        took.as_secs_f64() * 1000.0
    );
}
