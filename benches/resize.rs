//! The resize core alone: fast_image_resize (SIMD) against the image crate's resize, same
//! input, same filter (Lanczos3), same run.

mod common;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use edge_resize::transform::decode::Layout;
use edge_resize::transform::plan::Rect;
use edge_resize::transform::resize::resize;

fn bench(c: &mut Criterion) {
    let (w, h, tw, th) = (2000u32, 1333u32, 300u32, 200u32);
    let px = common::photo_rgb(w, h);
    let full = Rect { x: 0.0, y: 0.0, w: f64::from(w), h: f64::from(h) };
    let mut g = c.benchmark_group("resize-2000x1333-to-300x200-lanczos3");
    g.throughput(Throughput::Elements(u64::from(w * h)));
    g.sample_size(20);
    g.bench_function("fast_image_resize", |b| {
        // The input is moved into the resizer, so the copy is made outside the timing.
        b.iter_batched(|| px.clone(), |p| resize(p, w, h, Layout::Rgb, full, tw, th).unwrap(), BatchSize::LargeInput)
    });
    let img = image::RgbImage::from_raw(w, h, px.clone()).unwrap();
    g.bench_function("image_crate", |b| {
        b.iter(|| image::imageops::resize(&img, tw, th, image::imageops::FilterType::Lanczos3))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
