//! Geometry, decided from the header alone (no pixels): output size, the crop in source
//! coordinates and the JPEG shrink-on-load factor. Pure; the pixel steps only apply it.

use crate::spec::{Fit, Size};

/// A rectangle in (fractional) source pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// What to make, in display orientation (after EXIF rotation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    pub out_w: u32,
    pub out_h: u32,
    /// The part of the (display-oriented) source that becomes the output.
    pub crop: Rect,
}

/// Decide output size and crop for a `src_w`x`src_h` image (display orientation).
/// Without `upscale`, nothing is enlarged: a box larger than the image shrinks, keeping
/// its aspect ratio for cover, so a square thumbnail slot still gets a square.
pub fn plan(src_w: u32, src_h: u32, size: Size, fit: Fit, upscale: bool) -> Plan {
    let (sw, sh) = (f64::from(src_w.max(1)), f64::from(src_h.max(1)));
    let full = Rect { x: 0.0, y: 0.0, w: sw, h: sh };
    // One side 0: keep the aspect ratio; every fit is the same then.
    let (bw, bh) = match (size.w, size.h) {
        (0, h) => (sw * f64::from(h) / sh, f64::from(h)),
        (w, 0) => (f64::from(w), sh * f64::from(w) / sw),
        (w, h) => (f64::from(w), f64::from(h)),
    };
    let round = |v: f64| (v.round() as u32).max(1);
    match fit {
        _ if size.w == 0 || size.h == 0 || fit == Fit::Inside => {
            let mut scale = (bw / sw).min(bh / sh);
            if !upscale {
                scale = scale.min(1.0);
            }
            Plan {
                out_w: round(sw * scale).min(round(bw).max(1)),
                out_h: round(sh * scale).min(round(bh).max(1)),
                crop: full,
            }
        }
        Fit::Fill => {
            let (ow, oh) = if upscale { (bw, bh) } else { (bw.min(sw), bh.min(sh)) };
            Plan { out_w: round(ow), out_h: round(oh), crop: full }
        }
        Fit::Cover | Fit::Inside => {
            // Shrink the box uniformly until it is not larger than the image.
            let k = if upscale { 1.0 } else { (sw / bw).min(sh / bh).min(1.0) };
            let (ow, oh) = (round(bw * k), round(bh * k));
            let scale = (f64::from(ow) / sw).max(f64::from(oh) / sh);
            let (cw, ch) = ((f64::from(ow) / scale).min(sw), (f64::from(oh) / scale).min(sh));
            Plan { out_w: ow, out_h: oh, crop: Rect { x: (sw - cw) / 2.0, y: (sh - ch) / 2.0, w: cw, h: ch } }
        }
    }
}

/// Map a rectangle in display coordinates to the stored (pre-rotation) image of size
/// `sw`x`sh`, for EXIF orientation 1..=8 (see the table in `orient`).
pub fn to_stored(r: Rect, orientation: u8, sw: f64, sh: f64) -> Rect {
    let Rect { x, y, w, h } = r;
    match orientation {
        2 => Rect { x: sw - x - w, y, w, h },
        3 => Rect { x: sw - x - w, y: sh - y - h, w, h },
        4 => Rect { x, y: sh - y - h, w, h },
        5 => Rect { x: y, y: x, w: h, h: w },
        6 => Rect { x: y, y: sh - x - w, w: h, h: w },
        7 => Rect { x: sw - y - h, y: sh - x - w, w: h, h: w },
        8 => Rect { x: sw - y - h, y: x, w: h, h: w },
        _ => r,
    }
}

/// Whether an orientation swaps width and height.
pub fn swaps_axes(orientation: u8) -> bool {
    (5..=8).contains(&orientation)
}

/// Minimum factor left for the Lanczos step after JPEG shrink-on-load. libvips' thumbnail
/// leaves 2 (DCT scaling is a box filter); sharp's default `fastShrinkOnLoad` leaves 1.
/// Measured with SSIMULACRA2 against a full-decode reference (README, "Codec choices").
pub const RESIDUAL_SHRINK: f64 = 2.0;

