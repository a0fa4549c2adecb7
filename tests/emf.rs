//! The origin-response handler's EMF line and `Server-Timing` header, read from the
//! `edge-resize invoke origin-response` binary (the Lambda's code path, with the line on
//! stderr) against a local S3 (moto), and checked against what the test put and got.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine;
use common::*;
use edge_resize::cloudfront::{header, Event, Response};
use serde_json::Value;

/// Run the handler on `ev`: its answer, and the EMF document it logged.
fn invoke(ev: &Event) -> (Response, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edge-resize"))
        .args(["invoke", "origin-response"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&serde_json::to_vec(ev).unwrap()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let resp: Response = serde_json::from_slice(&out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    // The EMF line is a line of its own: one JSON object naming CloudWatch metrics.
    let emf: Vec<Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.pointer("/_aws/CloudWatchMetrics").is_some())
        .collect();
    assert_eq!(emf.len(), 1, "one EMF line per invocation:\n{stderr}");
    (resp, emf.into_iter().next().unwrap())
}

fn metric(v: &Value, name: &str) -> f64 {
    let named = v["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap().iter().any(|m| m["Name"] == name);
    assert!(named, "{name} is not declared in _aws");
    v[name].as_f64().unwrap_or_else(|| panic!("{name} missing: {v}"))
}

#[tokio::test]
async fn a_miss_logs_what_it_made_and_times_its_stages() {
    let (c, b) = bucket("emf").await;
    let original = fixture("coffee.jpg");
    put(&c, &b, "image/coffee.jpg", original.clone(), "image/jpeg").await;
    let (resp, v) = invoke(&origin_event("/image/200x200/webp/coffee.jpg", "403", &b));
    assert_eq!(resp.status, "200");
    let body = base64::engine::general_purpose::STANDARD.decode(resp.body.as_deref().unwrap()).unwrap();
    let img = image::load_from_memory(&body).unwrap();
    let src = image::load_from_memory(&original).unwrap();

    assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "EdgeResize");
    assert_eq!((v["Function"].as_str(), v["Result"].as_str()), (Some("origin-response"), Some("generated")));
    assert_eq!((v["Status"].as_u64(), v["Format"].as_str()), (Some(200), Some("webp")));
    assert_eq!(metric(&v, "OutputBytes"), body.len() as f64);
    assert_eq!(metric(&v, "InputBytes"), original.len() as f64);
    assert_eq!(metric(&v, "OutputPixels"), f64::from(img.width() * img.height()));
    assert_eq!(metric(&v, "InputPixels"), f64::from(src.width() * src.height()));
    assert_eq!((metric(&v, "Misses"), metric(&v, "Generated"), metric(&v, "Errors5xx")), (1.0, 1.0, 0.0));
    assert_eq!(metric(&v, "QualityRetries"), 0.0);
    let (stored, ..) = get(&c, &b, "image/200x200/webp/coffee.jpg").await.expect("variant stored");
    assert_eq!(stored, body);

    // Server-Timing carries the same durations, to a tenth of a millisecond.
    let timing = header(&resp.headers, "server-timing").expect("Server-Timing on a generated response");
    let stages: Vec<(&str, f64)> = timing
        .split(", ")
        .map(|s| {
            let (n, d) = s.split_once(";dur=").unwrap();
            (n, d.parse().unwrap())
        })
        .collect();
    let emf_names = ["S3GetTime", "DecodeTime", "ResizeTime", "EncodeTime", "S3PutTime"];
    assert_eq!(stages.iter().map(|s| s.0).collect::<Vec<_>>(), ["s3-get", "decode", "resize", "encode", "s3-put"]);
    for ((stage, ms), emf) in stages.iter().zip(emf_names) {
        assert!((metric(&v, emf) - ms).abs() <= 0.051, "{stage}: {ms} vs {emf} {}", metric(&v, emf));
        assert!(*ms >= 0.0);
    }
    let transform = metric(&v, "DecodeTime") + metric(&v, "ResizeTime") + metric(&v, "EncodeTime");
    assert!((metric(&v, "TransformTime") - transform).abs() < 0.01);
}

#[tokio::test]
async fn a_pass_through_and_a_missing_original_log_their_result() {
    let (_, b) = bucket("emf").await;
    let (resp, v) = invoke(&origin_event("/image/200x200/coffee.jpg", "200", &b));
    assert_eq!(resp.status, "200");
    assert_eq!(v["Result"], "pass-through");
    assert_eq!((metric(&v, "Requests"), metric(&v, "Misses")), (1.0, 0.0));
    assert!(v.get("DecodeTime").is_none() && header(&resp.headers, "server-timing").is_none());

    let (resp, v) = invoke(&origin_event("/image/200x200/none.jpg", "403", &b));
    assert_eq!(resp.status, "404");
    assert_eq!(v["Result"], "4xx");
    assert_eq!((metric(&v, "Misses"), metric(&v, "Errors4xx"), metric(&v, "Generated")), (1.0, 1.0, 0.0));
}
