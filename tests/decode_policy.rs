//! The JPEG decode policy (`transform::libjpeg`), one file per rule, each made here from a
//! test card and altered the way files in the field are; plus the field cases of
//! `fixtures/cases/` (see its README) through the whole pipeline.
//!
//! The test card: red top-left, green top-right, blue bottom-left, white bottom-right.

use edge_resize::spec::{Fit, Format, Size};
use edge_resize::transform::decode::{decode, DecodeStage, Decoded, InputFormat, Layout};
use edge_resize::transform::{color, run, Options, TransformError};

const RED: [u8; 3] = [255, 0, 0];
const GREEN: [u8; 3] = [0, 255, 0];
const BLUE: [u8; 3] = [0, 0, 255];
const WHITE: [u8; 3] = [255, 255, 255];

fn card(w: usize, h: usize) -> Vec<u8> {
    let mut px = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            px.extend_from_slice(match (x < w / 2, y < h / 2) {
                (true, true) => &RED,
                (false, true) => &GREEN,
                (true, false) => &BLUE,
                (false, false) => &WHITE,
            });
        }
    }
    px
}

/// The 240x160 card as a JPEG: baseline, or progressive with successive approximation
/// (libjpeg's `jpeg_simple_progression` script).
fn card_jpeg(progressive: bool) -> Vec<u8> {
    let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    c.set_fastest_defaults();
    c.set_size(240, 160);
    c.set_quality(90.0);
    if progressive {
        c.set_progressive_mode();
    }
    let mut s = c.start_compress(Vec::new()).unwrap();
    s.write_scanlines(&card(240, 160)).unwrap();
    s.finish().unwrap()
}

/// A JPEG's segments: (marker byte, start of the marker, end of the segment); an SOS
/// segment's end includes its entropy-coded data.
fn segments(j: &[u8]) -> Vec<(u8, usize, usize)> {
    let mut out = vec![(0xD8, 0, 2)];
    let mut i = 2;
    while i + 1 < j.len() {
        assert_eq!(j[i], 0xFF, "marker expected at {i}");
        let m = j[i + 1];
        if m == 0xD9 {
            out.push((m, i, i + 2));
            break;
        }
        let len = usize::from(j[i + 2]) << 8 | usize::from(j[i + 3]);
        let mut end = i + 2 + len;
        if m == 0xDA {
            // Entropy-coded data runs to the next marker that is not a stuffed 0xFF00 or RSTn.
            while !(j[end] == 0xFF && j[end + 1] != 0 && !(0xD0..=0xD7).contains(&j[end + 1])) {
                end += 1;
            }
        }
        out.push((m, i, end));
        i = end;
    }
    out
}

fn first(j: &[u8], marker: u8) -> (usize, usize) {
    segments(j).into_iter().find(|s| s.0 == marker).map(|s| (s.1, s.2)).expect("segment present")
}

fn insert(j: &[u8], at: usize, bytes: &[u8]) -> Vec<u8> {
    [&j[..at], bytes, &j[at..]].concat()
}

fn full(j: &[u8]) -> Result<Decoded, TransformError> {
    decode(j, 50_000_000, 1, |_| Ok(1))
}

/// The decoded card is upright and right: each quadrant's centre has its colour (±40).
fn assert_card(d: &Decoded) {
    assert_eq!(d.layout, Layout::Rgb);
    let (w, h) = (d.width as usize, d.height as usize);
    for (x, y, want) in
        [(w / 4, h / 4, RED), (3 * w / 4, h / 4, GREEN), (w / 4, 3 * h / 4, BLUE), (3 * w / 4, 3 * h / 4, WHITE)]
    {
        let i = (y * w + x) * 3;
        let got = &d.pixels[i..i + 3];
        assert!(
            got.iter().zip(want).all(|(&g, w)| (i32::from(g) - i32::from(w)).abs() <= 40),
            "({x},{y}) is {got:?}, want {want:?}"
        );
    }
}

fn tolerated(j: &[u8], warning: &str) {
    let d = full(j).unwrap_or_else(|e| panic!("refused: {e}"));
    assert_card(&d);
    assert!(d.warnings.iter().any(|w| w.contains(warning)), "expected a tolerated {warning:?}, got {:?}", d.warnings);
}

fn refused(j: &[u8], message: &str) {
    match full(j) {
        Err(TransformError::Corrupt { format: InputFormat::Jpeg, stage: DecodeStage::Pixels, message: m }) => {
            assert!(m.contains(message), "libjpeg said {m:?}, expected {message:?}")
        }
        other => panic!("expected a refusal with {message:?}, got {:?}", other.map(|d| d.warnings)),
    }
}

#[test]
fn untouched_card_decodes_without_warnings() {
    for progressive in [false, true] {
        let d = full(&card_jpeg(progressive)).unwrap();
        assert_card(&d);
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    }
}

// ---- tolerated: harmless structure ----

#[test]
fn extraneous_bytes_between_segments_are_tolerated() {
    let j = card_jpeg(false);
    let (dqt, _) = first(&j, 0xDB);
    tolerated(&insert(&j, dqt, &[0x20; 18]), "18 extraneous bytes before marker 0xdb");
    // After the last scan, before EOI (a writer's padding).
    let eoi = j.len() - 2;
    tolerated(&insert(&j, eoi, &[0x00, 0x11, 0x22]), "extraneous bytes before marker 0xd9");
}

