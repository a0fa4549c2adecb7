//! The janitor against moto (S3 + CloudFront API) on 127.0.0.1.

mod common;

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_cloudfront::types::{
    DefaultCacheBehavior, DistributionConfig, Origin, Origins, S3OriginConfig, ViewerProtocolPolicy,
};
use common::*;
use edge_resize::cdn::CloudFrontInvalidator;
use edge_resize::janitor::plan::{Change, ObjectEvent};
use edge_resize::janitor::Janitor;
use edge_resize::spec::{all_variant_keys, Key};
use edge_resize::Config;

async fn cloudfront() -> (aws_sdk_cloudfront::Client, String) {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let cf = aws_sdk_cloudfront::Client::new(&sdk);
    let origin = Origin::builder()
        .id("s3")
        .domain_name("bucket.s3.amazonaws.com")
        .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
        .build()
        .unwrap();
    let cfg = DistributionConfig::builder()
        .caller_reference(format!("test-{}-{:?}", std::process::id(), std::time::Instant::now()))
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

async fn invalidations(cf: &aws_sdk_cloudfront::Client, id: &str) -> Vec<Vec<String>> {
    let list = cf.list_invalidations().distribution_id(id).send().await.unwrap();
    let mut out = Vec::new();
    for s in list.invalidation_list().map(|l| l.items()).unwrap_or_default() {
        let inv = cf.get_invalidation().distribution_id(id).id(s.id()).send().await.unwrap();
        let b = inv.invalidation().unwrap().invalidation_batch().unwrap();
        let paths = b.paths().unwrap();
        assert_eq!(paths.quantity() as usize, paths.items().len(), "Quantity must equal the item count");
        out.push(paths.items().to_vec());
    }
    out
}

fn s3_event(bucket: &str, raw_key: &str, name: &str) -> String {
    serde_json::json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-28T00:00:00.000Z", "eventName": name,
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.9"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "variants",
               "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": raw_key, "size": 1, "sequencer": "0055AED6DCD90281E5"}}
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

