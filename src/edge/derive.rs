//! Derived variants: a miss for a small variant may be made from a larger variant of the
//! same original that is already stored, instead of from the original, when
//! `Config::derive_from_variants` is on.
//!
//! A stored variant is a source only when it gives exactly the geometry a miss from the
//! original gives (same fit, same box shape, at least `derive_min_ratio` times larger),
//! when it records the original's current ETag (a stale one would cache a wrong image), and
//! when it was itself made from the original (derivations never chain: each adds a
//! resampling and a lossy encode). Anything else, and any error, falls back to the original.
//! The cost in quality and the time saved are measured in the README ("Derived variants").

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Deadline;
use crate::spec::{variant_key, Fit, Format, Key, Size, Variant};
use crate::store::{Object, Store, StoreError};
use crate::transform::{memory, plan, webp};
use crate::Config;

/// Candidates read per miss, at most. Each is a GetObject (a round trip to the bucket's
/// region, tens of milliseconds from a distant edge) spent before the original is read
/// when none is usable, so a miss with no stored source is at most this many round trips
/// slower. The smallest adequate candidate comes first: it is the cheapest to read.
pub const MAX_CANDIDATES: usize = 2;

/// Share of the time left that looking for a source may take: the rest is kept for reading
/// the original, the transform and the PutObject when no candidate is usable.
const DERIVE_SHARE: f64 = 0.2;

/// The stored variant keys that could give `target` of `original`, best first, at most
/// [`MAX_CANDIDATES`]; empty when derivation is off or cannot apply. Pure: from the
/// allow-list alone, with no I/O.
///
/// A candidate has the target's fit, format and the default quality (the highest a key
/// carries), and a size of the same shape: for a box, the same aspect ratio
/// (`W*h == w*H`); for a width- or height-only size, the same kind. It is at least
/// `derive_min_ratio` times the target in each given dimension. Cover, inside and fill of a
/// same-shaped box cut and scale the same region of the original, so resizing the candidate
/// gives the target's geometry (a kept-aspect side may differ by the rounding of one pixel).
pub fn candidates(original: &Key, target: &Variant, cfg: &Config) -> Vec<Key> {
    if !cfg.derive_from_variants || cfg.upscale {
        return Vec::new();
    }
    // AVIF candidates cannot be decoded by this build (`transform::decode`).
    let Some(format) = target.output_format(original) else {
        return Vec::new();
    };
    if format == Format::Avif {
        return Vec::new();
    }
    // A candidate at the default quality is only a source for a target at or below it.
    let default_q = cfg.quality.for_format(format);
    if target.quality.is_some_and(|q| q > default_q) {
        return Vec::new();
    }
    let mut sizes: Vec<Size> =
        cfg.sizes.iter().copied().filter(|&s| can_give(s, target.size, cfg.derive_min_ratio)).collect();
    sizes.sort_by_key(|s| (u64::from(s.w.max(1)) * u64::from(s.h.max(1)), s.w, s.h));
    sizes
        .into_iter()
        .filter_map(|size| {
            let fit = if size.is_box() { target.fit } else { cfg.fit };
            let v = Variant { size, fit, quality: None, format: target.format };
            variant_key(original, &v, cfg).ok()
        })
        .take(MAX_CANDIDATES)
        .collect()
}

/// Whether a stored variant of size `source` can give `target` (same shape, large enough).
fn can_give(source: Size, target: Size, ratio: f64) -> bool {
    let at_least = |s: u32, t: u32| f64::from(s) >= ratio * f64::from(t);
    if source == target {
        return false;
    }
    match (target.w, target.h, source.w, source.h) {
        (0, th, 0, sh) => at_least(sh, th),
        (tw, 0, sw, 0) => at_least(sw, tw),
        (tw, th, sw, sh) if tw != 0 && th != 0 && sw != 0 && sh != 0 => {
            u64::from(sw) * u64::from(th) == u64::from(tw) * u64::from(sh) && at_least(sw, tw) && at_least(sh, th)
        }
        _ => false,
    }
}

