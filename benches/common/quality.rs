//! Quality and timing helpers shared by the benches that score outputs: the reference
//! resize, SSIMULACRA2 against it, and the median of warm runs.

use std::time::Instant;

use edge_resize::spec::{Fit, Size};
use edge_resize::transform::plan;
use ssimulacra2::{compute_frame_ssimulacra2, ColorPrimaries, Rgb, TransferCharacteristic};

/// The reference: a full decode of the original (no shrink-on-load), the crop the plan
/// makes, and the image crate's Lanczos3 (computed in f32) straight to the output size.
pub fn reference(input: &[u8], out: Size, fit: Fit) -> image::RgbImage {
    let img = image::load_from_memory(input).unwrap().to_rgb8();
    let p = plan::plan(img.width(), img.height(), out, fit, false);
    let c = p.crop;
    let cropped =
        image::imageops::crop_imm(&img, c.x.round() as u32, c.y.round() as u32, c.w.round() as u32, c.h.round() as u32)
            .to_image();
    image::imageops::resize(&cropped, p.out_w, p.out_h, image::imageops::FilterType::Lanczos3)
}

/// SSIMULACRA2 of an encoded image against the reference (100: identical; 90: visually
/// lossless at a normal viewing distance; 70: high quality).
pub fn ssim2(reference: &image::RgbImage, encoded: &[u8]) -> f64 {
    let d = image::load_from_memory(encoded).unwrap().to_rgb8();
    let to = |i: &image::RgbImage| {
        let px = i.pixels().map(|p| [p[0] as f32 / 255.0, p[1] as f32 / 255.0, p[2] as f32 / 255.0]).collect();
        Rgb::new(px, i.width() as usize, i.height() as usize, TransferCharacteristic::SRGB, ColorPrimaries::BT709)
            .unwrap()
    };
    compute_frame_ssimulacra2(to(reference), to(&d)).unwrap()
}

/// Median milliseconds of `runs` timed calls, after two untimed warm-ups.
pub fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    f();
    let mut t: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    t[t.len() / 2]
}
