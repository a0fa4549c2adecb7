//! Encode: JPEG (libjpeg-turbo via mozjpeg: progressive, optimised Huffman), PNG
//! (the image crate's png, adaptive filters), lossy WebP (libwebp), AVIF behind the
//! `avif` feature. Metadata is never written: no EXIF, no ICC (output is sRGB).

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::decode::Layout;
use super::TransformError;
use crate::spec::Format;

/// Encode 8-bit pixels. `layout` must already suit the format (see `transform::run`).
pub fn encode(
    pixels: &[u8],
    w: u32,
    h: u32,
    layout: Layout,
    format: Format,
    quality: u8,
) -> Result<Vec<u8>, TransformError> {
    match format {
        Format::Jpeg => jpeg(pixels, w, h, layout, quality),
        Format::Png => png(pixels, w, h, layout),
        Format::Webp => webp(pixels, w, h, layout, quality),
        Format::Avif => avif(pixels, w, h, layout, quality),
    }
}

fn jpeg(pixels: &[u8], w: u32, h: u32, layout: Layout, quality: u8) -> Result<Vec<u8>, TransformError> {
    let cs = match layout {
        Layout::Gray => mozjpeg::ColorSpace::JCS_GRAYSCALE,
        Layout::Rgb => mozjpeg::ColorSpace::JCS_RGB,
        l => return Err(TransformError::Internal(format!("jpeg encoder got {l:?}"))),
    };
    catch_unwind(AssertUnwindSafe(|| -> std::io::Result<Vec<u8>> {
        let mut c = mozjpeg::Compress::new(cs);
        // libjpeg-turbo's settings (Annex K tables, no trellis): mozjpeg's trellis
        // quantisation made 16% smaller files but cost 57 ms of a 70 ms encode at 720x588
        // (see README, "Codec choices"); at the edge the milliseconds are billed.
        c.set_fastest_defaults();
        c.set_size(w as usize, h as usize);
        c.set_quality(f32::from(quality));
        c.set_progressive_mode();
        c.set_optimize_coding(true);
        let mut started = c.start_compress(Vec::with_capacity(pixels.len() / 8))?;
        started.write_scanlines(pixels)?;
        started.finish()
    }))
    .map_err(|_| TransformError::Internal("jpeg encoder failed".into()))?
    .map_err(|e| TransformError::Internal(format!("jpeg encoder: {e}")))
}

fn png(pixels: &[u8], w: u32, h: u32, layout: Layout) -> Result<Vec<u8>, TransformError> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    use image::ImageEncoder;
    let ct = match layout {
        Layout::Gray => image::ExtendedColorType::L8,
        Layout::GrayAlpha => image::ExtendedColorType::La8,
        Layout::Rgb => image::ExtendedColorType::Rgb8,
        Layout::Rgba => image::ExtendedColorType::Rgba8,
        l => return Err(TransformError::Internal(format!("png encoder got {l:?}"))),
    };
    let mut out = Vec::new();
    PngEncoder::new_with_quality(&mut out, CompressionType::Default, FilterType::Adaptive)
        .write_image(pixels, w, h, ct)
        .map_err(|e| TransformError::Internal(format!("png encoder: {e}")))?;
    Ok(out)
}

fn webp(pixels: &[u8], w: u32, h: u32, layout: Layout, quality: u8) -> Result<Vec<u8>, TransformError> {
    let l = match layout {
        Layout::Rgb => webp::PixelLayout::Rgb,
        Layout::Rgba => webp::PixelLayout::Rgba,
        l => return Err(TransformError::Internal(format!("webp encoder got {l:?}"))),
    };
    let enc = webp::Encoder::new(pixels, l, w, h);
    let mut cfg = webp::WebPConfig::new().map_err(|_| TransformError::Internal("webp config".into()))?;
    cfg.quality = f32::from(quality);
    cfg.method = 4; // libwebp's (and sharp's) default effort
    cfg.alpha_compression = 1;
    let mem = enc.encode_advanced(&cfg).map_err(|e| TransformError::Internal(format!("webp encoder: {e:?}")))?;
    Ok(mem.to_vec())
}

#[cfg(feature = "avif")]
fn avif(pixels: &[u8], w: u32, h: u32, layout: Layout, quality: u8) -> Result<Vec<u8>, TransformError> {
    use rgb::FromSlice;
    let enc = ravif::Encoder::new().with_quality(f32::from(quality)).with_speed(8);
    let img = match layout {
        Layout::Rgba => enc.encode_rgba(ravif::Img::new(pixels.as_rgba(), w as usize, h as usize)),
        Layout::Rgb => enc.encode_rgb(ravif::Img::new(pixels.as_rgb(), w as usize, h as usize)),
        l => return Err(TransformError::Internal(format!("avif encoder got {l:?}"))),
    };
    img.map(|r| r.avif_file).map_err(|e| TransformError::Internal(format!("avif encoder: {e}")))
}

#[cfg(not(feature = "avif"))]
fn avif(_: &[u8], _: u32, _: u32, _: Layout, _: u8) -> Result<Vec<u8>, TransformError> {
    Err(TransformError::FormatDisabled(Format::Avif))
}