/// Why a candidate was not used (logged at debug level; the miss reads the original).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unusable {
    #[error("the original's current ETag is unknown")]
    NoCurrentEtag,
    #[error("not stored")]
    Missing,
    #[error("made from another version of the original ({made_from:?})")]
    Stale { made_from: Option<String> },
    #[error("itself derived from {0}")]
    Derived(String),
    #[error("not a still JPEG, PNG or WebP")]
    NotAStill,
    #[error("{w}x{h} is under the ratio for the target")]
    TooSmall { w: u32, h: u32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Judge a candidate read from the store against the original's `current` ETag and the
/// target: its recorded source, its ancestry, and (from its header) its real size, which is
/// smaller than its key says when the original was (nothing is enlarged).
pub fn judge(obj: &Object, current: &str, target: &Variant, ratio: f64) -> Result<(), Unusable> {
    if obj.source_etag.as_deref() != Some(current) {
        return Err(Unusable::Stale { made_from: obj.source_etag.clone() });
    }
    if let Some(from) = &obj.derived_from {
        return Err(Unusable::Derived(from.clone()));
    }
    let p = memory::probe(&obj.bytes).map_err(|_| Unusable::NotAStill)?;
    let still = match p.format {
        crate::transform::decode::InputFormat::Jpeg | crate::transform::decode::InputFormat::Png => true,
        crate::transform::decode::InputFormat::Webp => !webp::is_animated(&obj.bytes),
        _ => false,
    };
    if !still {
        return Err(Unusable::NotAStill);
    }
    if !large_enough(p.width, p.height, target.size, target.fit, ratio) {
        return Err(Unusable::TooSmall { w: p.width, h: p.height });
    }
    Ok(())
}

/// Whether a `w`x`h` image is at least `ratio` times what `size`/`fit` makes of it.
fn large_enough(w: u32, h: u32, size: Size, fit: Fit, ratio: f64) -> bool {
    let out = plan::plan(w, h, size, fit, false);
    f64::from(w) >= ratio * f64::from(out.out_w) && f64::from(h) >= ratio * f64::from(out.out_h)
}

/// What a miss is made from: a stored variant, with the original's ETag it records.
#[derive(Debug, Clone)]
pub struct Source {
    pub bytes: Bytes,
    /// The original's ETag, current when looked up, which the candidate recorded.
    pub etag: String,
    /// The stored variant read instead of the original.
    pub variant: Key,
    /// The HEAD and GETs it took.
    pub took: Duration,
}

/// Look for a stored variant to make `target` from: a HEAD of the original (its current
/// ETag) and the first candidate's GET at once, then the next candidate if needed. `None`
/// (the caller reads the original) when derivation is off, nothing is usable, or the time
/// share runs out.
pub async fn find_source<S: Store>(
    store: &S,
    key: &Key,
    original: &Key,
    target: &Variant,
    cfg: &Config,
    deadline: Deadline,
) -> Option<Source> {
    let keys = candidates(original, target, cfg);
    if keys.is_empty() {
        return None;
    }
    let start = Instant::now();
    match deadline
        .run(DERIVE_SHARE, "looking for a stored source", first_usable(store, original, &keys, target, cfg))
        .await
    {
        Ok(Ok((variant, obj, etag))) => {
            tracing::info!(key = %key, from = %variant, bytes = obj.bytes.len(), "deriving from a stored variant");
            Some(Source { bytes: obj.bytes, etag, variant, took: start.elapsed() })
        }
        Ok(Err(why)) => {
            tracing::debug!(key = %key, why = %why, "no stored variant to derive from: reading the original");
            None
        }
        Err(e) => {
            tracing::info!(key = %key, error = %e, "looking for a stored source ran out of time: reading the original");
            None
        }
    }
}

/// The first usable candidate, or why the last one was not.
async fn first_usable<S: Store>(
    store: &S,
    original: &Key,
    keys: &[Key],
    target: &Variant,
    cfg: &Config,
) -> Result<(Key, Object, String), Unusable> {
    let mut why = Unusable::Missing;
    let mut current = None;
    for (i, k) in keys.iter().enumerate() {
        let got = if i == 0 {
            // One round trip for both: the candidate is judged once the ETag is known.
            let (head, got) = tokio::join!(store.head(original), store.get(k, cfg.max_input_bytes));
            current = head?.and_then(|m| m.etag);
            got
        } else {
            store.get(k, cfg.max_input_bytes).await
        };
        let etag = current.as_deref().ok_or(Unusable::NoCurrentEtag)?;
        let obj = match got {
            Ok(o) => o,
            Err(e) if e.is_not_found() => {
                why = Unusable::Missing;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        match judge(&obj, etag, target, cfg.derive_min_ratio) {
            Ok(()) => return Ok((k.clone(), obj, etag.to_string())),
            Err(e) => {
                tracing::debug!(candidate = %k, why = %e, "stored variant not usable as a source");
                why = e;
            }
        }
    }
    Err(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Key {
        Key::new(k).unwrap()
    }

    fn on() -> Config {
        Config { derive_from_variants: true, ..Config::default() }
    }

    fn v(w: u32, h: u32) -> Variant {
        Variant { size: Size::new(w, h), fit: Fit::Cover, quality: None, format: None }
    }

    fn names(keys: &[Key]) -> Vec<&str> {
        keys.iter().map(Key::as_str).collect()
    }

    #[test]
    fn boxes_derive_from_the_smallest_same_shaped_box_at_the_ratio() {
        let o = key("image/coffee.jpg");
        let cfg = on();
        // The squares at 2x or more, smallest first; 640x480 and 1280x720 have another shape.
        assert_eq!(
            names(&candidates(&o, &v(100, 100), &cfg)),
            ["image/200x200/coffee.jpg", "image/300x300/coffee.jpg"]
        );
        // Nothing twice as large as 300x300, 640x480 or 1280x720 has their shape.
        for (w, h) in [(200, 200), (300, 300), (640, 480), (1280, 720)] {
            assert!(candidates(&o, &v(w, h), &cfg).is_empty(), "{w}x{h}");
        }
        let more = Config { sizes: vec![Size::new(150, 150), Size::new(640, 640), Size::new(300, 300)], ..on() };
        assert_eq!(
            names(&candidates(&o, &v(150, 150), &more)),
            ["image/300x300/coffee.jpg", "image/640x640/coffee.jpg"]
        );
        let ratio3 = Config { derive_min_ratio: 3.0, ..more.clone() };
        assert_eq!(names(&candidates(&o, &v(150, 150), &ratio3)), ["image/640x640/coffee.jpg"]);
    }

    #[test]
    fn widths_derive_from_widths_and_heights_from_heights_at_most_two() {
        let o = key("image/coffee.jpg");
        let cfg = on();
        assert_eq!(names(&candidates(&o, &v(640, 0), &cfg)), ["image/1920x0/coffee.jpg", "image/2048x0/coffee.jpg"]);
        assert_eq!(names(&candidates(&o, &v(0, 96), &cfg)), ["image/0x256/coffee.jpg", "image/0x384/coffee.jpg"]);
        assert!(candidates(&o, &v(3840, 0), &cfg).is_empty());
        let c = candidates(&o, &v(16, 0), &cfg);
        assert_eq!(c.len(), MAX_CANDIDATES);
    }

    #[test]
    fn fit_format_and_quality_carry_over_and_avif_never_derives() {
        let o = key("image/coffee.jpg");
        let cfg = on();
        let inside_webp_q50 =
            Variant { fit: Fit::Inside, quality: Some(50), format: Some(Format::Webp), ..v(100, 100) };
        assert_eq!(
            names(&candidates(&o, &inside_webp_q50, &cfg)),
            ["image/200x200-inside/webp/coffee.jpg", "image/300x300-inside/webp/coffee.jpg"]
        );
        let fill_png = Variant { fit: Fit::Fill, format: Some(Format::Png), ..v(100, 100) };
        assert_eq!(names(&candidates(&o, &fill_png, &cfg))[0], "image/200x200-fill/png/coffee.jpg");
        let avif = Variant { format: Some(Format::Avif), ..v(100, 100) };
        assert!(candidates(&o, &avif, &cfg).is_empty());
        assert!(candidates(&key("image/x.avif"), &v(100, 100), &cfg).is_empty());
        // A quality above the default would be limited by the candidate's.
        let high = Config { qualities: vec![90], ..on() };
        assert!(candidates(&o, &Variant { quality: Some(90), ..v(100, 100) }, &high).is_empty());
    }

    #[test]
    fn off_or_upscaling_never_derives() {
        let o = key("image/coffee.jpg");
        assert!(candidates(&o, &v(100, 100), &Config::default()).is_empty());
        assert!(candidates(&o, &v(100, 100), &Config { upscale: true, ..on() }).is_empty());
    }

    #[test]
    fn shapes_must_match() {
        assert!(can_give(Size::new(640, 480), Size::new(320, 240), 2.0));
        assert!(!can_give(Size::new(640, 480), Size::new(300, 300), 2.0));
        assert!(!can_give(Size::new(640, 0), Size::new(300, 300), 2.0));
        assert!(!can_give(Size::new(0, 640), Size::new(300, 0), 2.0));
        assert!(!can_give(Size::new(600, 0), Size::new(300, 0), 2.5));
        assert!(can_give(Size::new(600, 0), Size::new(300, 0), 2.0));
        assert!(!can_give(Size::new(300, 300), Size::new(300, 300), 1.0));
    }

    fn object(bytes: Vec<u8>, source: Option<&str>, derived: Option<&str>) -> Object {
        Object {
            bytes: bytes.into(),
            content_type: None,
            etag: Some("\"v\"".into()),
            last_modified: None,
            source_etag: source.map(str::to_string),
            derived_from: derived.map(str::to_string),
        }
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(w, h, image::Rgb([200, 10, 10]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn a_candidate_must_be_current_first_hand_a_still_and_really_large_enough() {
        let t = v(100, 100);
        let good = object(png(300, 300), Some("\"e1\""), None);
        assert_eq!(judge(&good, "\"e1\"", &t, 2.0), Ok(()));
        assert_eq!(judge(&good, "\"e2\"", &t, 2.0), Err(Unusable::Stale { made_from: Some("\"e1\"".into()) }));
        let unknown = object(png(300, 300), None, None);
        assert_eq!(judge(&unknown, "\"e1\"", &t, 2.0), Err(Unusable::Stale { made_from: None }));
        let derived = object(png(300, 300), Some("\"e1\""), Some("image/640x640/coffee.jpg"));
        assert_eq!(judge(&derived, "\"e1\"", &t, 2.0), Err(Unusable::Derived("image/640x640/coffee.jpg".into())));
        // Stored under 300x300 but only 150x150: the original was that small.
        let small = object(png(150, 150), Some("\"e1\""), None);
        assert_eq!(judge(&small, "\"e1\"", &t, 2.0), Err(Unusable::TooSmall { w: 150, h: 150 }));
        let junk = object(b"not an image".to_vec(), Some("\"e1\""), None);
        assert_eq!(judge(&junk, "\"e1\"", &t, 2.0), Err(Unusable::NotAStill));
    }

    #[test]
    fn real_size_is_judged_against_what_the_fit_makes_of_it() {
        // A 1280-wide variant of a small original may be 600x400: 300 wide is half of it.
        assert!(large_enough(600, 400, Size::new(300, 0), Fit::Cover, 2.0));
        assert!(!large_enough(500, 333, Size::new(300, 0), Fit::Cover, 2.0));
        assert!(large_enough(640, 480, Size::new(320, 240), Fit::Inside, 2.0));
    }
}
