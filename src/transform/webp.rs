//! WebP decoding through libwebp (the reference decoder, as libvips and sharp use), with
//! its scaled decoding: for a thumbnail, libwebp's rescaler averages the decoded rows down
//! while it decodes, so the full-size frame never exists (the same role as JPEG's DCT
//! scaling). Metadata comes from the RIFF container's `EXIF` and `ICCP` chunks
//! (<https://developers.google.com/speed/webp/docs/riff_container>). Animated WebP is
//! not decoded here (libwebp's still-image API refuses it); `decode` gives it to the image
//! crate, which reads its first frame.

use libwebp_sys as sys;

use super::decode::{check_pixels, exif_orientation, DecodeStage, Decoded, Header, InputFormat, Layout};
use super::TransformError;

fn corrupt(stage: DecodeStage, status: sys::VP8StatusCode) -> TransformError {
    let message = match status {
        sys::VP8StatusCode::VP8_STATUS_OUT_OF_MEMORY => "libwebp: out of memory",
        sys::VP8StatusCode::VP8_STATUS_INVALID_PARAM => "libwebp: invalid parameter",
        sys::VP8StatusCode::VP8_STATUS_BITSTREAM_ERROR => "libwebp: bitstream error (corrupt data)",
        sys::VP8StatusCode::VP8_STATUS_UNSUPPORTED_FEATURE => "libwebp: unsupported feature",
        sys::VP8StatusCode::VP8_STATUS_SUSPENDED => "libwebp: decoding suspended",
        sys::VP8StatusCode::VP8_STATUS_USER_ABORT => "libwebp: decoding aborted",
        sys::VP8StatusCode::VP8_STATUS_NOT_ENOUGH_DATA => "libwebp: not enough data (truncated file)",
        sys::VP8StatusCode::VP8_STATUS_OK => "libwebp: no error",
    };
    TransformError::Corrupt { format: InputFormat::Webp, stage, message: message.into() }
}

/// True for an animated WebP (VP8X with the animation flag), which the caller decodes
/// elsewhere.
pub fn is_animated(data: &[u8]) -> bool {
    let mut f: sys::WebPBitstreamFeatures = unsafe { std::mem::zeroed() };
    // SAFETY: data is a valid slice; f is a plain C struct.
    let ok = unsafe { sys::WebPGetFeatures(data.as_ptr(), data.len(), &mut f) } == sys::VP8StatusCode::VP8_STATUS_OK;
    ok && f.has_animation != 0
}

/// The payloads of the RIFF container's top-level chunks, by FourCC.
fn chunks(data: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut at = 12;
    std::iter::from_fn(move || {
        let head = data.get(at..at + 8)?;
        let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let payload = data.get(at + 8..at + 8 + size)?;
        at += 8 + size + (size & 1);
        Some((&head[..4], payload))
    })
}

/// Decode a still WebP. `choose_shrink` sees the header and answers an integer factor;
/// the pixels come back at `ceil(width / factor) x ceil(height / factor)`.
pub fn decode(
    data: &[u8],
    max_pixels: u64,
    choose_shrink: impl FnOnce(&Header) -> Result<u8, TransformError>,
) -> Result<Decoded, TransformError> {
    let mut config: sys::WebPDecoderConfig = unsafe { std::mem::zeroed() };
    // SAFETY: WebPInitDecoderConfig fills the zeroed struct (ABI version checked inside).
    if !unsafe { sys::WebPInitDecoderConfig(&mut config) } {
        return Err(TransformError::Internal("libwebp: decoder ABI mismatch".into()));
    }
    let status = unsafe { sys::WebPGetFeatures(data.as_ptr(), data.len(), &mut config.input) };
    if status != sys::VP8StatusCode::VP8_STATUS_OK {
        return Err(corrupt(DecodeStage::Header, status));
    }
    let (w, h) = (config.input.width as u32, config.input.height as u32);
    check_pixels(InputFormat::Webp, w, h, max_pixels)?;
    let mut orientation = 1;
    let mut icc = None;
    for (fourcc, payload) in chunks(data) {
        match fourcc {
            // Some writers keep JPEG's "Exif\0\0" prefix in front of the TIFF block.
            b"EXIF" => orientation = exif_orientation(payload.strip_prefix(b"Exif\0\0").unwrap_or(payload)),
            b"ICCP" => icc = Some(payload.to_vec()),
            _ => {}
        }
    }
    let shrink =
        u32::from(choose_shrink(&Header { format: InputFormat::Webp, width: w, height: h, orientation })?.max(1));
    let (sw, sh) = (w.div_ceil(shrink), h.div_ceil(shrink));
    let (layout, mode) = if config.input.has_alpha != 0 {
        (Layout::Rgba, sys::WEBP_CSP_MODE::MODE_RGBA)
    } else {
        (Layout::Rgb, sys::WEBP_CSP_MODE::MODE_RGB)
    };
    let stride = sw as usize * layout.channels();
    // Decoded straight into our buffer (libwebp's "external memory"): no copy afterwards.
    let mut pixels = vec![0u8; stride * sh as usize];
    if shrink > 1 {
        config.options.use_scaling = 1;
        config.options.scaled_width = sw as i32;
        config.options.scaled_height = sh as i32;
    }
    config.output.colorspace = mode;
    config.output.is_external_memory = 1;
    config.output.u.RGBA = sys::WebPRGBABuffer { rgba: pixels.as_mut_ptr(), stride: stride as i32, size: pixels.len() };
    // SAFETY: the output buffer is ours, `stride * sh` bytes, alive for the call.
    let status = unsafe { sys::WebPDecode(data.as_ptr(), data.len(), &mut config) };
    unsafe { sys::WebPFreeDecBuffer(&mut config.output) };
    if status != sys::VP8StatusCode::VP8_STATUS_OK {
        return Err(corrupt(DecodeStage::Pixels, status));
    }
    Ok(Decoded { pixels, width: sw, height: sh, layout, icc, warnings: Vec::new(), skipped_bytes: 0 })
}
