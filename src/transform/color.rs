//! Colour: CMYK and embedded ICC profiles to sRGB, alpha flattening. Runs after the
//! resize, on the small output, as libvips' thumbnail does: it is the costly per-pixel
//! step and the result differs little from converting first.

use moxcms::{ColorProfile, Layout as CmsLayout, TransformOptions};

use super::decode::Layout;

/// Convert to sRGB (Gray/GrayAlpha/Rgb/Rgba out). Profiles that do not parse are ignored,
/// as browsers do, rather than failing the image.
pub fn to_srgb(pixels: Vec<u8>, layout: Layout, icc: Option<&[u8]>) -> (Vec<u8>, Layout) {
    let profile = icc.and_then(|p| ColorProfile::new_from_slice(p).ok());
    match layout {
        Layout::Cmyk => {
            // Adobe-inverted as decoded; an ICC CMYK profile counts ink up from 0, so only
            // that path un-inverts (`naive_cmyk` reads the inverted values directly).
            let via_icc = profile.filter(|p| p.color_space == moxcms::DataColorSpace::Cmyk).and_then(|p| {
                let plain: Vec<u8> = pixels.iter().map(|v| 255 - v).collect();
                transform(&p, &plain, CmsLayout::Rgba, CmsLayout::Rgb)
            });
            (via_icc.unwrap_or_else(|| naive_cmyk(&pixels)), Layout::Rgb)
        }
        Layout::Rgb | Layout::Rgba => {
            let l = if layout == Layout::Rgb { CmsLayout::Rgb } else { CmsLayout::Rgba };
            let converted = profile
                .filter(|p| p.color_space == moxcms::DataColorSpace::Rgb && !is_srgb(p))
                .and_then(|p| transform(&p, &pixels, l, l));
            (converted.unwrap_or(pixels), layout)
        }
        _ => (pixels, layout),
    }
}

fn is_srgb(p: &ColorProfile) -> bool {
    let s = ColorProfile::new_srgb();
    let near = |a: moxcms::Xyzd, b: moxcms::Xyzd| {
        (a.x - b.x).abs() < 1e-3 && (a.y - b.y).abs() < 1e-3 && (a.z - b.z).abs() < 1e-3
    };
    near(p.red_colorant, s.red_colorant)
        && near(p.green_colorant, s.green_colorant)
        && near(p.blue_colorant, s.blue_colorant)
}

fn transform(p: &ColorProfile, src: &[u8], from: CmsLayout, to: CmsLayout) -> Option<Vec<u8>> {
    let srgb = ColorProfile::new_srgb();
    let t = p.create_transform_8bit(from, &srgb, to, TransformOptions::default()).ok()?;
    let px = src.len() / from.channels();
    let mut out = vec![0u8; px * to.channels()];
    t.transform(src, &mut out).ok()?;
    Some(out)
}

/// Adobe-inverted CMYK (255 = no ink) to RGB without a profile: R = (1 - C)(1 - K), which
/// on inverted samples is R = C' K' / 255, the formula
/// Chromium's and Firefox's JPEG decoders use, so an untagged CMYK JPEG looks as it does
/// in a browser. (A press profile, libvips' fallback, renders pure cyan as about
/// (0, 153, 227) instead of (0, 255, 255); the freely available ones are GPL or AGPL
/// licensed and not bundled.)
fn naive_cmyk(cmyk: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(cmyk.len() / 4 * 3);
    for p in cmyk.chunks_exact(4) {
        let k = u32::from(p[3]);
        for &c in &p[..3] {
            out.push((u32::from(c) * k / 255) as u8);
        }
    }
    out
}

/// Composite over white, for formats without alpha (JPEG).
pub fn flatten(pixels: Vec<u8>, layout: Layout) -> (Vec<u8>, Layout) {
    let over_white = |c: u8, a: u8| ((u32::from(c) * u32::from(a) + 255 * (255 - u32::from(a)) + 127) / 255) as u8;
    match layout {
        Layout::Rgba => {
            let out = pixels
                .chunks_exact(4)
                .flat_map(|p| [over_white(p[0], p[3]), over_white(p[1], p[3]), over_white(p[2], p[3])])
                .collect();
            (out, Layout::Rgb)
        }
        Layout::GrayAlpha => (pixels.chunks_exact(2).map(|p| over_white(p[0], p[1])).collect(), Layout::Gray),
        l => (pixels, l),
    }
}

/// Expand gray to RGB(A), for encoders without a gray mode (WebP, AVIF).
pub fn expand_gray(pixels: Vec<u8>, layout: Layout) -> (Vec<u8>, Layout) {
    match layout {
        Layout::Gray => (pixels.iter().flat_map(|&g| [g, g, g]).collect(), Layout::Rgb),
        Layout::GrayAlpha => (pixels.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0], p[1]]).collect(), Layout::Rgba),
        l => (pixels, l),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmyk_without_profile() {
        // Adobe-inverted: stored 255 = no ink. White, then pure cyan, then black (K).
        let stored = vec![255, 255, 255, 255, 0, 255, 255, 255, 255, 255, 255, 0];
        let (rgb, l) = to_srgb(stored, Layout::Cmyk, None);
        assert_eq!(l, Layout::Rgb);
        assert_eq!(rgb, vec![255, 255, 255, 0, 255, 255, 0, 0, 0]);
    }

    #[test]
    fn flatten_over_white() {
        let (rgb, _) = flatten(vec![0, 0, 0, 0, 0, 0, 0, 255, 255, 0, 0, 128], Layout::Rgba);
        assert_eq!(rgb, vec![255, 255, 255, 0, 0, 0, 255, 127, 127]);
    }
}