#[test]
fn odd_sequential_scan_parameters_are_tolerated() {
    // Some encoders write Ss/Se/Ah/Al as zeros in a baseline scan; libjpeg ignores them.
    let mut j = card_jpeg(false);
    let (sos, end) = first(&j, 0xDA);
    let header_len = usize::from(j[sos + 2]) << 8 | usize::from(j[sos + 3]);
    let se = sos + 2 + header_len - 2; // Ss, Se, Ah/Al are the last three header bytes
    assert!(se < end && j[se] == 63);
    j[se] = 0;
    tolerated(&j, "Invalid SOS parameters for sequential JPEG");
}

#[test]
fn inconsistent_progression_is_tolerated() {
    // A scan sent twice (an odd but decodable script): the second copy rewrites the same
    // coefficients with the same values, and libjpeg warns that the sequence is inconsistent.
    let j = card_jpeg(true);
    let scans: Vec<_> = segments(&j).into_iter().filter(|s| s.0 == 0xDA).collect();
    assert!(scans.len() > 3, "a progressive file has several scans");
    // The first AC scan of luma: it follows the DC scan(s), has Ah = 0 and Al > 0.
    let ac = scans.iter().find(|s| {
        let h = &j[s.1..];
        let n = usize::from(h[4]);
        let p = 5 + 2 * n;
        h[p] > 0 && h[p + 2] >> 4 == 0 && h[p + 2] & 15 > 0
    });
    let (_, start, end) = *ac.expect("an AC first-pass scan with successive approximation");
    tolerated(&insert(&j, end, &j[start..end]), "Inconsistent progression sequence");
}

#[test]
fn unknown_adobe_transform_is_tolerated() {
    // Without JFIF, an APP14 "Adobe" segment decides the colour transform; an unknown code
    // makes libjpeg assume YCbCr, which is what the data is.
    let j = card_jpeg(false);
    let (app0, app0_end) = first(&j, 0xE0);
    let without_jfif = [&j[..app0], &j[app0_end..]].concat();
    let adobe = [0xFF, 0xEE, 0x00, 0x0E, b'A', b'd', b'o', b'b', b'e', 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x07];
    tolerated(&insert(&without_jfif, 2, &adobe), "Unknown Adobe color transform code 7");
}

#[test]
fn unknown_jfif_revision_is_tolerated() {
    let mut j = card_jpeg(false);
    let (app0, _) = first(&j, 0xE0);
    assert_eq!(&j[app0 + 4..app0 + 9], b"JFIF\0");
    j[app0 + 9] = 2;
    tolerated(&j, "unknown JFIF revision number 2");
}

#[test]
fn unknown_markers_and_trailing_data_decode_silently() {
    let j = card_jpeg(false);
    // An APP9 and a COM segment before the frame, and junk after EOI (some uploaders
    // append a second image or padding): libjpeg skips the segments and stops at EOI.
    let extra =
        [&[0xFF, 0xE9, 0x00, 0x06, b'j', b'u', b'n', b'k'][..], &[0xFF, 0xFE, 0x00, 0x05, b'h', b'i', b'!']].concat();
    let with = insert(&j, 2, &extra);
    let with = [&with[..], &b"trailing garbage after EOI"[..]].concat();
    let d = full(&with).unwrap();
    assert_card(&d);
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
}

// ---- fatal: pixels invented or lost ----

#[test]
fn truncated_file_is_refused() {
    let j = card_jpeg(false);
    refused(&j[..j.len() * 6 / 10], "Premature end of JPEG file");
    let p = card_jpeg(true);
    refused(&p[..p.len() * 6 / 10], "Premature end of JPEG file");
}

#[test]
fn marker_inside_entropy_data_is_refused() {
    let j = card_jpeg(false);
    let (sos, end) = first(&j, 0xDA);
    let mid = sos + (end - sos) / 2;
    let mid = if j[mid - 1] == 0xFF { mid + 1 } else { mid };
    refused(&insert(&j, mid, &[0xFF, 0xD4]), "premature end of data segment");
}

#[test]
fn corrupt_entropy_data_is_refused() {
    let mut j = card_jpeg(false);
    let (sos, end) = first(&j, 0xDA);
    // Sixteen one-bits are never a valid Huffman code: stuffed 0xFF00 pairs decode as ones.
    let mid = sos + (end - sos) / 3;
    let mid = if j[mid - 1] == 0xFF { mid + 1 } else { mid };
    for k in 0..16 {
        j[mid + 2 * k] = 0xFF;
        j[mid + 2 * k + 1] = 0x00;
    }
    refused(&j, "Corrupt JPEG data: bad Huffman code");
}

#[test]
fn missing_restart_markers_are_refused() {
    // A restart interval (DRI) with no RSTn markers in the data: libjpeg skips ahead to
    // resynchronise, dropping MCUs.
    let j = card_jpeg(false);
    let (sos, _) = first(&j, 0xDA);
    refused(&insert(&j, sos, &[0xFF, 0xDD, 0x00, 0x04, 0x00, 0x02]), "instead of RST");
}

