//! Resize with fast_image_resize (SIMD: AVX2/SSE4.1/NEON), Lanczos3, alpha premultiplied
//! by the resizer so transparent pixels do not bleed dark fringes.

use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use super::decode::Layout;
use super::plan::Rect;
use super::TransformError;

/// Resize the `crop` of a `w`x`h` buffer to `tw`x`th`.
pub fn resize(
    pixels: Vec<u8>,
    w: u32,
    h: u32,
    layout: Layout,
    crop: Rect,
    tw: u32,
    th: u32,
) -> Result<Vec<u8>, TransformError> {
    let full = crop.x == 0.0 && crop.y == 0.0 && crop.w == f64::from(w) && crop.h == f64::from(h);
    if full && (tw, th) == (w, h) {
        return Ok(pixels);
    }
    let pt = match layout {
        Layout::Gray => PixelType::U8,
        Layout::GrayAlpha => PixelType::U8x2,
        Layout::Rgb => PixelType::U8x3,
        Layout::Rgba | Layout::Cmyk => PixelType::U8x4,
    };
    let internal = |e: &dyn std::fmt::Display| TransformError::Internal(format!("resize: {e}"));
    let src = Image::from_vec_u8(w, h, pixels, pt).map_err(|e| internal(&e))?;
    let mut dst = Image::new(tw, th, pt);
    let opts = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .crop(crop.x, crop.y, crop.w, crop.h)
        // CMYK's fourth channel is K, not alpha.
        .use_alpha(layout.has_alpha());
    Resizer::new().resize(&src, &mut dst, &opts).map_err(|e| internal(&e))?;
    Ok(dst.into_vec())
}
