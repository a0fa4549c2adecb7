//! Animated GIF and WebP originals to animated WebP, frame by frame.
//!
//! The decoders hand over each frame as the whole composited canvas (GIF disposal and WebP
//! blending already applied), so every frame is resized with the still path's plan and
//! libwebp's `WebPAnimEncoder` stores only what changed between frames. An animation over
//! `max_animation_frames` frames or `max_animation_pixels` decoded pixels is not animated:
//! the caller makes a still of the first frame, as imgproxy does past `MAX_ANIMATION_FRAMES`.

use std::io::Cursor;

use image::codecs::gif::GifDecoder;
use image::codecs::webp::WebPDecoder;
use image::{AnimationDecoder, ImageDecoder};
use libwebp_sys as sys;

use super::decode::{check_pixels, DecodeStage, InputFormat, Layout};
use super::{plan, resize, Options, TransformError};

/// Resized frames of an animation and how long each is shown.
pub struct Frames {
    pub width: u32,
    pub height: u32,
    /// RGBA, `width` x `height` each.
    pub rgba: Vec<Vec<u8>>,
    pub delays_ms: Vec<u32>,
}

/// Browsers show GIF frames of 10 ms or less for 100 ms (a GIF delay of 0 or 1 centisecond
/// means "as fast as the old viewers could", which was about that); WebP has no such rule,
/// so the animated WebP carries the delay browsers actually show.
const GIF_MIN_DELAY_MS: u32 = 10;
const GIF_SHOWN_DELAY_MS: u32 = 100;

/// Decode and resize every frame of an animated GIF or WebP. `Ok(None)`: not an animation
/// (one frame, another format) or over a limit, so the still path should run instead.
pub fn frames(input: &[u8], format: InputFormat, o: &Options) -> Result<Option<Frames>, TransformError> {
    let corrupt = |stage| move |e: image::ImageError| TransformError::Corrupt { format, stage, message: e.to_string() };
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(o.max_pixels.saturating_mul(8).max(1 << 20));
    let (canvas, frames) = match format {
        InputFormat::Gif => {
            let mut d = GifDecoder::new(Cursor::new(input)).map_err(corrupt(DecodeStage::Header))?;
            d.set_limits(limits).map_err(corrupt(DecodeStage::Header))?;
            (d.dimensions(), d.into_frames())
        }
        InputFormat::Webp => {
            let mut d = WebPDecoder::new(Cursor::new(input)).map_err(corrupt(DecodeStage::Header))?;
            if !d.has_animation() {
                return Ok(None);
            }
            d.set_limits(limits).map_err(corrupt(DecodeStage::Header))?;
            (d.dimensions(), d.into_frames())
        }
        _ => return Ok(None),
    };
    let (cw, ch) = canvas;
    check_pixels(format, cw, ch, o.max_pixels)?;
    let p = plan::plan(cw, ch, o.size, o.fit, o.upscale);
    let mut out = Frames { width: p.out_w, height: p.out_h, rgba: Vec::new(), delays_ms: Vec::new() };
    let mut decoded: u64 = 0;
    for frame in frames {
        decoded += u64::from(cw) * u64::from(ch);
        if out.rgba.len() >= o.max_animation_frames as usize || decoded > o.max_animation_pixels {
            return Ok(None);
        }
        let frame = frame.map_err(corrupt(DecodeStage::Pixels))?;
        let (num, den) = frame.delay().numer_denom_ms();
        let mut delay = num / den.max(1);
        if format == InputFormat::Gif && delay <= GIF_MIN_DELAY_MS {
            delay = GIF_SHOWN_DELAY_MS;
        }
        let buf = frame.into_buffer();
        if buf.dimensions() != canvas {
            return Err(TransformError::Internal(format!("frame is {:?}, canvas {canvas:?}", buf.dimensions())));
        }
        out.rgba.push(resize::resize(buf.into_raw(), cw, ch, Layout::Rgba, p.crop, p.out_w, p.out_h)?);
        out.delays_ms.push(delay.max(1));
    }
    Ok((out.rgba.len() > 1).then_some(out))
}

/// Encode frames as a lossy animated WebP that loops forever (the decoders do not expose a
/// GIF's loop count; nearly every animated GIF loops forever).
pub fn encode_webp(f: &Frames, quality: u8) -> Result<Vec<u8>, TransformError> {
    let err = |what: &str| TransformError::Internal(format!("webp animation encoder: {what}"));
    let (w, h) =
        (i32::try_from(f.width).map_err(|_| err("width"))?, i32::try_from(f.height).map_err(|_| err("height"))?);
    let mut config = webp::WebPConfig::new().map_err(|_| err("config"))?;
    config.quality = f32::from(quality);
    config.method = 4; // as for stills: libwebp's and sharp's default effort
    config.alpha_compression = 1;
    // SAFETY: every pointer handed to libwebp lives until the call returns; the encoder is
    // deleted by `Encoder`'s Drop, each picture freed right after it is added, and the
    // assembled bytes copied out before libwebp frees them.
    unsafe {
        let mut opts = std::mem::MaybeUninit::<sys::WebPAnimEncoderOptions>::zeroed();
        if sys::WebPAnimEncoderOptionsInitInternal(opts.as_mut_ptr(), sys::WEBP_MUX_ABI_VERSION as i32) == 0 {
            return Err(err("options (libwebp version mismatch)"));
        }
        let mut opts = opts.assume_init();
        opts.anim_params.loop_count = 0;
        let enc = Encoder(sys::WebPAnimEncoderNewInternal(w, h, &opts, sys::WEBP_MUX_ABI_VERSION as i32));
        if enc.0.is_null() {
            return Err(err("out of memory"));
        }
        let mut timestamp: i32 = 0;
        for (rgba, delay) in f.rgba.iter().zip(&f.delays_ms) {
            let mut pic = sys::WebPPicture::new().map_err(|_| err("picture"))?;
            pic.use_argb = 1;
            pic.width = w;
            pic.height = h;
            if sys::WebPPictureImportRGBA(&mut pic, rgba.as_ptr(), w * 4) == 0 {
                sys::WebPPictureFree(&mut pic);
                return Err(err("importing a frame"));
            }
            let ok = sys::WebPAnimEncoderAdd(enc.0, &mut pic, timestamp, &config);
            sys::WebPPictureFree(&mut pic);
            if ok == 0 {
                return Err(err(&enc.error()));
            }
            timestamp = timestamp.saturating_add(i32::try_from(*delay).unwrap_or(i32::MAX));
        }
        // The end time of the last frame, which gives its duration.
        if sys::WebPAnimEncoderAdd(enc.0, std::ptr::null_mut(), timestamp, std::ptr::null()) == 0 {
            return Err(err(&enc.error()));
        }
        let mut data = sys::WebPData::default();
        if sys::WebPAnimEncoderAssemble(enc.0, &mut data) == 0 {
            return Err(err(&enc.error()));
        }
        let bytes = std::slice::from_raw_parts(data.bytes, data.size).to_vec();
        sys::WebPDataClear(&mut data);
        Ok(bytes)
    }
}

/// Owns a `WebPAnimEncoder`.
struct Encoder(*mut sys::WebPAnimEncoder);

impl Encoder {
    fn error(&self) -> String {
        // SAFETY: the encoder is live; libwebp returns a static or encoder-owned C string.
        let p = unsafe { sys::WebPAnimEncoderGetError(self.0) };
        if p.is_null() {
            return "unknown error".into();
        }
        unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: created by WebPAnimEncoderNew, deleted once.
        unsafe { sys::WebPAnimEncoderDelete(self.0) }
    }
}
