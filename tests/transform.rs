//! The transform core on every fixture's hard case, with assertions on pixels and sizes.

use edge_resize::spec::{Fit, Format, Size};
use edge_resize::transform::decode::Undecoded;
use edge_resize::transform::{run, Options, TransformError};

mod common;
#[cfg(feature = "avif")]
use common::pillow_avif;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/fixtures/image/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn opts(w: u32, h: u32, fit: Fit, format: Format) -> Options {
    Options {
        quality: 90,
        max_animation_pixels: 50_000_000,
        ..Options::from_config(Size::new(w, h), fit, format, &edge_resize::Config::default())
    }
}

/// Decode an output with the image crate (an independent decoder) to RGBA.
fn pixels(bytes: &[u8]) -> image::RgbaImage {
    image::load_from_memory(bytes).expect("output decodes").to_rgba8()
}

fn near(a: [u8; 4], b: [u8; 4], tol: i32) -> bool {
    a.iter().zip(b).all(|(&x, y)| (i32::from(x) - i32::from(y)).abs() <= tol)
}

#[test]
fn photo_cover_to_square_jpeg() {
    let out = run(&fixture("coffee.jpg"), &opts(100, 100, Fit::Cover, Format::Jpeg)).unwrap();
    assert_eq!((out.width, out.height), (100, 100));
    assert!(out.bytes.starts_with(&[0xFF, 0xD8]));
    let img = pixels(&out.bytes);
    assert_eq!(img.dimensions(), (100, 100));
    // No metadata: no APP1 (EXIF) or APP2 (ICC) segment is written.
    assert!(!out.bytes.windows(4).any(|w| w == b"Exif"));
}

#[test]
fn inside_and_fill_and_no_upscale() {
    let out = run(&fixture("coffee.jpg"), &opts(300, 300, Fit::Inside, Format::Png)).unwrap();
    assert_eq!((out.width, out.height), (300, 200));
    assert_eq!(pixels(&out.bytes).dimensions(), (300, 200));
    let out = run(&fixture("coffee.jpg"), &opts(100, 300, Fit::Fill, Format::Webp)).unwrap();
    assert_eq!(pixels(&out.bytes).dimensions(), (100, 300));
    // 600x400 into 1280x720 cover, no upscale: the box shrinks to 600x338.
    let out = run(&fixture("coffee.jpg"), &opts(1280, 720, Fit::Cover, Format::Jpeg)).unwrap();
    assert_eq!((out.width, out.height), (600, 338));
}

#[test]
fn all_eight_orientations_display_upright() {
    for o in 1..=8 {
        let out = run(&fixture(&format!("orient-{o}.jpg")), &opts(32, 24, Fit::Fill, Format::Png)).unwrap();
        let img = pixels(&out.bytes);
        assert_eq!(img.dimensions(), (32, 24), "orientation {o}");
        let at = |x, y| img.get_pixel(x, y).0;
        assert!(near(at(4, 4), [255, 0, 0, 255], 40), "orientation {o}: top-left {:?}", at(4, 4));
        assert!(near(at(27, 4), [0, 255, 0, 255], 40), "orientation {o}: top-right {:?}", at(27, 4));
        assert!(near(at(4, 19), [0, 0, 255, 255], 40), "orientation {o}: bottom-left {:?}", at(4, 19));
        assert!(near(at(27, 19), [255, 255, 255, 255], 40), "orientation {o}: bottom-right {:?}", at(27, 19));
    }
}

#[test]
fn alpha_is_premultiplied_no_dark_fringe() {
    let out = run(&fixture("alpha.png"), &opts(50, 25, Fit::Fill, Format::Png)).unwrap();
    let img = pixels(&out.bytes);
    let mut partial = 0;
    for p in img.pixels() {
        let [r, g, b, a] = p.0;
        if a > 0 {
            assert!(r >= 250 && g >= 250 && b >= 250, "dark fringe: {:?}", p.0);
        }
        if a > 0 && a < 255 {
            partial += 1;
        }
    }
    assert!(partial > 0, "the edge should be soft");
    // Flattened onto white for JPEG: the transparent half becomes white, not black.
    let out = run(&fixture("alpha.png"), &opts(50, 25, Fit::Fill, Format::Jpeg)).unwrap();
    assert!(near(pixels(&out.bytes).get_pixel(2, 12).0, [255, 255, 255, 255], 6));
}

