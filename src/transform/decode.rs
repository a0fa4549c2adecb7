//! Decode: sniff the format from the bytes (never the file name), read the header, check
//! the pixel limit, then decode: JPEG through libjpeg-turbo/mozjpeg with DCT scaling
//! (shrink-on-load), PNG/GIF/WebP through the image crate.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use image::{DynamicImage, ImageDecoder, ImageReader};

use super::TransformError;

/// Formats we decode, recognised by magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    Jpeg,
    Png,
    Gif,
    Webp,
}

pub fn sniff(data: &[u8]) -> Option<InputFormat> {
    match data {
        [0xFF, 0xD8, 0xFF, ..] => Some(InputFormat::Jpeg),
        [0x89, b'P', b'N', b'G', ..] => Some(InputFormat::Png),
        [b'G', b'I', b'F', b'8', ..] => Some(InputFormat::Gif),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some(InputFormat::Webp),
        _ => None,
    }
}

/// What the header says, before any pixel is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub format: InputFormat,
    /// Stored (pre-rotation) size.
    pub width: u32,
    pub height: u32,
    /// EXIF orientation, 1..=8.
    pub orientation: u8,
}

/// Channel layout of decoded 8-bit pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Gray,
    GrayAlpha,
    Rgb,
    Rgba,
    /// As stored by libjpeg; `inverted` for Adobe's (Photoshop's) CMYK JPEGs.
    Cmyk {
        inverted: bool,
    },
}

impl Layout {
    pub fn channels(self) -> usize {
        match self {
            Layout::Gray => 1,
            Layout::GrayAlpha => 2,
            Layout::Rgb => 3,
            Layout::Rgba | Layout::Cmyk { .. } => 4,
        }
    }
    pub fn has_alpha(self) -> bool {
        matches!(self, Layout::GrayAlpha | Layout::Rgba)
    }
}

/// Decoded pixels, possibly shrunk on load.
pub struct Decoded {
    pub pixels: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub layout: Layout,
    pub icc: Option<Vec<u8>>,
}

/// Decode `data`. `choose_shrink` sees the header first and answers the JPEG DCT scale
/// denominator (1, 2, 4, 8), or refuses the image (pixel limit) before any allocation.
pub fn decode(
    data: &[u8],
    max_pixels: u64,
    choose_shrink: impl FnOnce(&Header) -> Result<u8, TransformError>,
) -> Result<Decoded, TransformError> {
    match sniff(data).ok_or(TransformError::Unsupported)? {
        InputFormat::Jpeg => decode_jpeg(data, choose_shrink),
        f => decode_other(data, f, max_pixels, choose_shrink),
    }
}

/// Refuse before allocating: the limit is on the declared size.
pub fn check_pixels(w: u32, h: u32, max_pixels: u64) -> Result<(), TransformError> {
    if w == 0 || h == 0 {
        return Err(TransformError::Corrupt("zero width or height".into()));
    }
    if u64::from(w) * u64::from(h) > max_pixels {
        return Err(TransformError::TooManyPixels { width: w, height: h, limit: max_pixels });
    }
    Ok(())
}

fn decode_jpeg(
    data: &[u8],
    choose_shrink: impl FnOnce(&Header) -> Result<u8, TransformError>,
) -> Result<Decoded, TransformError> {
    // libjpeg reports fatal errors by unwinding (mozjpeg's error manager), and we turn its
    // warnings (truncated data, corrupt entropy) into errors too, as sharp's default
    // `failOn: 'warning'` does: a half-grey thumbnail must not be cached for a year.
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<Decoded, TransformError> {
        let markers = [mozjpeg::Marker::APP(1), mozjpeg::Marker::APP(2), mozjpeg::Marker::APP(14)];
        let mut d = mozjpeg::Decompress::builder()
            .with_err(strict_error_mgr())
            .with_markers(&markers)
            .from_mem(data)
            .map_err(|e| TransformError::Corrupt(e.to_string()))?;
        let (w, h) = (d.width() as u32, d.height() as u32);
        let mut orientation = 1;
        let mut icc_chunks: Vec<(u8, Vec<u8>)> = Vec::new();
        let mut adobe = false;
        for m in d.markers() {
            match m.marker {
                mozjpeg::Marker::APP(1) if m.data.starts_with(b"Exif\0\0") => {
                    orientation = exif_orientation(&m.data[6..]);
                }
                mozjpeg::Marker::APP(2) if m.data.len() > 14 && m.data.starts_with(b"ICC_PROFILE\0") => {
                    icc_chunks.push((m.data[12], m.data[14..].to_vec()));
                }
                mozjpeg::Marker::APP(14) if m.data.starts_with(b"Adobe") => adobe = true,
                _ => {}
            }
        }
        let header = Header { format: InputFormat::Jpeg, width: w, height: h, orientation };
        let shrink = choose_shrink(&header)?;
        d.scale(8 / shrink.clamp(1, 8));
        icc_chunks.sort_by_key(|c| c.0);
        let icc = (!icc_chunks.is_empty()).then(|| icc_chunks.into_iter().flat_map(|c| c.1).collect());
        let (mut started, layout) = match d.image().map_err(|e| TransformError::Corrupt(e.to_string()))? {
            mozjpeg::Format::RGB(s) => (s, Layout::Rgb),
            mozjpeg::Format::Gray(s) => (s, Layout::Gray),
            mozjpeg::Format::CMYK(s) => (s, Layout::Cmyk { inverted: adobe }),
        };
        let (ow, oh) = (started.width() as u32, started.height() as u32);
        let pixels: Vec<u8> = started.read_scanlines().map_err(|e| TransformError::Corrupt(e.to_string()))?;
        started.finish().map_err(|e| TransformError::Corrupt(e.to_string()))?;
        Ok(Decoded { pixels, width: ow, height: oh, layout, icc })
    }));
    match result {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "libjpeg error".into());
            Err(TransformError::Corrupt(msg))
        }
    }
}