/// JPEG shrink-on-load: the DCT scale denominator (1, 2, 4 or 8) for decoding a region of
/// `region_w`x`region_h` stored pixels that will be resized to `tw`x`th`: the largest whose
/// decode is still at least `RESIDUAL_SHRINK` times the target. The same rule for
/// progressive files, although their 1/8 decode is far cheaper (`scans`): going to 1/8
/// earlier cost SSIMULACRA2 points (README, "Progressive JPEG at 1/8").
pub fn jpeg_shrink(region_w: f64, region_h: f64, tw: u32, th: u32) -> u8 {
    match room_to_shrink(region_w, region_h, tw, th) {
        s if s >= 8.0 => 8,
        s if s >= 4.0 => 4,
        s if s >= 2.0 => 2,
        _ => 1,
    }
}

/// Shrink-on-load factor for a decoder that scales by any integer (libwebp): the largest
/// that leaves at least `RESIDUAL_SHRINK` for the Lanczos3 step, as for JPEG; at most 255.
pub fn integer_shrink(region_w: f64, region_h: f64, tw: u32, th: u32) -> u8 {
    room_to_shrink(region_w, region_h, tw, th).floor().clamp(1.0, 255.0) as u8
}

/// How much the decoder may shrink: the smaller axis ratio, less the residual factor.
fn room_to_shrink(region_w: f64, region_h: f64, tw: u32, th: u32) -> f64 {
    (region_w / f64::from(tw.max(1))).min(region_h / f64::from(th.max(1))) / RESIDUAL_SHRINK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cover_crops_centre() {
        let p = plan(4000, 2000, Size::new(100, 100), Fit::Cover, false);
        assert_eq!((p.out_w, p.out_h), (100, 100));
        assert_eq!(p.crop, Rect { x: 1000.0, y: 0.0, w: 2000.0, h: 2000.0 });
    }

    #[test]
    fn inside_keeps_aspect() {
        let p = plan(4000, 2000, Size::new(300, 300), Fit::Inside, false);
        assert_eq!((p.out_w, p.out_h), (300, 150));
        let p = plan(2000, 4000, Size::new(300, 0), Fit::Cover, false);
        assert_eq!((p.out_w, p.out_h), (300, 600));
    }

    #[test]
    fn fill_stretches() {
        let p = plan(4000, 2000, Size::new(100, 100), Fit::Fill, false);
        assert_eq!((p.out_w, p.out_h), (100, 100));
        assert_eq!(p.crop.w, 4000.0);
    }

    #[test]
    fn never_upscales_unless_asked() {
        let p = plan(80, 60, Size::new(100, 100), Fit::Cover, false);
        assert_eq!((p.out_w, p.out_h), (60, 60));
        let p = plan(80, 60, Size::new(100, 100), Fit::Inside, false);
        assert_eq!((p.out_w, p.out_h), (80, 60));
        let p = plan(80, 60, Size::new(100, 100), Fit::Fill, false);
        assert_eq!((p.out_w, p.out_h), (80, 60));
        let p = plan(80, 60, Size::new(100, 100), Fit::Cover, true);
        assert_eq!((p.out_w, p.out_h), (100, 100));
    }

    #[test]
    fn degenerate_inputs_give_at_least_one_pixel() {
        let p = plan(1, 10000, Size::new(100, 100), Fit::Inside, false);
        assert!(p.out_w >= 1 && p.out_h == 100);
        let p = plan(0, 0, Size::new(100, 100), Fit::Cover, false);
        assert!(p.out_w >= 1 && p.out_h >= 1);
    }

    #[test]
    fn shrink_leaves_a_factor_of_two_for_lanczos() {
        assert_eq!(jpeg_shrink(4000.0, 2666.0, 300, 200), 4);
        assert_eq!(jpeg_shrink(2000.0, 2000.0, 300, 300), 2);
        assert_eq!(jpeg_shrink(4000.0, 4000.0, 100, 100), 8);
        assert_eq!(jpeg_shrink(2725.0, 2225.0, 720, 588), 1);
        assert_eq!(jpeg_shrink(1000.0, 1000.0, 600, 600), 1);
    }

    #[test]
    fn stored_rect_maps_corners() {
        // A 10x20 stored image shown rotated (orientation 6) is 20x10; the display's
        // top-left 2x3 block comes from the stored bottom-left.
        let r = to_stored(Rect { x: 0.0, y: 0.0, w: 2.0, h: 3.0 }, 6, 10.0, 20.0);
        assert_eq!(r, Rect { x: 0.0, y: 18.0, w: 3.0, h: 2.0 });
        let r = to_stored(Rect { x: 0.0, y: 0.0, w: 2.0, h: 3.0 }, 8, 10.0, 20.0);
        assert_eq!(r, Rect { x: 7.0, y: 0.0, w: 3.0, h: 2.0 });
    }
}
