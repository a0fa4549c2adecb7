//! How much memory a transform of an original will take, estimated from its header before
//! any pixel is decoded, so that `serve` can admit transforms against a memory budget
//! instead of finding out from the kernel's OOM killer. Pure.
//!
//! The estimate is the sum of the buffers the pipeline holds at its peak (bytes):
//! - the encoded original;
//! - JPEG with more than one scan (progressive): libjpeg keeps every DCT coefficient of the
//!   whole image, 2 bytes each, for every component at its own sampling, whatever the
//!   output scale (libjpeg's `jdcoefct.c`, full-image coefficient buffer);
//! - the decoded (shrunk-on-load) pixels twice: the decoder's output and the resizer's
//!   intermediate (a separable filter's first pass is at most as large when shrinking);
//!   non-JPEG decoders (the image crate) convert once more, so three times;
//! - the output pixels four times (resize, orient, colour conversion, encoder input);
//! - a fixed allowance for codec state and the allocator ([`FIXED_BYTES`]).
//!
//! It is an upper estimate for the common cases, checked against measured peaks by the
//! burst phase of `make load` (README, "Limits").

use super::decode::{sniff, Header, InputFormat};
use super::{geometry, Options, TransformError};

/// Codec state, Huffman tables, encoder scratch and allocator slack per transform.
pub const FIXED_BYTES: u64 = 8 << 20;

/// What the header says about the pixel buffers a decode will need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    pub format: InputFormat,
    pub width: u32,
    pub height: u32,
    /// Decoded channels (JPEG: its components; others: 4, RGBA at most).
    pub channels: u8,
    /// JPEG with more than one scan (SOF2/6/10/14): the coefficient buffer is held.
    pub progressive: bool,
    /// JPEG: DCT coefficients per pixel over all components (3 for 4:4:4, 1.5 for 4:2:0).
    pub samples_per_pixel: f64,
}

impl Probe {
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// Read the size (and for JPEG the frame header) without decoding.
pub fn probe(data: &[u8]) -> Result<Probe, TransformError> {
    let format = sniff(data).ok_or(TransformError::Unsupported)?;
    let bad =
        |m: &str| TransformError::Corrupt { format, stage: super::decode::DecodeStage::Header, message: m.to_string() };
    if format == InputFormat::Jpeg {
        return jpeg_frame(data).ok_or_else(|| bad("no frame header (SOFn) before the first scan"));
    }
    let reader =
        image::ImageReader::new(std::io::Cursor::new(data)).with_guessed_format().map_err(|e| bad(&e.to_string()))?;
    let (width, height) = reader.into_dimensions().map_err(|e| bad(&e.to_string()))?;
    Ok(Probe { format, width, height, channels: 4, progressive: false, samples_per_pixel: 4.0 })
}

/// The JPEG frame header (SOFn): ITU T.81 B.2.2.
fn jpeg_frame(data: &[u8]) -> Option<Probe> {
    let (marker, seg) = super::scans::frame_header(data)?;
    let height = u32::from(u16::from_be_bytes([*seg.get(1)?, *seg.get(2)?]));
    let width = u32::from(u16::from_be_bytes([*seg.get(3)?, *seg.get(4)?]));
    let listed = super::scans::frame_components(seg)?;
    let n = listed.len() as u8;
    let comps: Vec<(u32, u32)> = listed.iter().map(|c| (u32::from(c.h).max(1), u32::from(c.v).max(1))).collect();
    let (hmax, vmax) = comps.iter().fold((1, 1), |(h, v), c| (h.max(c.0), v.max(c.1)));
    let samples: f64 = comps.iter().map(|(h, v)| f64::from(h * v) / f64::from(hmax * vmax)).sum();
    let progressive = matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE);
    Some(Probe { format: InputFormat::Jpeg, width, height, channels: n, progressive, samples_per_pixel: samples })
}

/// Estimated peak bytes of transforming `data` with `o` (see the module docs).
pub fn estimate(data: &[u8], o: &Options) -> Result<u64, TransformError> {
    let p = probe(data)?;
    let header = Header { format: p.format, width: p.width, height: p.height, orientation: 1 };
    Ok(estimate_from(&p, data.len() as u64, &geometry(&header, o)))
}

/// The estimate from a probe, the encoded size and the transform's geometry.
pub fn estimate_from(p: &Probe, input_bytes: u64, g: &super::Geometry) -> u64 {
    let coefficients = if p.progressive { (p.pixels() as f64 * p.samples_per_pixel * 2.0) as u64 } else { 0 };
    let s = u64::from(g.shrink.max(1));
    let decoded = u64::from(p.width).div_ceil(s) * u64::from(p.height).div_ceil(s) * u64::from(p.channels.max(1));
    let copies = if p.format == InputFormat::Jpeg { 2 } else { 3 };
    let output = u64::from(g.target_w) * u64::from(g.target_h) * 4;
    input_bytes + coefficients + decoded * copies + output * 4 + FIXED_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Fit, Format, Size};

    fn opts(w: u32, h: u32) -> Options {
        Options::from_config(Size::new(w, h), Fit::Cover, Format::Jpeg, &crate::Config::default())
    }

    fn jpeg(w: u32, h: u32, progressive: bool) -> Vec<u8> {
        let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
        c.set_fastest_defaults(); // baseline unless asked
        c.set_size(w as usize, h as usize);
        if progressive {
            c.set_progressive_mode();
        }
        let mut s = c.start_compress(Vec::new()).unwrap();
        s.write_scanlines(&vec![128u8; (w * h * 3) as usize]).unwrap();
        s.finish().unwrap()
    }

    #[test]
    fn the_jpeg_frame_header_gives_size_sampling_and_progression() {
        let p = probe(&jpeg(64, 48, true)).unwrap();
        assert_eq!((p.width, p.height, p.channels, p.progressive), (64, 48, 3, true));
        assert_eq!(p.samples_per_pixel, 1.5, "libjpeg's default 4:2:0");
        let b = probe(&jpeg(64, 48, false)).unwrap();
        assert!(!b.progressive);
        assert!(probe(b"\xFF\xD8\xFF\xDA\0\x02").is_err());
    }

    #[test]
    fn a_progressive_original_costs_its_coefficients_and_shrink_on_load_saves() {
        let (prog, base) = (jpeg(1024, 768, true), jpeg(1024, 768, false));
        let small = estimate(&prog, &opts(100, 100)).unwrap();
        let coefficients = 1024 * 768 * 3; // 1.5 samples x 2 bytes
        let base_small = estimate(&base, &opts(100, 100)).unwrap();
        assert_eq!(small - base_small, coefficients + (prog.len() as u64 - base.len() as u64));
        // 100x100 from 1024x768 decodes at 1/2 (768/100/2 >= 2 but < 4): a quarter of the pixels.
        let full = estimate(&base, &opts(1024, 768)).unwrap();
        assert!(full > base_small + 1024 * 768 * 3, "{full} vs {base_small}");
    }

    #[test]
    fn other_formats_are_probed_through_their_header() {
        let mut png = Vec::new();
        image::RgbaImage::new(300, 200).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        let p = probe(&png).unwrap();
        assert_eq!((p.format, p.width, p.height, p.channels), (InputFormat::Png, 300, 200, 4));
        assert_eq!(probe(b"not an image").unwrap_err(), TransformError::Unsupported);
    }
}
