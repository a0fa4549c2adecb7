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
    assert_eq!(edge.invalidate(&["/image/200x200/coffee.jpg".into()]), 1);
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