/// libjpeg's error manager with warnings made fatal.
fn strict_error_mgr() -> mozjpeg_sys::jpeg_error_mgr {
    // SAFETY: a zeroed jpeg_error_mgr is what jpeg_std_error expects to fill in.
    let mut err: mozjpeg_sys::jpeg_error_mgr = unsafe { std::mem::zeroed() };
    unsafe { mozjpeg_sys::jpeg_std_error(&mut err) };
    err.error_exit = Some(fatal);
    err.emit_message = Some(on_message);
    err
}

extern "C-unwind" fn fatal(cinfo: &mut mozjpeg_sys::jpeg_common_struct) {
    std::panic::resume_unwind(Box::new(format!("libjpeg error {}", message_code(cinfo))));
}

extern "C-unwind" fn on_message(cinfo: &mut mozjpeg_sys::jpeg_common_struct, level: std::os::raw::c_int) {
    // level -1 is a warning about corrupt data; 0.. are trace messages.
    if level < 0 {
        std::panic::resume_unwind(Box::new(format!("corrupt JPEG data (libjpeg warning {})", message_code(cinfo))));
    }
}

fn message_code(cinfo: &mozjpeg_sys::jpeg_common_struct) -> i32 {
    // SAFETY: libjpeg always sets `err` before it can call back.
    unsafe { cinfo.err.as_ref().map_or(0, |e| e.msg_code) }
}

/// EXIF orientation from a TIFF block; 1 when absent or unreadable.
pub fn exif_orientation(tiff: &[u8]) -> u8 {
    exif::Reader::new()
        .read_raw(tiff.to_vec())
        .ok()
        .and_then(|e| e.get_field(exif::Tag::Orientation, exif::In::PRIMARY).and_then(|f| f.value.get_uint(0)))
        .filter(|o| (1..=8).contains(o))
        .map_or(1, |o| o as u8)
}

fn decode_other(
    data: &[u8],
    format: InputFormat,
    max_pixels: u64,
    choose_shrink: impl FnOnce(&Header) -> Result<u8, TransformError>,
) -> Result<Decoded, TransformError> {
    let corrupt = |e: image::ImageError| match e {
        image::ImageError::Limits(_) => TransformError::Corrupt(format!("declared size over limits: {e}")),
        e => TransformError::Corrupt(e.to_string()),
    };
    let fmt = match format {
        InputFormat::Png => image::ImageFormat::Png,
        InputFormat::Gif => image::ImageFormat::Gif,
        _ => image::ImageFormat::WebP,
    };
    let mut reader = ImageReader::with_format(Cursor::new(data), fmt);
    // A second line of defence behind the header check: the decoders refuse to allocate
    // more than a full RGBA16 frame of the largest allowed image.
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(max_pixels.saturating_mul(8).max(1 << 20));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let (w, h) = decoder.dimensions();
    check_pixels(w, h, max_pixels)?;
    let orientation = match decoder.orientation() {
        Ok(o) => orientation_number(o),
        Err(_) => 1,
    };
    let icc = decoder.icc_profile().ok().flatten();
    choose_shrink(&Header { format, width: w, height: h, orientation })?;
    let img = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    let (width, height) = (img.width(), img.height());
    let (pixels, layout) = match img {
        DynamicImage::ImageLuma8(b) => (b.into_raw(), Layout::Gray),
        DynamicImage::ImageLumaA8(b) => (b.into_raw(), Layout::GrayAlpha),
        DynamicImage::ImageRgb8(b) => (b.into_raw(), Layout::Rgb),
        DynamicImage::ImageRgba8(b) => (b.into_raw(), Layout::Rgba),
        DynamicImage::ImageLuma16(_) => (img.into_luma8().into_raw(), Layout::Gray),
        DynamicImage::ImageLumaA16(_) => (img.into_luma_alpha8().into_raw(), Layout::GrayAlpha),
        i if i.color().has_alpha() => (i.into_rgba8().into_raw(), Layout::Rgba),
        i => (i.into_rgb8().into_raw(), Layout::Rgb),
    };
    Ok(Decoded { pixels, width, height, layout, icc })
}

fn orientation_number(o: image::metadata::Orientation) -> u8 {
    use image::metadata::Orientation::*;
    match o {
        NoTransforms => 1,
        FlipHorizontal => 2,
        Rotate180 => 3,
        FlipVertical => 4,
        Rotate90FlipH => 5,
        Rotate90 => 6,
        Rotate270FlipH => 7,
        Rotate270 => 8,
    }
}
