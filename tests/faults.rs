//! origin-response through a fault-injecting proxy in front of the real S3-compatible
//! server: latency, 500s, SlowDown, dropped connections and bodies cut mid-stream.
//! Transient faults are retried within the handler's deadline; persistent ones end in a
//! 5xx with no-store before it; a failed PutObject still returns the image and stores nothing.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fault::{Fault, FaultProxy};
use common::*;
use edge_resize::cloudfront::{header, Response};
use edge_resize::store::s3_client_at;
use edge_resize::Config;
use hyper::Method;

const VARIANT: &str = "/image/200x200/noise.jpg";

/// A noisy 1600x1200 JPEG of about 2 MB: big enough that the SDK hands over the response
/// before the body has arrived, so a connection cut mid-body surfaces while streaming.
fn big_original() -> Vec<u8> {
    static JPEG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    JPEG.get_or_init(|| {
        let mut x = 0x2545_f491_u32;
        let img = image::RgbImage::from_fn(1600, 1200, |_, _| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            image::Rgb([x as u8, (x >> 8) as u8, (x >> 16) as u8])
        });
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(&img).unwrap();
        assert!(out.len() > 1_000_000, "{} bytes", out.len());
        out
    })
    .clone()
}

/// A bucket holding the big original, a proxy in front of the server, and a client through it.
struct Rig {
    direct: aws_sdk_s3::Client,
    proxied: aws_sdk_s3::Client,
    bucket: String,
    proxy: FaultProxy,
}

async fn rig(name: &str) -> Rig {
    let (direct, bucket) = common::bucket(name).await;
    put(&direct, &bucket, "image/noise.jpg", big_original(), "image/jpeg").await;
    let proxy = FaultProxy::start(&endpoint()).await;
    let proxied = s3_client_at(Some("us-east-1".into()), Some(proxy.url.clone())).await;
    Rig { direct, proxied, bucket, proxy }
}

impl Rig {
    /// One origin-response miss for `uri`; the answer and how long it took.
    async fn miss(&self, uri: &str, cfg: &Arc<Config>) -> (Response, Duration) {
        let t = Instant::now();
        let ev = origin_event(uri, "403", &self.bucket);
        let r = respond(ev, cfg, &self.proxied).await;
        (r, t.elapsed())
    }

    async fn stored(&self, uri: &str) -> bool {
        get(&self.direct, &self.bucket, uri.trim_start_matches('/')).await.is_some()
    }
}

fn cfg_with_timeout(ms: u64) -> Arc<Config> {
    Arc::new(Config { origin_timeout_ms: ms, ..Config::default() })
}

#[tokio::test]
async fn transient_read_faults_are_retried() {
    let cfg = cfg_with_timeout(20_000);
    for fault in [Fault::InternalError, Fault::SlowDown, Fault::Drop, Fault::CutBody] {
        let rig = rig("transient").await;
        rig.proxy.next(Method::GET, [fault, fault]);
        let (r, _) = rig.miss(VARIANT, &cfg).await;
        assert_eq!(r.status, "200", "{fault:?}: {:?}", r.body);
        assert_eq!(header(&r.headers, "x-resize-result"), Some("generated"), "{fault:?}");
        assert_eq!(rig.proxy.seen(Method::GET), 3, "{fault:?}: two faults, then the good GET");
        assert!(rig.stored(VARIANT).await, "{fault:?}: the variant was stored");
    }
}

#[tokio::test]
async fn latency_on_every_call_is_absorbed() {
    let rig = rig("latency").await;
    rig.proxy.always(Method::GET, Fault::Delay(Duration::from_millis(400)));
    rig.proxy.always(Method::PUT, Fault::Delay(Duration::from_millis(400)));
    let (r, _) = rig.miss(VARIANT, &cfg_with_timeout(20_000)).await;
    assert_eq!(r.status, "200");
    assert_eq!((rig.proxy.seen(Method::GET), rig.proxy.seen(Method::PUT)), (1, 1));
    assert!(rig.stored(VARIANT).await);
}

#[tokio::test]
async fn persistent_read_faults_are_5xx_no_store_before_the_deadline() {
    let budget = Duration::from_millis(3_000);
    let cfg = cfg_with_timeout(budget.as_millis() as u64);
    for (fault, status) in [
        (Fault::InternalError, "503"),
        (Fault::SlowDown, "503"),
        (Fault::Drop, "503"),
        (Fault::CutBody, "503"),
        // A GET that never answers: cut by the deadline, not by the SDK's 8 s attempt timeout.
        (Fault::Delay(Duration::from_secs(60)), "504"),
    ] {
        let rig = rig("persistent").await;
        rig.proxy.always(Method::GET, fault);
        let (r, took) = rig.miss(VARIANT, &cfg).await;
        assert_eq!(r.status, status, "{fault:?}: {:?}", r.body);
        assert_eq!(header(&r.headers, "cache-control"), Some("no-store"), "{fault:?}");
        assert!(took < budget, "{fault:?}: answered after {took:?}, budget {budget:?}");
        assert!(rig.proxy.seen(Method::GET) >= 1, "{fault:?}");
        if !matches!(fault, Fault::Delay(_)) {
            assert!(rig.proxy.seen(Method::GET) >= 3, "{fault:?}: retried, {} GETs", rig.proxy.seen(Method::GET));
        }
        assert!(!rig.stored(VARIANT).await, "{fault:?}");
    }
}

#[tokio::test]
async fn failed_put_still_returns_the_image_and_stores_nothing() {
    let budget = Duration::from_millis(4_000);
    let cfg = cfg_with_timeout(budget.as_millis() as u64);
    for fault in [Fault::InternalError, Fault::SlowDown, Fault::Drop, Fault::Delay(Duration::from_secs(60))] {
        let rig = rig("put-fails").await;
        rig.proxy.always(Method::PUT, fault);
        let (r, took) = rig.miss(VARIANT, &cfg).await;
        assert_eq!(r.status, "200", "{fault:?}: {:?}", r.body);
        assert_eq!(header(&r.headers, "x-resize-result"), Some("generated"), "{fault:?}");
        assert!(r.body.as_ref().is_some_and(|b| b.len() > 1000), "{fault:?}: the image is in the answer");
        assert!(took < budget, "{fault:?}: answered after {took:?}");
        assert!(rig.proxy.seen(Method::PUT) >= 1, "{fault:?}");
        assert!(!rig.stored(VARIANT).await, "{fault:?}: no object, partial or whole");
    }
}

#[tokio::test]
async fn over_budget_variant_that_cannot_be_stored_is_503_not_a_redirect() {
    // A response budget too small for the 640x480 JPEG: it must be stored and redirected to,
    // and with every PUT failing there is nothing to redirect to.
    let cfg = Arc::new(Config { response_budget: 8_000, reencode_attempts: 0, ..Config::default() });
    let rig = rig("over-budget").await;
    rig.proxy.always(Method::PUT, Fault::InternalError);
    let (r, _) = rig.miss("/image/640x480/noise.jpg", &cfg).await;
    assert_eq!(r.status, "503", "{:?}", r.body);
    assert_eq!(header(&r.headers, "cache-control"), Some("no-store"));
    assert!(header(&r.headers, "location").is_none());
    assert!(!rig.stored("/image/640x480/noise.jpg").await);
}