#[test]
fn cmyk_becomes_srgb() {
    let out = run(&fixture("cmyk.jpg"), &opts(40, 20, Fit::Fill, Format::Png)).unwrap();
    let img = pixels(&out.bytes);
    assert!(near(img.get_pixel(5, 10).0, [0, 255, 255, 255], 20), "cyan: {:?}", img.get_pixel(5, 10));
    assert!(near(img.get_pixel(35, 10).0, [255, 0, 255, 255], 20), "magenta: {:?}", img.get_pixel(35, 10));
}

#[test]
fn grayscale_and_16_bit() {
    let out = run(&fixture("gray.jpg"), &opts(60, 40, Fit::Fill, Format::Jpeg)).unwrap();
    let img = image::load_from_memory(&out.bytes).unwrap();
    assert_eq!(img.color(), image::ColorType::L8, "gray stays one channel");
    // The ramp runs dark (left) to light (right).
    let g = img.to_luma8();
    assert!(g.get_pixel(2, 20).0[0] + 100 < g.get_pixel(57, 20).0[0]);

    let out = run(&fixture("gray16.png"), &opts(48, 32, Fit::Fill, Format::Png)).unwrap();
    assert_eq!(image::load_from_memory(&out.bytes).unwrap().color(), image::ColorType::L8);
    let out = run(&fixture("rgb16.png"), &opts(48, 32, Fit::Fill, Format::Png)).unwrap();
    let img = pixels(&out.bytes);
    // Red runs 0..max left to right, green top to bottom, blue is mid-grey.
    assert!(img.get_pixel(1, 16).0[0] < 20 && img.get_pixel(46, 16).0[0] > 235);
    assert!(img.get_pixel(24, 1).0[1] < 20 && img.get_pixel(24, 30).0[1] > 235);
    assert!((i32::from(img.get_pixel(24, 16).0[2]) - 128).abs() <= 2);
}

#[test]
fn animated_gif_gives_first_frame() {
    let out = run(&fixture("animated.gif"), &opts(30, 20, Fit::Cover, Format::Png)).unwrap();
    let img = pixels(&out.bytes);
    assert_eq!(img.dimensions(), (30, 20));
    assert!(near(img.get_pixel(15, 10).0, [255, 0, 0, 255], 2));
}

/// Frames of an animated WebP through the image crate's decoder (not libwebp): size,
/// delay in ms and the centre pixel of each.
fn webp_frames(bytes: &[u8]) -> Vec<((u32, u32), u32, [u8; 4])> {
    use image::AnimationDecoder;
    let d = image::codecs::webp::WebPDecoder::new(std::io::Cursor::new(bytes)).unwrap();
    assert!(d.has_animation(), "not an animated WebP");
    d.into_frames()
        .map(|f| {
            let f = f.unwrap();
            let (n, den) = f.delay().numer_denom_ms();
            let b = f.into_buffer();
            (b.dimensions(), n / den, b.get_pixel(b.width() / 2, b.height() / 2).0)
        })
        .collect()
}

#[test]
fn animated_gif_to_animated_webp_keeps_frames_and_timing() {
    let out = run(&fixture("animated.gif"), &opts(30, 20, Fit::Cover, Format::Webp)).unwrap();
    assert_eq!((out.width, out.height), (30, 20));
    let frames = webp_frames(&out.bytes);
    assert_eq!(frames.len(), 2);
    assert!(frames.iter().all(|f| f.0 == (30, 20) && f.1 == 100), "{frames:?}");
    assert!(near(frames[0].2, [255, 0, 0, 255], 8) && near(frames[1].2, [0, 0, 255, 255], 8), "{frames:?}");
}

#[test]
fn animated_webp_to_animated_webp_keeps_each_delay() {
    let out = run(&fixture("animated.webp"), &opts(20, 20, Fit::Cover, Format::Webp)).unwrap();
    let frames = webp_frames(&out.bytes);
    let delays: Vec<u32> = frames.iter().map(|f| f.1).collect();
    assert_eq!(delays, [80, 120, 200]);
    assert!(frames.iter().all(|f| f.0 == (20, 20)));
    assert!(near(frames[1].2, [0, 255, 0, 255], 12), "{frames:?}");
}

