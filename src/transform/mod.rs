//! The transform core (DESIGN §3): `decode → orient → resize → encode` in one pass.
//!
//! The steps, in order, each in its own file:
//! 1. `decode::sniff` + header: format from magic bytes, size, EXIF orientation;
//! 2. `plan`: output size, crop and JPEG shrink-on-load, from the header alone; the
//!    pixel limit is checked here, before any pixel buffer exists;
//! 3. `decode`: pixels, DCT-scaled for JPEG;
//! 4. `resize`: crop + Lanczos3 in stored orientation (fewer pixels to move);
//! 5. `orient`: EXIF rotation of the small result;
//! 6. `color`: CMYK/ICC to sRGB, flatten alpha for JPEG;
//! 7. `encode`, retried at lower quality while over the byte budget.
//!
//! An animated GIF or WebP made into WebP takes `animate` instead: every frame resized
//! with the same plan, then libwebp's animation encoder.

pub mod animate;
pub mod color;
pub mod decode;
pub mod encode;
pub mod libjpeg;
pub mod memory;
pub mod orient;
pub mod plan;
pub mod resize;
pub mod restart;
pub mod scans;
pub mod webp;

use std::time::Instant;

use crate::config::Config;
use crate::metrics::Stages;
use crate::spec::{Fit, Format, Size, Variant};

/// Why a transform failed. `status()` is the HTTP answer for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransformError {
    #[error("unsupported input: not a JPEG, PNG, GIF or WebP image")]
    Unsupported,
    /// A format we recognise but this build cannot decode (AVIF, HEIC): not the origin's
    /// fault, so 415 rather than 502, with the reason.
    #[error("{0} originals are not supported: {reason}", reason = .0.reason())]
    NotDecoded(decode::Undecoded),
    #[error("image is {width}x{height}, over the limit of {limit} pixels")]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    #[error("input is {size} bytes, over the limit of {limit}")]
    TooManyBytes { size: u64, limit: u64 },
    /// The decoder refused the original: the format, the stage and the decoder's own
    /// message (libjpeg's text for JPEG), so an operator can tell a truncated upload from
    /// an unsupported variant of a format.
    #[error("corrupt or truncated {format} original ({stage}): {message}")]
    Corrupt { format: decode::InputFormat, stage: decode::DecodeStage, message: String },
    #[error("output format {0:?} is not built in (cargo feature)")]
    FormatDisabled(Format),
    #[error("internal transform error: {0}")]
    Internal(String),
}

impl TransformError {
    /// The original exists but cannot be served: 502 (a bad object behind us, not the
    /// client's fault, and never cached); a format this build does not decode: 415 (cached
    /// briefly: a build with the decoder may come); our own failures: 500.
    pub fn status(&self) -> u16 {
        match self {
            TransformError::Internal(_) | TransformError::FormatDisabled(_) => 500,
            TransformError::NotDecoded(_) => 415,
            _ => 502,
        }
    }
}

/// What to make. Built from a `Variant` + `Config`, or by the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub size: Size,
    /// Default cover.
    pub fit: Fit,
    pub format: Format,
    /// 1..=100; ignored for PNG.
    pub quality: u8,
    /// Default false.
    pub upscale: bool,
    /// Default 50 MP.
    pub max_pixels: u64,
    /// Default 50 MB.
    pub max_input_bytes: u64,
    /// Animations with more frames become a still of the first. Default 200.
    pub max_animation_frames: u32,
    /// Animations with more decoded pixels (all frames) become a still. Default 25 MP.
    pub max_animation_pixels: u64,
    /// Encoded size to stay under, if any.
    pub budget: Option<usize>,
    /// Lower-quality retries when over budget. Default 3.
    pub reencode_attempts: u8,
    /// Threads a baseline JPEG with restart markers at row starts is decoded on, in bands
    /// (`restart`). Default 1: every decode on the calling thread (README, "Restart markers").
    pub decode_threads: u8,
}

impl Options {
    /// What a variant asks for, with the rest from `cfg`.
    pub fn for_variant(v: &Variant, format: Format, cfg: &Config) -> Self {
        let o = Self::from_config(v.size, v.fit, format, cfg);
        Options { quality: v.quality.unwrap_or(o.quality), ..o }
    }

    /// `size` in `format` with `fit`; everything else from `cfg`: the format's default
    /// quality, the limits, the retries and threads, and no byte budget.
    pub fn from_config(size: Size, fit: Fit, format: Format, cfg: &Config) -> Self {
        Options {
            size,
            fit,
            format,
            quality: cfg.quality.for_format(format),
            upscale: cfg.upscale,
            max_pixels: cfg.max_pixels,
            max_input_bytes: cfg.max_input_bytes,
            max_animation_frames: cfg.max_animation_frames,
            max_animation_pixels: cfg.max_animation_pixels,
            budget: None,
            reencode_attempts: cfg.reencode_attempts,
            decode_threads: cfg.decode_threads,
        }
    }
}

/// An encoded variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub bytes: Vec<u8>,
    pub format: Format,
    pub width: u32,
    pub height: u32,
    /// The quality it was finally encoded at.
    pub quality: u8,
    /// False when even the last retry is over `Options::budget`.
    pub fits_budget: bool,
    /// Lower-quality re-encodes made to fit `Options::budget`.
    pub quality_retries: u8,
    /// The original's width x height, from its header (the canvas for an animation).
    pub input_pixels: u64,
    /// How long decode, resize and encode took (the S3 stages are `None` here).
    pub timings: Stages,
}

