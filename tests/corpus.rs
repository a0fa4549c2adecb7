//! Differential test over a public conformance corpus: libpng's PngSuite and testpngs
//! (crashers included), libjpeg-turbo's and libwebp's test images, fetched from their
//! Debian source packages and decoded by a reference decoder (Pillow) by
//! `scripts/corpus.sh`, which `make test` runs first.
//!
//! Every file must either decode to the reference's size and pixels, within a mean
//! absolute difference per channel (8-bit levels) of
//! - `LOSSLESS_BOUND` for PNG and lossless WebP: both sides reconstruct the exact samples;
//!   the only allowed difference is 16-bit samples reduced to 8 bits (the reference keeps
//!   the high byte, the image crate rounds: at most 1 level on a sample);
//! - `LOSSY_BOUND` for JPEG and lossy WebP: the JPEG sides are both libjpeg-turbo (islow
//!   IDCT, fancy upsampling) but of different versions; lossy WebP is decoded here by the
//!   image crate and there by libwebp, whose chroma upsampling filters differ by a level or
//!   two on edges;
//!
//! or be refused with a typed error where the reference refuses it too, or be one of the
//! `REFUSED_ON_PURPOSE` files (corrupt data the reference decodes anyway). A file decoded here
//! but refused there (a broken ancillary chunk that the PNG crate skips, as browsers do) is
//! listed, not failed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use edge_resize::transform::color;
use edge_resize::transform::decode::{decode, Decoded, Layout};
use edge_resize::transform::TransformError;

/// Files the reference decodes from corrupt data, which the decode policy refuses on
/// purpose (a thumbnail of invented pixels must not be cached), with the reason.
const REFUSED_ON_PURPOSE: [(&str, &str); 2] = [
    (
        "contrib_testpngs_crashers_badcrc.png",
        "IDAT CRC mismatch: the pixel data is corrupt (the reference skips IDAT CRCs)",
    ),
    (
        "contrib_testpngs_crashers_huge_IDAT.png",
        "IDAT longer than the file: the image is truncated (the reference fills with zeros)",
    ),
];

const LOSSLESS_BOUND: f64 = 0.5;
const LOSSY_BOUND: f64 = 2.0;

fn corpus_dir() -> PathBuf {
    std::env::var_os("EDGE_RESIZE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/corpus"))
}

fn rgba(d: Decoded) -> Vec<u8> {
    let (pixels, layout) = match d.layout {
        Layout::Cmyk => color::to_srgb(d.pixels, d.layout, None),
        l => (d.pixels, l),
    };
    match layout {
        Layout::Gray => pixels.iter().flat_map(|&g| [g, g, g, 255]).collect(),
        Layout::GrayAlpha => pixels.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0], p[1]]).collect(),
        Layout::Rgb => pixels.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
        Layout::Rgba => pixels,
        Layout::Cmyk => unreachable!("converted above"),
    }
}

fn lossy(name: &str, data: &[u8]) -> bool {
    name.ends_with(".jpg") || (name.ends_with(".webp") && data.len() > 16 && &data[12..16] == b"VP8 ")
}

#[derive(Default)]
struct Tally {
    same_pixels: BTreeMap<&'static str, usize>,
    both_refused: usize,
    refused_on_purpose: usize,
    decoded_reference_refused: Vec<String>,
    failures: Vec<String>,
    worst: BTreeMap<&'static str, (f64, String)>,
}

#[test]
fn conformance_corpus_matches_reference_decoder() {
    let dir = corpus_dir();
    let index_path = dir.join("index.json");
    let index = std::fs::read_to_string(&index_path).unwrap_or_else(|e| {
        panic!("{}: {e}; fetch the corpus with scripts/corpus.sh (make test does)", index_path.display())
    });
    let index: BTreeMap<String, serde_json::Value> = serde_json::from_str(&index).unwrap();
    assert!(
        index.len() > 150,
        "the corpus has {} files; expected PngSuite, testpngs and the JPEG/WebP test images",
        index.len()
    );
    let mut t = Tally::default();
    for (name, reference) in &index {
        let data = std::fs::read(dir.join("files").join(name)).unwrap();
        let class = if lossy(name, &data) { "lossy" } else { "lossless" };
        let ours = decode(&data, 50_000_000, 1, |_| Ok(1));
        let refused_there = reference.get("refused").and_then(|r| r.as_str());
        match (ours, refused_there) {
            (Err(e), Some(_)) => {
                // Refused on both sides, with a typed error here.
                assert!(
                    matches!(
                        e,
                        TransformError::Corrupt { .. }
                            | TransformError::Unsupported
                            | TransformError::TooManyPixels { .. }
                    ),
                    "{name}: {e:?}"
                );
                t.both_refused += 1;
            }
            (Err(TransformError::Corrupt { .. }), None) if REFUSED_ON_PURPOSE.iter().any(|r| r.0 == name) => {
                t.refused_on_purpose += 1
            }
            (Err(e), None) => t.failures.push(format!("{name}: refused here ({e}), decoded by the reference")),
            (Ok(_), Some(why)) => t.decoded_reference_refused.push(format!("{name} (reference: {why})")),
            (Ok(d), None) => {
                let (w, h) = (d.width, d.height);
                let want = (reference["width"].as_u64().unwrap() as u32, reference["height"].as_u64().unwrap() as u32);
                if (w, h) != want {
                    t.failures.push(format!("{name}: {w}x{h} here, {}x{} in the reference", want.0, want.1));
                    continue;
                }
                let ours = rgba(d);
                let theirs = std::fs::read(dir.join("ref").join(format!("{name}.rgba"))).unwrap();
                assert_eq!(ours.len(), theirs.len(), "{name}");
                let mad =
                    ours.iter().zip(&theirs).map(|(&a, &b)| f64::from(a.abs_diff(b))).sum::<f64>() / ours.len() as f64;
                let bound = if class == "lossy" { LOSSY_BOUND } else { LOSSLESS_BOUND };
                if mad > bound {
                    t.failures.push(format!("{name}: mean absolute difference {mad:.3} > {bound} ({class})"));
                } else {
                    *t.same_pixels.entry(class).or_default() += 1;
                }
                let worst = t.worst.entry(class).or_insert((0.0, String::new()));
                if mad >= worst.0 {
                    *worst = (mad, name.clone());
                }
            }
        }
    }
    println!("corpus: {} files", index.len());
    for (class, n) in &t.same_pixels {
        let (mad, name) = &t.worst[class];
        println!("  {class}: {n} decoded within the bound (worst mean abs difference {mad:.3}, {name})");
    }
    println!("  refused by both: {}", t.both_refused);
    println!("  refused here on purpose (corrupt data the reference decodes anyway): {}", t.refused_on_purpose);
    for (name, why) in REFUSED_ON_PURPOSE {
        println!("    {name}: {why}");
    }
    println!("  decoded here, refused by the reference: {}", t.decoded_reference_refused.len());
    for f in &t.decoded_reference_refused {
        println!("    {f}");
    }
    assert_eq!(
        t.refused_on_purpose,
        REFUSED_ON_PURPOSE.len(),
        "each file refused on purpose is in the corpus and refused"
    );
    assert!(t.failures.is_empty(), "{} of {} files differ:\n{}", t.failures.len(), index.len(), t.failures.join("\n"));
}