#[test]
fn animation_limits_fall_back_to_the_first_frame() {
    let mut o = opts(30, 20, Fit::Cover, Format::Webp);
    o.max_animation_frames = 2;
    let out = run(&fixture("animated.webp"), &o).unwrap();
    let d = image::codecs::webp::WebPDecoder::new(std::io::Cursor::new(&out.bytes)).unwrap();
    assert!(!d.has_animation(), "3 frames over a limit of 2: a still");
    assert!(near(pixels(&out.bytes).get_pixel(15, 10).0, [255, 0, 0, 255], 8));
    let mut o = opts(30, 20, Fit::Cover, Format::Webp);
    o.max_animation_pixels = 60 * 40 * 2 - 1; // the 60x40 GIF's two frames are one pixel over
    let out = run(&fixture("animated.gif"), &o).unwrap();
    assert_eq!(pixels(&out.bytes).dimensions(), (30, 20));
    assert!(!image::codecs::webp::WebPDecoder::new(std::io::Cursor::new(&out.bytes)).unwrap().has_animation());
    // Other outputs are stills of the first frame, as before.
    let out = run(&fixture("animated.webp"), &opts(30, 20, Fit::Cover, Format::Png)).unwrap();
    assert!(near(pixels(&out.bytes).get_pixel(15, 10).0, [255, 0, 0, 255], 8));
}

#[test]
fn animation_over_budget_is_flagged_not_reencoded() {
    let mut o = opts(60, 40, Fit::Cover, Format::Webp);
    o.budget = Some(50);
    let out = run(&fixture("animated.webp"), &o).unwrap();
    assert!(!out.fits_budget && out.quality == 90, "{} bytes at q{}", out.bytes.len(), out.quality);
    assert_eq!(webp_frames(&out.bytes).len(), 3, "still animated: the 302 path takes it");
}

#[cfg(feature = "avif")]
#[test]
fn avif_out_decodes_to_the_planned_size_and_colours() {
    let out = run(&fixture("orient-6.jpg"), &opts(32, 24, Fit::Cover, Format::Avif)).unwrap();
    assert_eq!(&out.bytes[4..12], b"ftypavif");
    assert_eq!((out.width, out.height), (32, 24));
    let (size, _) = pillow_avif(&out.bytes, (0, 0));
    assert_eq!(size, (32, 24));
    // Upright quadrants: the top-left is red, through EXIF rotation and AV1.
    let out = run(&fixture("orient-6.jpg"), &opts(64, 48, Fit::Cover, Format::Avif)).unwrap();
    let (_, px) = pillow_avif(&out.bytes, (8, 8));
    assert!(px[0] > 200 && px[1] < 60 && px[2] < 60, "{px:?}");
    // The alpha PNG keeps its alpha in AVIF.
    let out = run(&fixture("alpha.png"), &opts(100, 50, Fit::Cover, Format::Avif)).unwrap();
    assert_eq!(pillow_avif(&out.bytes, (0, 0)).0, (100, 50));
}

#[test]
fn webp_in_and_out() {
    let out = run(&fixture("chelsea.webp"), &opts(100, 100, Fit::Cover, Format::Webp)).unwrap();
    assert!(out.bytes.starts_with(b"RIFF") && &out.bytes[8..12] == b"WEBP");
    assert_eq!(pixels(&out.bytes).dimensions(), (100, 100));
}

#[test]
fn bad_inputs_are_typed_errors() {
    let o = opts(100, 100, Fit::Cover, Format::Jpeg);
    assert!(matches!(run(&fixture("truncated.jpg"), &o), Err(TransformError::Corrupt { .. })));
    assert_eq!(run(&fixture("not-an-image.jpg"), &o), Err(TransformError::Unsupported));
    assert_eq!(run(&[], &o), Err(TransformError::Unsupported));
    // AVIF and HEIC are recognised and refused with the reason, as 415, not "corrupt".
    for (f, kind) in [("quadrants.avif", Undecoded::Avif), ("quadrants.heic", Undecoded::Heic)] {
        let e = run(&fixture(f), &o).unwrap_err();
        assert_eq!(e, TransformError::NotDecoded(kind));
        assert_eq!(e.status(), 415);
        assert!(e.to_string().starts_with(&format!("{kind} originals are not supported: no ")), "{e}");
    }
    assert!(matches!(run(&[0xFF, 0xD8, 0xFF], &o), Err(TransformError::Corrupt { .. })));
    let mut small = o;
    small.max_pixels = 1000;
    assert!(matches!(
        run(&fixture("coffee.jpg"), &small),
        Err(TransformError::TooManyPixels { width: 600, height: 400, .. })
    ));
    small.max_input_bytes = 10;
    assert!(matches!(run(&fixture("coffee.jpg"), &small), Err(TransformError::TooManyBytes { .. })));
}

#[test]
fn over_budget_reencodes_at_lower_quality() {
    let mut o = opts(600, 400, Fit::Cover, Format::Jpeg);
    o.quality = 95;
    let full = run(&fixture("coffee.jpg"), &o).unwrap();
    o.budget = Some(full.bytes.len() / 2);
    let out = run(&fixture("coffee.jpg"), &o).unwrap();
    assert!(out.fits_budget, "{} bytes, budget {}", out.bytes.len(), full.bytes.len() / 2);
    assert!(out.quality < 95 && out.bytes.len() <= full.bytes.len() / 2);
    o.budget = Some(100);
    let out = run(&fixture("coffee.jpg"), &o).unwrap();
    assert!(!out.fits_budget, "a 100-byte budget cannot be met");
}

