//! The local edge over HTTP: directory and S3 (moto) origins, cache, single flight.

mod common;

use std::sync::Arc;

use common::*;
use edge_resize::serve::{router, Edge};
use edge_resize::store::{AnyStore, DirStore};
use edge_resize::Config;

async fn start(store: AnyStore, cfg: Arc<Config>) -> (String, Arc<Edge>) {
    let edge = Edge::new(cfg, store, 16 << 20);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let app = router(edge.clone());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, edge)
}

fn dir_with_fixtures() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("image")).unwrap();
    for f in ["coffee.jpg", "truncated.jpg", "alpha.png", "quadrants.avif", "quadrants.heic", "animated.gif"] {
        std::fs::write(d.path().join("image").join(f), fixture(f)).unwrap();
    }
    d
}

async fn stats(url: &str) -> serde_json::Value {
    serde_json::from_slice(&reqwest::get(format!("{url}/_edge/stats")).await.unwrap().bytes().await.unwrap()).unwrap()
}

#[tokio::test]
async fn directory_edge_resizes_caches_and_stores() {
    let dir = dir_with_fixtures();
    let cfg = Arc::new(Config::default());
    let (url, _) = start(AnyStore::Dir(DirStore::new(dir.path(), cfg.clone())), cfg).await;

    let r = reqwest::get(format!("{url}/image/coffee.jpg?d=100")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.headers()["x-edge-cache"], "miss");
    let img = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
    assert_eq!((img.width(), img.height()), (100, 100));
    assert!(dir.path().join("image/100x100/coffee.jpg").exists(), "variant written to the origin");

    let r = reqwest::get(format!("{url}/image/coffee.jpg?d=120&junk=1")).await.unwrap();
    assert_eq!(r.headers()["x-edge-cache"], "hit", "same canonical variant");
    let s = stats(&url).await;
    assert_eq!(s["transforms"], 1);
    assert_eq!(s["cache_hits"], 1);

    // Accept decides the format; PNG alpha to WebP keeps a WebP.
    let c = reqwest::Client::new();
    let r = c.get(format!("{url}/image/alpha.png?d=100")).header("accept", "image/webp,*/*").send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "image/webp");
    assert!(dir.path().join("image/100x100/webp/alpha.png").exists());

    let r = reqwest::get(format!("{url}/image/coffee.jpg?d=-1")).await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let r = reqwest::get(format!("{url}/image/none.jpg?d=100")).await.unwrap();
    assert_eq!(r.status(), 404);
    let r = reqwest::get(format!("{url}/image/truncated.jpg?d=100")).await.unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(r.headers()["cache-control"], "no-store");
    // The body says what an operator needs: format, stage and libjpeg's own text.
    assert_eq!(
        r.text().await.unwrap(),
        "corrupt or truncated JPEG original (decoding pixels): Premature end of JPEG file\n"
    );
    // (The HTTP client resolves dot segments itself; the server must still not escape.)
    let r = reqwest::get(format!("{url}/image/%2e%2e/%2e%2e/etc/passwd.jpg?d=100")).await.unwrap();
    assert!(matches!(r.status().as_u16(), 400 | 404), "{}", r.status());
    let r = reqwest::get(format!("{url}/image/a%5c..%5c..%5cb.jpg?d=100")).await.unwrap();
    assert_eq!(r.status(), 400);
    // The original itself, as stored.
    let r = reqwest::get(format!("{url}/image/coffee.jpg")).await.unwrap();
    assert_eq!(r.bytes().await.unwrap().to_vec(), fixture("coffee.jpg"));
}

#[tokio::test]
async fn concurrent_misses_transform_once() {
    let dir = dir_with_fixtures();
    let cfg = Arc::new(Config::default());
    let (url, _) = start(AnyStore::Dir(DirStore::new(dir.path(), cfg.clone())), cfg).await;
    let c = reqwest::Client::new();
    let reqs = (0..24).map(|_| {
        let (c, u) = (c.clone(), format!("{url}/image/coffee.jpg?d=300"));
        tokio::spawn(async move {
            let r = c.get(u).send().await.unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap())
        })
    });
    let mut bodies = Vec::new();
    for h in reqs {
        let (s, b) = h.await.unwrap();
        assert_eq!(s, 200);
        bodies.push(b);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(stats(&url).await["transforms"], 1);
}

