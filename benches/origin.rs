//! `make bench-origin`: the origin-response path against a local S3-compatible server
//! (moto, started by the make target): latency of a miss (GET original, transform, PUT
//! variant, base64 response) and of a hit (the S3 GET CloudFront then does), and the
//! handler's overhead over the transform alone.

mod common;

use std::sync::Arc;
use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use edge_resize::cloudfront::Event;
use edge_resize::edge::{origin_response_event, Deadline};
use edge_resize::spec::{parse_variant_key, Key};
use edge_resize::store::{s3_client, S3Store, Store};
use edge_resize::transform::{run, Options};
use edge_resize::Config;

const N: usize = 15;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn event(bucket: &str, uri: &str) -> Event {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/events/origin-response-miss.json");
    let mut ev: Event = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    let cf = &mut ev.records[0].cf;
    cf.request.uri = uri.into();
    cf.request.origin.as_mut().unwrap().s3.as_mut().unwrap().domain_name =
        format!("{bucket}.s3.us-east-1.amazonaws.com");
    ev
}

fn main() {
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        eprintln!("bench-origin needs a local S3 server: run `make bench-origin`");
        std::process::exit(2);
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cfg = Arc::new(Config::default());
        let client = s3_client(Some("us-east-1".into())).await;
        let bucket = format!("bench-origin-{}", std::process::id());
        client.create_bucket().bucket(&bucket).send().await.unwrap();
        for t in &common::TASKS {
            let input = common::jpeg(t.src_w, t.src_h);
            client.put_object().bucket(&bucket).key("image/photo.jpg").body(ByteStream::from(input.clone())).send().await.unwrap();
            let uri = "/image/300x300/photo.jpg";
            let key = Key::from_uri(uri).unwrap();
            let (orig, variant) = parse_variant_key(&key, &cfg).unwrap();
            let opts = Options::for_variant(&variant, variant.output_format(&orig).unwrap(), &cfg);
            let transform: Vec<f64> = (0..N)
                .map(|_| {
                    let s = Instant::now();
                    run(&input, &opts).unwrap();
                    s.elapsed().as_secs_f64() * 1e3
                })
                .collect();
            let store = S3Store::new(client.clone(), &bucket, cfg.clone());
            let mut miss = Vec::new();
            let mut hit = Vec::new();
            for _ in 0..N {
                store.delete_variants(std::slice::from_ref(&key)).await.unwrap();
                let s = Instant::now();
                let r = origin_response_event(event(&bucket, uri), &cfg, Deadline::for_config(&cfg), |b, _| S3Store::new(client.clone(), b, cfg.clone())).await;
                miss.push(s.elapsed().as_secs_f64() * 1e3);
                assert_eq!(r.status, "200");
                let s = Instant::now();
                store.get(&key, u64::MAX).await.unwrap();
                hit.push(s.elapsed().as_secs_f64() * 1e3);
            }
            let (m, tr, h) = (median(miss), median(transform), median(hit));
            println!(
                "{} -> 300x300: miss {m:.1} ms, transform alone {tr:.1} ms, handler overhead {:.1} ms ({:+.0}%), hit (S3 GET of the variant) {h:.1} ms",
                t.name,
                m - tr,
                (m / tr - 1.0) * 100.0
            );
        }
    });
}