#[test]
fn errors_name_format_stage_and_libjpeg_text() {
    let j = card_jpeg(false);
    let e = full(&j[..j.len() / 2]).err().expect("truncated").to_string();
    assert_eq!(e, "corrupt or truncated JPEG original (decoding pixels): Premature end of JPEG file");
    let e = full(&[0xFF, 0xD8, 0xFF, 0xC0, 0x00]).err().expect("no header").to_string();
    assert!(e.starts_with("corrupt or truncated JPEG original (reading the header): "), "{e}");
    assert!(!e.contains("libjpeg error"), "a bare code instead of libjpeg's text: {e}");
}

// ---- CMYK: as browsers show it ----

/// The card's left half cyan, right half magenta, as inverted (Adobe) CMYK, encoded
/// with or without the APP14 "Adobe" segment that says so.
fn cmyk_jpeg(adobe_marker: bool) -> Vec<u8> {
    let (w, h) = (64, 32);
    let mut px = Vec::new();
    for _ in 0..h {
        for x in 0..w {
            // stored inverted: 0 = full ink, 255 = none
            px.extend_from_slice(if x < w / 2 { &[0, 255, 255, 255] } else { &[255, 0, 255, 255] });
        }
    }
    let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_CMYK);
    c.set_fastest_defaults();
    c.set_size(w, h);
    c.set_quality(95.0);
    let mut s = c.start_compress(Vec::new()).unwrap();
    s.write_scanlines(&px).unwrap();
    let j = s.finish().unwrap();
    if adobe_marker {
        return j;
    }
    let (app14, end) = first(&j, 0xEE);
    [&j[..app14], &j[end..]].concat()
}

#[test]
fn cmyk_is_adobe_inverted_with_or_without_the_marker() {
    for marker in [true, false] {
        let j = cmyk_jpeg(marker);
        assert_eq!(j.windows(5).any(|w| w == b"Adobe"), marker);
        let d = full(&j).unwrap();
        assert_eq!(d.layout, Layout::Cmyk);
        let (rgb, layout) = color::to_srgb(d.pixels, d.layout, None);
        assert_eq!(layout, Layout::Rgb);
        let at = |x: usize| &rgb[(16 * 64 + x) * 3..(16 * 64 + x) * 3 + 3];
        for (x, want) in [(16, [0, 255, 255]), (48, [255, 0, 255])] {
            let got = at(x);
            assert!(
                got.iter().zip(want).all(|(&g, w): (&u8, i32)| (i32::from(g) - w).abs() <= 12),
                "marker {marker}: x={x} is {got:?}, want {want:?}"
            );
        }
    }
}

// ---- the field cases, through the whole pipeline ----

fn case(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/fixtures/cases/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn thumb_100(input: &[u8]) -> image::RgbImage {
    let o = Options {
        quality: 80,
        max_animation_pixels: 50_000_000,
        budget: Some(1_000_000),
        ..Options::from_config(Size::new(100, 100), Fit::Cover, Format::Jpeg, &edge_resize::Config::default())
    };
    let out = run(input, &o).unwrap_or_else(|e| panic!("refused: {e}"));
    assert_eq!((out.width, out.height), (100, 100));
    assert!(out.bytes.starts_with(&[0xFF, 0xD8, 0xFF]));
    let img = image::load_from_memory_with_format(&out.bytes, image::ImageFormat::Jpeg).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (100, 100));
    img
}

fn assert_near(img: &image::RgbImage, x: u32, y: u32, want: [u8; 3], tol: i32) {
    let got = img.get_pixel(x, y).0;
    assert!(
        got.iter().zip(want).all(|(&g, w)| (i32::from(g) - i32::from(w)).abs() <= tol),
        "({x},{y}) is {got:?}, want {want:?}"
    );
}

/// The field cases' card is drawn in slightly muted colours (as a reference decoder
/// shows it): red (220,30,30), green (30,200,31), blue (31,30,220), white (240,240,240).
fn assert_upright(img: &image::RgbImage) {
    assert_near(img, 25, 25, [220, 30, 30], 40);
    assert_near(img, 75, 25, [30, 200, 31], 40);
    assert_near(img, 25, 75, [31, 30, 220], 40);
    assert_near(img, 75, 75, [240, 240, 240], 40);
}

#[test]
fn case_extraneous_before_dqt() {
    assert_upright(&thumb_100(&case("extraneous-before-dqt.jpg")));
}

#[test]
fn case_cmyk_without_adobe_marker() {
    let img = thumb_100(&case("cmyk-nomarker.jpg"));
    assert_near(&img, 25, 50, [0, 255, 255], 60);
    assert_near(&img, 75, 50, [255, 0, 255], 60);
}

#[test]
fn case_arithmetic_coded() {
    let j = case("arith.jpg");
    assert_eq!(segments(&j).iter().filter(|s| s.0 == 0xC9).count(), 1, "SOF9: arithmetic, sequential");
    assert_upright(&thumb_100(&j));
}