#[tokio::test]
async fn s3_edge_second_request_is_an_s3_hit() {
    let (c, b) = bucket("serve").await;
    put(&c, &b, "image/coffee.jpg", fixture("coffee.jpg"), "image/jpeg").await;
    let cfg = Arc::new(Config::default());
    let (url, edge) = start(AnyStore::S3(store(&c, &b, &cfg)), cfg).await;

    let r = reqwest::get(format!("{url}/image/coffee.jpg?d=200")).await.unwrap();
    assert_eq!(r.status(), 200);
    let first = r.bytes().await.unwrap();
    let (stored, ct, _, _) = get(&c, &b, "image/200x200/coffee.jpg").await.expect("variant in S3");
    assert_eq!(stored, first.to_vec());
    assert_eq!(ct.as_deref(), Some("image/jpeg"));

    // Drop it from the edge cache: the next request must come from S3, not a transform.
    assert_eq!(edge.invalidate(&["/image/200x200/coffee.jpg".into()]).await, 1);
    let r = reqwest::get(format!("{url}/image/coffee.jpg?d=200")).await.unwrap();
    assert_eq!(r.headers()["x-edge-cache"], "miss");
    assert_eq!(r.bytes().await.unwrap(), first);
    let s = stats(&url).await;
    assert_eq!((s["transforms"].as_u64(), s["origin_hits"].as_u64()), (Some(1), Some(1)));
}

/// A 1280x853 JPEG made from the coffee photo, so a 640-wide variant is a real downscale.
fn wide_jpeg() -> Vec<u8> {
    let img = image::load_from_memory(&fixture("coffee.jpg")).unwrap();
    let big = img.resize_exact(1280, 853, image::imageops::FilterType::Triangle);
    let mut out = Vec::new();
    big.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Jpeg).unwrap();
    out
}

/// What responsive pages send: `srcset` widths, heights and device pixel ratios.
#[tokio::test]
async fn srcset_widths_and_dpr() {
    let dir = dir_with_fixtures();
    std::fs::write(dir.path().join("image/wide.jpg"), wide_jpeg()).unwrap();
    let cfg = Arc::new(Config::default());
    let (url, _) = start(AnyStore::Dir(DirStore::new(dir.path(), cfg.clone())), cfg).await;
    let size_of = |b: &[u8]| {
        let img = image::load_from_memory(b).unwrap();
        (img.width(), img.height())
    };

    let r = reqwest::get(format!("{url}/image/wide.jpg?w=640")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(size_of(&r.bytes().await.unwrap()), (640, 427), "640 wide, aspect kept");
    assert!(dir.path().join("image/640x0/wide.jpg").exists());
    let r = reqwest::get(format!("{url}/image/wide.jpg?w=700&fit=inside")).await.unwrap();
    assert_eq!(r.headers()["x-edge-cache"], "hit", "snapped to the same 640x0 key");

    let r = reqwest::get(format!("{url}/image/wide.jpg?d=100&dpr=2")).await.unwrap();
    assert_eq!(size_of(&r.bytes().await.unwrap()), (200, 200));
    assert!(dir.path().join("image/200x200/wide.jpg").exists());

    let r = reqwest::get(format!("{url}/image/wide.jpg?h=128&dpr=1.5")).await.unwrap();
    assert_eq!(size_of(&r.bytes().await.unwrap()), (192, 128), "192 high asked: snapped down to 0x128");
    assert!(dir.path().join("image/0x128/wide.jpg").exists());

    // Never enlarged: the 600-wide original asked for 1080 is 600 wide.
    let r = reqwest::get(format!("{url}/image/coffee.jpg?w=1080")).await.unwrap();
    assert_eq!(size_of(&r.bytes().await.unwrap()), (600, 400));

    let r = reqwest::get(format!("{url}/image/wide.jpg?w=640&dpr=4")).await.unwrap();
    assert_eq!(r.status(), 400);

    // What Chrome, Firefox and Safari send for an <img>: AVIF, decoded back here.
    #[cfg(feature = "avif")]
    {
        let c = reqwest::Client::new();
        let accept = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
        let r = c.get(format!("{url}/image/wide.jpg?w=640")).header("accept", accept).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "image/avif");
        assert!(dir.path().join("image/640x0/avif/wide.jpg").exists());
        let ((w, h), _) = pillow_avif(&r.bytes().await.unwrap(), (0, 0));
        assert_eq!((w, h), (640, 427));
    }
}

/// AVIF and HEIC originals: a 415 that names the format and the reason, cached briefly,
/// not a 502 blaming the origin; the originals themselves are still served as they are.
#[tokio::test]
async fn avif_and_heic_originals_are_415_with_the_reason() {
    let dir = dir_with_fixtures();
    let cfg = Arc::new(Config::default());
    let (url, _) = start(AnyStore::Dir(DirStore::new(dir.path(), cfg.clone())), cfg).await;
    for (file, name) in [("quadrants.avif", "AVIF"), ("quadrants.heic", "HEIC")] {
        let r = reqwest::get(format!("{url}/image/{file}?w=640")).await.unwrap();
        assert_eq!(r.status(), 415, "{file}");
        assert_eq!(r.headers()["cache-control"], "public, max-age=60");
        let body = r.text().await.unwrap();
        assert!(body.starts_with(&format!("{name} originals are not supported: no ")), "{body}");
        let r = reqwest::get(format!("{url}/image/{file}")).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap().to_vec(), fixture(file));
    }
    assert!(!dir.path().join("image/640x0/quadrants.heic").exists());
    assert_eq!(stats(&url).await["errors"], 0, "a 415 is not a server error");
}

