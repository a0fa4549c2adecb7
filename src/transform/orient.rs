//! Apply an EXIF orientation to a pixel buffer. Runs on the resized output (small), not
//! the decoded input: the crop was mapped into stored coordinates instead.
//!
//! | EXIF | display pixel (x, y) comes from stored pixel |
//! |------|----------------------------------------------|
//! | 1    | (x, y)                                       |
//! | 2    | (W-1-x, y)            mirror                 |
//! | 3    | (W-1-x, H-1-y)        rotate 180             |
//! | 4    | (x, H-1-y)            flip                   |
//! | 5    | (y, x)                transpose              |
//! | 6    | (y, H-1-x)            rotate 90 clockwise    |
//! | 7    | (W-1-y, H-1-x)        transverse             |
//! | 8    | (W-1-y, x)            rotate 90 anticlockwise|

/// Returns the oriented buffer and its (display) width and height.
pub fn orient(src: Vec<u8>, w: u32, h: u32, channels: usize, orientation: u8) -> (Vec<u8>, u32, u32) {
    if !(2..=8).contains(&orientation) {
        return (src, w, h);
    }
    let (sw, sh) = (w as usize, h as usize);
    let (dw, dh) = if super::plan::swaps_axes(orientation) { (sh, sw) } else { (sw, sh) };
    let mut dst = vec![0u8; src.len()];
    for y in 0..dh {
        for x in 0..dw {
            let (sx, sy) = match orientation {
                2 => (sw - 1 - x, y),
                3 => (sw - 1 - x, sh - 1 - y),
                4 => (x, sh - 1 - y),
                5 => (y, x),
                6 => (y, sh - 1 - x),
                7 => (sw - 1 - y, sh - 1 - x),
                _ => (sw - 1 - y, x),
            };
            let s = (sy * sw + sx) * channels;
            let d = (y * dw + x) * channels;
            dst[d..d + channels].copy_from_slice(&src[s..s + channels]);
        }
    }
    (dst, dw as u32, dh as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 3x2 stored image, pixel value = index.
    fn img() -> Vec<u8> {
        vec![0, 1, 2, 3, 4, 5]
    }

    #[test]
    fn all_eight() {
        let cases: [(u8, &[u8], u32); 8] = [
            (1, &[0, 1, 2, 3, 4, 5], 3),
            (2, &[2, 1, 0, 5, 4, 3], 3),
            (3, &[5, 4, 3, 2, 1, 0], 3),
            (4, &[3, 4, 5, 0, 1, 2], 3),
            (5, &[0, 3, 1, 4, 2, 5], 2),
            (6, &[3, 0, 4, 1, 5, 2], 2),
            (7, &[5, 2, 4, 1, 3, 0], 2),
            (8, &[2, 5, 1, 4, 0, 3], 2),
        ];
        for (o, want, w) in cases {
            let (got, dw, _) = orient(img(), 3, 2, 1, o);
            assert_eq!((got.as_slice(), dw), (want, w), "orientation {o}");
        }
    }
}