/// A still WebP of `rgba` pixels: lossy (VP8) or lossless (VP8L).
fn webp_of(img: &image::RgbaImage, lossless: bool) -> Vec<u8> {
    let e = webp::Encoder::from_rgba(img.as_raw(), img.width(), img.height());
    let m = if lossless { e.encode_lossless() } else { e.encode(90.0) };
    m.to_vec()
}

#[test]
fn webp_is_shrunk_on_load_by_libwebp() {
    use edge_resize::transform::decode::{decode, Layout};
    let photo = pixels(&fixture("coffee.jpg")); // 600x400
    let lossy = webp_of(
        &image::DynamicImage::ImageRgb8(image::DynamicImage::ImageRgba8(photo.clone()).to_rgb8()).to_rgba8(),
        false,
    );
    // Scaled decode: ceil(600/3) x ceil(400/3), no alpha channel for an opaque lossy file.
    let d = decode(&lossy, 50_000_000, 1, |_| Ok(3)).unwrap();
    assert_eq!((d.width, d.height, d.layout), (200, 134, Layout::Rgb));
    // Its pixels are the full decode averaged down: compare with a box-filtered full decode.
    let full = decode(&lossy, 50_000_000, 1, |_| Ok(1)).unwrap();
    assert_eq!((full.width, full.height), (600, 400));
    let at = |px: &[u8], w: u32, x: u32, y: u32| {
        let i = ((y * w + x) * 3) as usize;
        [px[i], px[i + 1], px[i + 2]]
    };
    let mut diff = 0u64;
    for y in 0..133 {
        for x in 0..200 {
            let s = at(&d.pixels, 200, x, y);
            for (c, &sc) in s.iter().enumerate() {
                let mut sum = 0u32;
                for dy in 0..3 {
                    for dx in 0..3 {
                        sum += u32::from(at(&full.pixels, 600, x * 3 + dx, y * 3 + dy)[c]);
                    }
                }
                diff += u64::from((sum / 9).abs_diff(u32::from(sc)));
            }
        }
    }
    let mean = diff as f64 / (200.0 * 133.0 * 3.0);
    // libwebp rescales the Y, U and V planes (U and V at half resolution) before converting
    // to RGB, so it is near, not equal to, a box filter over the RGB decode (4.0 levels here).
    assert!(mean < 6.0, "scaled decode differs from the box-filtered full decode by {mean:.2} levels");
    // Through the pipeline: a 100x100 thumbnail of the WebP looks like the JPEG's.
    let o = opts(100, 100, Fit::Cover, Format::Png);
    let (a, b) = (pixels(&run(&lossy, &o).unwrap().bytes), pixels(&run(&fixture("coffee.jpg"), &o).unwrap().bytes));
    assert_eq!(a.dimensions(), (100, 100));
    let mad = a.as_raw().iter().zip(b.as_raw()).map(|(&x, &y)| f64::from(x.abs_diff(y))).sum::<f64>()
        / a.as_raw().len() as f64;
    assert!(mad < 4.0, "WebP and JPEG thumbnails of one photo differ by {mad:.2} levels");
}

#[test]
fn webp_alpha_and_lossless_keep_their_channels() {
    use edge_resize::transform::decode::{decode, Layout};
    // Left half transparent, right half opaque red.
    let img = image::RgbaImage::from_fn(64, 32, |x, _| {
        if x < 32 {
            image::Rgba([0, 0, 0, 0])
        } else {
            image::Rgba([255, 0, 0, 255])
        }
    });
    let d = decode(&webp_of(&img, true), 50_000_000, 1, |_| Ok(2)).unwrap();
    assert_eq!((d.width, d.height, d.layout), (32, 16, Layout::Rgba));
    assert_eq!(&d.pixels[..4], &[0, 0, 0, 0]);
    assert_eq!(&d.pixels[(31 * 4)..(32 * 4)], &[255, 0, 0, 255]);
    // Truncated: a typed error naming libwebp's status.
    let bytes = webp_of(&img, false);
    let e = decode(&bytes[..bytes.len() / 2], 50_000_000, 1, |_| Ok(1)).err().expect("truncated WebP refused");
    assert!(matches!(e, TransformError::Corrupt { .. }), "{e:?}");
    assert!(e.to_string().contains("WebP"), "{e}");
}
