//! Benchmark inputs, generated at bench time so `fixtures/` stays small: a real photo
//! (`coffee.jpg`, 600x400) upscaled to the task's size, with deterministic grain so the
//! codecs see high-frequency detail like a camera's, then encoded at JPEG q90.
#![allow(dead_code)]

pub mod quality;

use edge_resize::spec::{Fit, Format, Size};
use edge_resize::transform::Options;

/// A pipeline task as sharp's users run it.
pub struct Task {
    pub name: &'static str,
    pub src_w: u32,
    pub src_h: u32,
    pub out: Size,
    pub quality: u8,
}

/// 4000x2666 to 300 px wide; and sharp's published benchmark task, 2725x2225 to
/// 720x588 at quality 80.
pub const TASKS: [Task; 2] = [
    Task { name: "4000x2666-to-300w", src_w: 4000, src_h: 2666, out: Size::new(300, 0), quality: 80 },
    Task { name: "2725x2225-to-720x588", src_w: 2725, src_h: 2225, out: Size::new(720, 588), quality: 80 },
];

impl Task {
    pub fn options(&self) -> Options {
        Options {
            quality: self.quality,
            max_input_bytes: 200_000_000,
            max_animation_pixels: 200_000_000,
            reencode_attempts: 0,
            ..Options::from_config(self.out, Fit::Cover, Format::Jpeg, &edge_resize::Config::default())
        }
    }
}

pub fn photo_rgb(w: u32, h: u32) -> Vec<u8> {
    let src = image::load_from_memory(include_bytes!("../../fixtures/image/coffee.jpg")).unwrap().to_rgb8();
    let big = image::imageops::resize(&src, w, h, image::imageops::FilterType::CatmullRom);
    let mut px = big.into_raw();
    // xorshift grain, +-12 levels
    let mut s: u32 = 0x9E37_79B9;
    for v in px.iter_mut() {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        let n = (s % 25) as i32 - 12;
        *v = (i32::from(*v) + n).clamp(0, 255) as u8;
    }
    px
}

pub fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let px = photo_rgb(w, h);
    let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    c.set_size(w as usize, h as usize);
    c.set_quality(90.0);
    let mut s = c.start_compress(Vec::new()).unwrap();
    s.write_scanlines(&px).unwrap();
    s.finish().unwrap()
}