/// A browser asking for an animated GIF gets an animated WebP: same frames, same timing.
#[tokio::test]
async fn animated_gif_becomes_animated_webp() {
    use image::AnimationDecoder;
    let dir = dir_with_fixtures();
    let cfg = Arc::new(Config::default());
    let (url, _) = start(AnyStore::Dir(DirStore::new(dir.path(), cfg.clone())), cfg).await;
    let c = reqwest::Client::new();
    let r = c.get(format!("{url}/image/animated.gif?d=100")).header("accept", "image/webp,*/*").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/webp");
    let body = r.bytes().await.unwrap();
    assert!(dir.path().join("image/100x100/webp/animated.gif").exists());
    let d = image::codecs::webp::WebPDecoder::new(std::io::Cursor::new(body.to_vec())).unwrap();
    assert!(d.has_animation());
    let frames: Vec<_> = d.into_frames().map(|f| f.unwrap()).collect();
    assert_eq!(frames.len(), 2);
    for (f, rgb) in frames.iter().zip([[255, 0, 0], [0, 0, 255]]) {
        assert_eq!(f.delay().numer_denom_ms(), (100, 1));
        // A 100x100 cover box on a 60x40 original, not enlarged: 40x40.
        assert_eq!(f.buffer().dimensions(), (40, 40));
        let px = f.buffer().get_pixel(20, 20).0;
        assert!(px.iter().zip(rgb).all(|(&a, b)| (i32::from(a) - b).abs() <= 8), "{px:?}");
    }
    // Without WebP in Accept: the first frame as PNG, as before.
    let r = reqwest::get(format!("{url}/image/animated.gif?d=100")).await.unwrap();
    assert_eq!(r.headers()["content-type"], "image/png");
}

/// The value of the Prometheus sample `name` (with its labels, as exposed) in `text`.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in\n{text}"))
}

async fn prometheus(url: &str) -> String {
    let r = reqwest::get(format!("{url}/metrics")).await.unwrap();
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    r.text().await.unwrap()
}

/// `Server-Timing` as (stage, milliseconds), in order.
fn server_timing(v: &str) -> Vec<(String, f64)> {
    v.split(',')
        .map(|m| {
            let (name, dur) = m.trim().split_once(";dur=").expect("name;dur=ms");
            (name.to_string(), dur.parse().expect("a number"))
        })
        .collect()
}

