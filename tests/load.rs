//! A bounded load pass against `serve` on 127.0.0.1: mixed hits and misses from 16
//! concurrent clients. Every answer must be a 200, each distinct variant is transformed
//! exactly once (single flight), and memory stays bounded. Prints requests per second,
//! p50/p99 latency and the process's peak RSS; the numbers are a report, not a pass mark.

use std::sync::Arc;
use std::time::Instant;

use edge_resize::serve::{router, Edge};
use edge_resize::store::{AnyStore, DirStore};
use edge_resize::Config;

const REQUESTS: usize = 480;
const CONCURRENCY: usize = 16;

fn peak_rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_load_has_no_errors_and_one_transform_per_variant() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("image")).unwrap();
    for f in ["coffee.jpg", "chelsea.jpg"] {
        std::fs::copy(format!("{}/fixtures/image/{f}", env!("CARGO_MANIFEST_DIR")), dir.path().join("image").join(f))
            .unwrap();
    }
    let cfg = Arc::new(Config::default());
    let edge = Edge::new(cfg.clone(), AnyStore::Dir(DirStore::new(dir.path(), cfg)), 8 << 20);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let app = router(edge.clone());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });

    // 2 originals x 4 sizes x 2 formats = 16 distinct variants, requested over and over.
    let mut urls = Vec::new();
    for img in ["coffee", "chelsea"] {
        for d in [100, 200, 300, 640] {
            for accept in ["image/jpeg", "image/webp"] {
                urls.push((format!("{url}/image/{img}.jpg?d={d}&r={}", urls.len()), accept));
            }
        }
    }
    let urls = Arc::new(urls);
    let client = reqwest::Client::new();
    let sem = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let start = Instant::now();
    let mut handles = Vec::new();
    for i in 0..REQUESTS {
        let (client, urls, sem) = (client.clone(), urls.clone(), sem.clone());
        handles.push(tokio::spawn(async move {
            let _permit = sem.acquire().await.unwrap();
            let (u, accept) = &urls[(i * 7) % urls.len()];
            let t = Instant::now();
            let r = client.get(u).header("accept", *accept).send().await.unwrap();
            let status = r.status().as_u16();
            let len = r.bytes().await.unwrap().len();
            (status, len, t.elapsed().as_secs_f64() * 1e3)
        }));
    }
    let mut lat = Vec::new();
    for h in handles {
        let (status, len, ms) = h.await.unwrap();
        assert_eq!(status, 200);
        assert!(len > 0);
        lat.push(ms);
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let stats: serde_json::Value =
        serde_json::from_slice(&client.get(format!("{url}/_edge/stats")).send().await.unwrap().bytes().await.unwrap())
            .unwrap();
    assert_eq!(stats["errors"], 0);
    assert_eq!(stats["transforms"], 16, "one transform per distinct variant: {stats}");
    let rss = peak_rss_mib();
    println!(
        "load: {REQUESTS} requests, {CONCURRENCY} concurrent: {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms, peak RSS {rss:.0} MiB ({stats})",
        REQUESTS as f64 / secs,
        lat[lat.len() / 2],
        lat[lat.len() * 99 / 100]
    );
    assert!(rss < 1024.0, "peak RSS {rss} MiB");
}