/// Where the transform will cut, scale and shrink on load, from the header alone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    /// The crop in stored (pre-rotation) coordinates of the full-size image.
    pub crop: plan::Rect,
    /// The resize target in stored orientation.
    pub target_w: u32,
    pub target_h: u32,
    /// Shrink-on-load factor the decoder applies (1: none).
    pub shrink: u8,
}

/// The geometry of `o` applied to an image with header `h`.
pub fn geometry(h: &decode::Header, o: &Options) -> Geometry {
    let swapped = plan::swaps_axes(h.orientation);
    let (dw, dh) = if swapped { (h.height, h.width) } else { (h.width, h.height) };
    let p = plan::plan(dw, dh, o.size, o.fit, o.upscale);
    let crop = plan::to_stored(p.crop, h.orientation, f64::from(h.width), f64::from(h.height));
    let (tw, th) = if swapped { (p.out_h, p.out_w) } else { (p.out_w, p.out_h) };
    let shrink = match h.format {
        decode::InputFormat::Jpeg => plan::jpeg_shrink(crop.w, crop.h, tw, th),
        decode::InputFormat::Webp => plan::integer_shrink(crop.w, crop.h, tw, th),
        _ => 1,
    };
    Geometry { crop, target_w: tw, target_h: th, shrink }
}

/// Run the whole pipeline on an encoded original.
pub fn run(input: &[u8], o: &Options) -> Result<Output, TransformError> {
    if input.len() as u64 > o.max_input_bytes {
        return Err(TransformError::TooManyBytes { size: input.len() as u64, limit: o.max_input_bytes });
    }
    // An animated GIF or WebP asked for as WebP stays animated, within the limits.
    if o.format == Format::Webp {
        if let Some(f @ (decode::InputFormat::Gif | decode::InputFormat::Webp)) = decode::sniff(input) {
            let start = Instant::now();
            if let Some(frames) = animate::frames(input, f, o)? {
                let decoded = start.elapsed();
                // No lower-quality retries: each encodes every frame again (seconds at the
                // limits, README "Animation"); over the budget it is stored and 302'd instead.
                let once = Options { reencode_attempts: 0, ..*o };
                let start = Instant::now();
                let mut out =
                    encode_within_budget(&once, frames.width, frames.height, |q| animate::encode_webp(&frames, q))?;
                out.timings = Stages { decode: Some(decoded), encode: Some(start.elapsed()), ..Stages::default() };
                out.input_pixels = memory::probe(input).map_or(0, |p| p.pixels());
                return Ok(out);
            }
        }
    }
    let start = Instant::now();
    let mut geo = None;
    let dec = decode::decode(input, o.max_pixels, usize::from(o.decode_threads.max(1)), |h| {
        decode::check_pixels(h.format, h.width, h.height, o.max_pixels)?;
        let g = geometry(h, o);
        geo = Some((*h, g));
        Ok(g.shrink)
    })?;
    let decoded = start.elapsed();
    let (header, g) = geo.ok_or_else(|| TransformError::Internal("no header".into()))?;
    let (crop, tw, th) = (g.crop, g.target_w, g.target_h);
    // Scale the stored-coordinate crop to the shrunk-on-load decode.
    let (sx, sy) = (f64::from(dec.width) / f64::from(header.width), f64::from(dec.height) / f64::from(header.height));
    let crop = plan::Rect {
        x: crop.x * sx,
        y: crop.y * sy,
        w: (crop.w * sx).min(f64::from(dec.width)),
        h: (crop.h * sy).min(f64::from(dec.height)),
    };
    let start = Instant::now();
    let channels = dec.layout.channels();
    let pixels = resize::resize(dec.pixels, dec.width, dec.height, dec.layout, crop, tw, th)?;
    let (pixels, w, h) = orient::orient(pixels, tw, th, channels, header.orientation);
    let (pixels, layout) = color::to_srgb(pixels, dec.layout, dec.icc.as_deref());
    let (pixels, layout) = match o.format {
        Format::Jpeg => color::flatten(pixels, layout),
        Format::Webp | Format::Avif => color::expand_gray(pixels, layout),
        Format::Png => (pixels, layout),
    };
    let resized = start.elapsed();
    let start = Instant::now();
    let mut out = encode_within_budget(o, w, h, |q| encode::encode(&pixels, w, h, layout, o.format, q))?;
    out.timings =
        Stages { decode: Some(decoded), resize: Some(resized), encode: Some(start.elapsed()), ..Stages::default() };
    out.input_pixels = u64::from(header.width) * u64::from(header.height);
    Ok(out)
}

/// Encode; while over budget, retry at lower quality (lossy formats only), at most
/// `reencode_attempts` times, each step scaling quality by the overshoot.
fn encode_within_budget(
    o: &Options,
    w: u32,
    h: u32,
    encode: impl Fn(u8) -> Result<Vec<u8>, TransformError>,
) -> Result<Output, TransformError> {
    let mut quality = o.quality.clamp(1, 100);
    let mut attempts = 0;
    loop {
        let bytes = encode(quality)?;
        let fits = o.budget.is_none_or(|b| bytes.len() <= b);
        let lossy = o.format != Format::Png;
        if fits || !lossy || attempts >= o.reencode_attempts || quality <= 10 {
            return Ok(Output {
                bytes,
                format: o.format,
                width: w,
                height: h,
                quality,
                fits_budget: fits,
                quality_retries: attempts,
                input_pixels: 0,
                timings: Stages::default(),
            });
        }
        let over = bytes.len() as f64 / o.budget.unwrap_or(usize::MAX) as f64;
        let next = (f64::from(quality) / over.max(1.25)).floor() as u8;
        quality = next.clamp(10, quality.saturating_sub(5).max(10));
        attempts += 1;
    }
}