#[tokio::test]
async fn metrics_count_what_the_requests_did() {
    let dir = dir_with_fixtures();
    let cfg = Arc::new(Config::default());
    let (url, _) = start(AnyStore::Dir(DirStore::new(dir.path(), cfg.clone())), cfg).await;
    let (mut made_bytes, mut made_pixels) = (0u64, 0u64);
    for d in [100, 200, 300] {
        let r = reqwest::get(format!("{url}/image/coffee.jpg?d={d}")).await.unwrap();
        assert_eq!(r.status(), 200);
        let timing = server_timing(r.headers()["server-timing"].to_str().unwrap());
        let names: Vec<&str> = timing.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["s3-get", "decode", "resize", "encode", "s3-put"]);
        assert!(timing.iter().all(|(_, ms)| *ms >= 0.0) && timing[1].1 > 0.0, "{timing:?}");
        made_bytes += r.bytes().await.unwrap().len() as u64;
        made_pixels += d * d;
    }
    let hit = reqwest::get(format!("{url}/image/coffee.jpg?d=100")).await.unwrap();
    assert_eq!(hit.headers()["x-edge-cache"], "hit");
    assert!(hit.headers().get("server-timing").is_none(), "a hit made nothing");
    assert_eq!(reqwest::get(format!("{url}/image/none.jpg?d=100")).await.unwrap().status(), 404);
    assert_eq!(reqwest::get(format!("{url}/image/truncated.jpg?d=100")).await.unwrap().status(), 502);
    assert_eq!(reqwest::get(format!("{url}/image/coffee.jpg")).await.unwrap().status(), 200);

    let m = prometheus(&url).await;
    let result = |r: &str| sample(&m, &format!("edge_resize_origin_responses_total{{result=\"{r}\"}}"));
    assert_eq!(result("generated"), 3.0);
    assert_eq!(result("4xx"), 1.0);
    assert_eq!(result("5xx"), 1.0);
    assert_eq!(result("pass-through"), 1.0, "the original itself, from the origin");
    assert_eq!(result("redirect"), 0.0);
    assert_eq!(sample(&m, "edge_resize_requests_total"), 7.0);
    assert_eq!(sample(&m, "edge_resize_cache_hits_total"), 1.0);
    assert_eq!(sample(&m, "edge_resize_output_bytes_total"), made_bytes as f64);
    assert_eq!(sample(&m, "edge_resize_output_pixels_total"), made_pixels as f64);
    let coffee = image::load_from_memory(&fixture("coffee.jpg")).unwrap();
    assert_eq!(sample(&m, "edge_resize_input_pixels_total"), 3.0 * f64::from(coffee.width() * coffee.height()));
    assert_eq!(sample(&m, "edge_resize_input_bytes_total"), 3.0 * fixture("coffee.jpg").len() as f64);
    assert_eq!(sample(&m, "edge_resize_transform_seconds_count"), 3.0);
    assert_eq!(sample(&m, "edge_resize_stage_seconds_count{stage=\"decode\"}"), 3.0);
    assert_eq!(sample(&m, "edge_resize_overloaded_total"), 0.0);
    assert_eq!(sample(&m, "edge_resize_transforms_running"), 0.0);
    assert_eq!(sample(&m, "edge_resize_transform_memory_reserved_bytes"), 0.0);
    assert_eq!(sample(&m, "edge_resize_transform_memory_budget_bytes"), 1024.0 * 1024.0 * 1024.0);
    // The summary agrees.
    let s = stats(&url).await;
    assert_eq!((s["transforms"].as_u64(), s["errors"].as_u64()), (Some(3), Some(1)));
}

/// A `w`x`h` progressive JPEG of noise (a synthetic stress image: memory, not looks).
fn noise_jpeg(w: usize, h: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let pixels: Vec<u8> = (0..w * h * 3)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    c.set_fastest_defaults();
    c.set_size(w, h);
    c.set_quality(85.0);
    c.set_progressive_mode();
    let mut s = c.start_compress(Vec::new()).unwrap();
    s.write_scanlines(&pixels).unwrap();
    s.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_over_the_transform_limits_gets_503s_with_retry_after_and_no_store() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("image")).unwrap();
    std::fs::write(dir.path().join("image/big.jpg"), noise_jpeg(3000, 2000)).unwrap();
    // One transform at a time and no waiting: whatever arrives while one runs is refused.
    let cfg = Arc::new(Config { transform_concurrency: 1, transform_wait_ms: 0, ..Config::default() });
    let (url, edge) = start(AnyStore::Dir(DirStore::new(dir.path(), cfg.clone())), cfg).await;
    assert_eq!(edge.limiter().concurrency(), 1);
    let c = reqwest::Client::new();
    // Distinct variants, so nothing is coalesced: each is its own transform.
    let sizes = [16, 32, 48, 64, 96, 128, 256, 384];
    let burst = sizes.map(|w| {
        let (c, u) = (c.clone(), format!("{url}/image/big.jpg?w={w}"));
        tokio::spawn(async move {
            let r = c.get(u).send().await.unwrap();
            let h = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_string());
            let (retry, cc) = (h("retry-after"), h("cache-control"));
            (r.status().as_u16(), retry, cc, r.bytes().await.unwrap().len())
        })
    });
    let (mut ok, mut busy) = (0, 0);
    for h in burst {
        let (status, retry, cc, _) = h.await.unwrap();
        match status {
            200 => ok += 1,
            503 => {
                busy += 1;
                assert_eq!(retry.as_deref(), Some("1"));
                assert_eq!(cc.as_deref(), Some("no-store"));
            }
            s => panic!("only 200 and the documented 503 may come back, got {s}"),
        }
    }
    assert!(ok >= 1 && busy >= 1, "{ok} made, {busy} refused");
    let m = prometheus(&url).await;
    assert_eq!(sample(&m, "edge_resize_overloaded_total"), f64::from(busy));
    assert_eq!(sample(&m, "edge_resize_origin_responses_total{result=\"5xx\"}"), f64::from(busy));
    assert_eq!(sample(&m, "edge_resize_origin_responses_total{result=\"generated\"}"), f64::from(ok));
    assert_eq!(sample(&m, "edge_resize_transform_memory_reserved_bytes"), 0.0, "all given back");
    // A refused miss was not cached: asked again when the edge is idle, it is made.
    let r = reqwest::get(format!("{url}/image/big.jpg?w=16")).await.unwrap();
    assert_eq!(r.status(), 200);
}