async fn setup(
    per_day: u32,
    keys: &[&str],
) -> (aws_sdk_s3::Client, String, aws_sdk_cloudfront::Client, String, Janitor<CloudFrontInvalidator>) {
    let (c, b) = bucket("janitor").await;
    let (cf, id) = cloudfront().await;
    // A small allow-list keeps the path count readable; wildcards only past 100 paths.
    let cfg = Config {
        sizes: vec![edge_resize::spec::Size::new(100, 100), edge_resize::spec::Size::new(200, 200)],
        fits: vec![edge_resize::spec::Fit::Cover],
        qualities: vec![],
        invalidations_per_day: per_day,
        wildcard_after: 100,
        ..Config::default()
    };
    for k in keys {
        let orig = Key::new(*k).unwrap();
        put(&c, &b, k, fixture("coffee.jpg"), "image/jpeg").await;
        for v in all_variant_keys(&orig, &cfg) {
            put(&c, &b, v.as_str(), vec![1, 2, 3], "image/jpeg").await;
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

async fn keys(c: &aws_sdk_s3::Client, b: &str) -> Vec<String> {
    let l = c.list_objects_v2().bucket(b).prefix("image/").send().await.unwrap();
    let mut k: Vec<String> = l.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect();
    k.sort();
    k
}

#[tokio::test]
async fn delete_event_removes_exactly_the_variants_and_invalidates_once() {
    let (c, b, cf, id, j) = setup(10, &["image/a.jpg", "image/b.jpg"]).await;
    put(&c, &b, "image/100x100/keep.txt", vec![1], "text/plain").await;
    c.delete_object().bucket(&b).key("image/a.jpg").send().await.unwrap();

    let body = s3_event(&b, "image/a.jpg", "ObjectRemoved:Delete");
    let resp = j.handle_sqs(&sqs(&[&body])).await;
    assert!(resp.batch_item_failures.is_empty());

    let left = keys(&c, &b).await;
    assert!(!left.iter().any(|k| k.ends_with("/a.jpg") || k == "image/a.jpg"), "{left:?}");
    // b's original and variants, and the unrelated object, are untouched.
    assert!(left.contains(&"image/b.jpg".to_string()) && left.contains(&"image/100x100/webp/b.jpg".to_string()));
    assert!(left.contains(&"image/100x100/keep.txt".to_string()));

    let invs = invalidations(&cf, &id).await;
    assert_eq!(invs.len(), 1);
    let mut want: Vec<String> =
        all_variant_keys(&Key::new("image/a.jpg").unwrap(), &j.cfg).iter().map(Key::to_uri).collect();
    want.push("/image/a.jpg".into());
    want.sort();
    let mut got = invs[0].clone();
    got.sort();
    assert_eq!(got, want);

    // The same delivery again: nothing new is invalidated.
    let resp = j.handle_sqs(&sqs(&[&body])).await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(invalidations(&cf, &id).await.len(), 1);
}

#[tokio::test]
async fn variant_events_do_nothing() {
    let (c, b, cf, id, j) = setup(10, &["image/a.jpg"]).await;
    let before = keys(&c, &b).await;
    let body = s3_event(&b, "image/100x100/a.jpg", "ObjectRemoved:Delete");
    let created = s3_event(&b, "image/200x200/webp/a.jpg", "ObjectCreated:Put");
    let resp = j.handle_sqs(&sqs(&[&body, &created])).await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(keys(&c, &b).await, before);
    assert!(invalidations(&cf, &id).await.is_empty());
}

#[tokio::test]
async fn keys_with_spaces_and_non_ascii_work() {
    let (c, b, cf, id, j) = setup(10, &["image/my cat ü.jpg"]).await;
    // S3 notifications form-encode keys: space as '+', UTF-8 percent-escaped.
    let body = s3_event(&b, "image/my+cat+%C3%BC.jpg", "ObjectCreated:Put");
    let resp = j.handle_sqs(&sqs(&[&body])).await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(keys(&c, &b).await, vec!["image/my cat ü.jpg".to_string()]);
    let invs = invalidations(&cf, &id).await;
    assert!(invs[0].contains(&"/image/my%20cat%20%C3%BC.jpg".to_string()), "{:?}", invs[0]);
}

#[tokio::test]
async fn exhausted_budget_skips_the_invalidation_but_deletes() {
    let (c, b, cf, id, j) = setup(1, &["image/a.jpg", "image/b.jpg"]).await;
    let r1 = j
        .run(&[ObjectEvent { bucket: b.clone(), key: Key::new("image/a.jpg").unwrap(), change: Change::Removed }])
        .await
        .unwrap();
    assert_eq!(r1.invalidation.as_deref(), Some("spend"));
    let r2 = j
        .run(&[ObjectEvent { bucket: b.clone(), key: Key::new("image/b.jpg").unwrap(), change: Change::Removed }])
        .await
        .unwrap();
    assert_eq!(r2.invalidation.as_deref(), Some("exhausted"));
    assert!(r2.deleted > 0);
    assert_eq!(invalidations(&cf, &id).await.len(), 1);
    assert!(!keys(&c, &b).await.iter().any(|k| k.contains("x") && k.ends_with("b.jpg")));
}

#[tokio::test]
async fn one_malformed_record_fails_alone() {
    let (c, b, cf, id, j) = setup(10, &["image/a.jpg"]).await;
    let good = s3_event(&b, "image/a.jpg", "ObjectRemoved:Delete");
    let resp = j
        .handle_sqs(&sqs(&["{not json", &good, r#"{"Records":[{"eventName":"ObjectRemoved:Delete","s3":{}}]}"#]))
        .await;
    let failed: Vec<_> = resp.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, vec!["m0", "m2"]);
    assert_eq!(keys(&c, &b).await, vec!["image/a.jpg".to_string()]);
    assert_eq!(invalidations(&cf, &id).await.len(), 1);
}

#[tokio::test]
async fn purge_trigger_invalidates_the_prefix() {
    let (_c, b, cf, id, j) = setup(10, &[]).await;
    let body = s3_event(&b, "image/.purge", "ObjectCreated:Put");
    assert!(j.handle_sqs(&sqs(&[&body])).await.batch_item_failures.is_empty());
    assert_eq!(invalidations(&cf, &id).await, vec![vec!["/image/*".to_string()]]);
}

#[tokio::test]
async fn dry_run_touches_nothing() {
    let (c, b, cf, id, mut j) = setup(10, &["image/a.jpg"]).await;
    j.dry_run = true;
    let before = keys(&c, &b).await;
    let r = j
        .run(&[ObjectEvent { bucket: b.clone(), key: Key::new("image/a.jpg").unwrap(), change: Change::Removed }])
        .await
        .unwrap();
    assert_eq!(r.deleted, before.len() - 1);
    assert_eq!(keys(&c, &b).await, before);
    assert!(invalidations(&cf, &id).await.is_empty());
}
