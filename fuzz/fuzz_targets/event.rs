//! CloudFront event JSON → typed event → viewer-request handler → JSON answer.
//! Invariants: never a panic; any answer serialises; a rewritten uri stays under the
//! prefix (or is the request's own uri, untouched); a tampered origin bucket is refused.
#![no_main]

use edge_resize::cloudfront::{Event, ViewerResult};
use edge_resize::edge::origin::target_bucket;
use edge_resize::edge::viewer_request_event;
use edge_resize::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(ev) = serde_json::from_slice::<Event>(data) else { return };
    let cfg = Config { bucket: Some("the-bucket".into()), ..Config::default() };
    let first = ev.records.first().map(|r| r.cf.request.clone());
    if let Some(req) = &first {
        if let Ok(b) = target_bucket(req, &cfg) {
            assert_eq!(b, "the-bucket");
        }
    }
    let out = viewer_request_event(ev, &cfg);
    serde_json::to_vec(&out).expect("answer serialises");
    if let (ViewerResult::Request(r), Some(before)) = (&out, &first) {
        assert!(r.uri == before.uri || r.uri.starts_with(&cfg.prefix), "{} -> {}", before.uri, r.uri);
    }
});
