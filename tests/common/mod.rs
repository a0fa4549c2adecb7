//! Shared helpers of the integration tests: a real S3-compatible server (moto, started by
//! `make test` / `.ci/run` at `AWS_ENDPOINT_URL`), golden events.
#![allow(dead_code)]

pub mod fault;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use edge_resize::cloudfront::{Event, Response};
use edge_resize::edge::{origin_response_event, Deadline};
use edge_resize::store::{s3_client, S3Store};
use edge_resize::Config;

pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL must point at a local S3 server: run `make test`")
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/fixtures/image/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

pub fn event(name: &str) -> Event {
    let p = format!("{}/fixtures/events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

static N: AtomicU32 = AtomicU32::new(0);

/// A fresh bucket per test, so tests run in parallel against one server.
pub async fn bucket(prefix: &str) -> (aws_sdk_s3::Client, String) {
    let _ = endpoint();
    let client = s3_client(Some("us-east-1".into())).await;
    let name = format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    client.create_bucket().bucket(&name).send().await.expect("create bucket");
    (client, name)
}

pub async fn put(client: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>, ct: &str) {
    client.put_object().bucket(bucket).key(key).content_type(ct).body(ByteStream::from(body)).send().await.unwrap();
}

pub async fn get(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Option<(Vec<u8>, Option<String>, Option<String>, Option<String>)> {
    let o = client.get_object().bucket(bucket).key(key).send().await.ok()?;
    let ct = o.content_type().map(str::to_string);
    let cc = o.cache_control().map(str::to_string);
    let etag = o.e_tag().map(str::to_string);
    Some((o.body.collect().await.unwrap().into_bytes().to_vec(), ct, cc, etag))
}

pub fn store(client: &aws_sdk_s3::Client, bucket: &str, cfg: &Arc<Config>) -> S3Store {
    S3Store::new(client.clone(), bucket, cfg.clone())
}

/// The origin-response handler on `ev`, storing through `client`, under the configured deadline.
pub async fn respond(ev: Event, cfg: &Arc<Config>, client: &aws_sdk_s3::Client) -> Response {
    origin_response_event(ev, cfg, Deadline::for_config(cfg), |bucket, _| store(client, bucket, cfg)).await
}

/// An origin-response event for `uri` with the given S3 status, naming `bucket`.
pub fn origin_event(uri: &str, status: &str, bucket: &str) -> Event {
    let mut ev = event("origin-response-miss.json");
    let cf = &mut ev.records[0].cf;
    cf.request.uri = uri.into();
    cf.request.origin.as_mut().unwrap().s3.as_mut().unwrap().domain_name =
        format!("{bucket}.s3.us-east-1.amazonaws.com");
    cf.response.as_mut().unwrap().status = status.into();
    ev
}

/// Decode an AVIF with Pillow (libavif: a decoder independent of ours, installed from
/// `.ci/requirements.txt`): its size and the RGB pixel at `at`.
#[cfg(feature = "avif")]
pub fn pillow_avif(bytes: &[u8], at: (u32, u32)) -> ((u32, u32), [u8; 3]) {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), bytes).unwrap();
    let script = "import sys; from PIL import Image; im = Image.open(sys.argv[1]); assert im.format == 'AVIF'; \
                  print(im.width, im.height, *im.convert('RGB').getpixel((int(sys.argv[2]), int(sys.argv[3]))))";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(f.path())
        .args([at.0.to_string(), at.1.to_string()])
        .output()
        .expect("python3");
    assert!(out.status.success(), "Pillow could not decode it: {}", String::from_utf8_lossy(&out.stderr));
    let v: Vec<u32> = String::from_utf8(out.stdout).unwrap().split_whitespace().map(|t| t.parse().unwrap()).collect();
    ((v[0], v[1]), [v[2] as u8, v[3] as u8, v[4] as u8])
}
