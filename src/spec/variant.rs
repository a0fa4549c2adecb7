//! The variant: what to make of an original, and its canonical key
//! `{dir}/{W}x{H}[-{fit}][-q{Q}]/[{format}/]{file}`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Key, SpecError};
use crate::config::Config;

/// A target box. `0` in one dimension means "keep the aspect ratio".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Size {
    pub w: u32,
    pub h: u32,
}

impl Size {
    pub const fn new(w: u32, h: u32) -> Self {
        Size { w, h }
    }

    /// Both sides given: a box the fit applies to. With one side 0 the aspect ratio is
    /// kept and every fit gives the same image.
    pub const fn is_box(self) -> bool {
        self.w != 0 && self.h != 0
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.w, self.h)
    }
}

impl FromStr for Size {
    type Err = SpecError;
    /// `100` (square) or `640x480`; plain ASCII digits only, no sign, at most 5 digits.
    fn from_str(s: &str) -> Result<Self, SpecError> {
        let num = |t: &str| -> Result<u32, SpecError> {
            if t.is_empty() || t.len() > 5 || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(SpecError::BadSize(s.chars().take(32).collect()));
            }
            t.parse().map_err(|_| SpecError::BadSize(s.chars().take(32).collect()))
        };
        match s.split_once('x') {
            Some((w, h)) => Ok(Size::new(num(w)?, num(h)?)),
            None => {
                let d = num(s)?;
                Ok(Size::new(d, d))
            }
        }
    }
}

impl Serialize for Size {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How the image fills the target box (sharp's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// Fill the box, cropping the overflow around the centre (default).
    #[default]
    Cover,
    /// Fit inside the box, keeping the aspect ratio; the output may be smaller.
    Inside,
    /// Stretch to the box exactly, ignoring the aspect ratio.
    Fill,
}

impl Fit {
    pub const ALL: [Fit; 3] = [Fit::Cover, Fit::Inside, Fit::Fill];
    pub fn name(self) -> &'static str {
        match self {
            Fit::Cover => "cover",
            Fit::Inside => "inside",
            Fit::Fill => "fill",
        }
    }
    pub fn parse(s: &str) -> Option<Fit> {
        Fit::ALL.into_iter().find(|f| f.name() == s)
    }
}

/// Output (and recognised input) formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jpeg,
    Png,
    Webp,
    Avif,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Jpeg, Format::Png, Format::Webp, Format::Avif];
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Avif => "avif",
        }
    }
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "jpg" | "jpeg" => Some(Format::Jpeg),
            "png" => Some(Format::Png),
            "webp" => Some(Format::Webp),
            "avif" => Some(Format::Avif),
            _ => None,
        }
    }
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
            Format::Avif => "image/avif",
        }
    }
    /// The output format of an original with this extension when no other is asked for:
    /// the same format, except GIF, which becomes PNG (no GIF encoder; first frame only),
    /// and HEIC/HEIF, which become JPEG (only Safari shows HEIC).
    pub fn for_original_ext(ext: &str) -> Option<Format> {
        match ext {
            "gif" => Some(Format::Png),
            "heic" | "heif" => Some(Format::Jpeg),
            e => Format::parse(e),
        }
    }
}

/// Everything that makes one variant of an original. Always canonical: the size and
/// quality are on the allow-list, `fit` is the default for a width- or height-only size,
/// and `format` is `None` when it is the original's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Variant {
    pub size: Size,
    pub fit: Fit,
    /// `None`: the configured default quality of the output format.
    pub quality: Option<u8>,
    /// `None`: the original's own format (GIF: PNG).
    pub format: Option<Format>,
}

impl Variant {
    /// The size/fit/quality path segment, e.g. `100x100`, `640x480-inside-q50`.
    pub fn segment(&self, cfg: &Config) -> String {
        let mut s = self.size.to_string();
        if self.fit != cfg.fit {
            s.push('-');
            s.push_str(self.fit.name());
        }
        if let Some(q) = self.quality {
            s.push_str(&format!("-q{q}"));
        }
        s
    }

    /// Parse a segment produced by [`Variant::segment`]; only canonical, allowed
    /// spellings are recognised, so one variant has exactly one key.
    fn parse_segment(seg: &str, cfg: &Config) -> Option<(Size, Fit, Option<u8>)> {
        let mut parts = seg.split('-');
        let size_txt = parts.next()?;
        // Size::from_str also accepts the square shorthand `100`; a key always spells WxH.
        if !size_txt.contains('x') {
            return None;
        }
        let size: Size = size_txt.parse().ok()?;
        if !cfg.sizes.contains(&size) || size.to_string() != size_txt {
            return None;
        }
        let mut fit = cfg.fit;
        let mut quality = None;
        let mut rest = parts.peekable();
        if let Some(f) = rest.peek().and_then(|p| Fit::parse(p)) {
            // A width- or height-only size has one key: the fit changes nothing there.
            if f == cfg.fit || !cfg.fits.contains(&f) || !size.is_box() {
                return None;
            }
            fit = f;
            rest.next();
        }
        if let Some(q) = rest.peek().and_then(|p| p.strip_prefix('q')) {
            let v: u8 = q.parse().ok()?;
            if !cfg.qualities.contains(&v) || v.to_string() != q {
                return None;
            }
            quality = Some(v);
            rest.next();
        }
        rest.next().is_none().then_some((size, fit, quality))
    }

    /// The output format of this variant for an original key.
    pub fn output_format(&self, original: &Key) -> Option<Format> {
        self.format.or_else(|| original.extension().and_then(|e| Format::for_original_ext(&e)))
    }
}

/// Is this an extension edge-resize makes variants of?
pub fn is_image_ext(ext: &str) -> bool {
    Format::for_original_ext(ext).is_some()
}

/// The canonical variant key of an original.
pub fn variant_key(original: &Key, v: &Variant, cfg: &Config) -> Result<Key, SpecError> {
    let seg = v.segment(cfg);
    let fmt = v.format.map_or("", |f| f.name());
    Key::join(&[original.dir(), &seg, fmt, original.file()])
}

/// Recognise a variant key and return its original and variant; `None` for anything else
/// (including every original). This is the check that guards every write and delete.
pub fn parse_variant_key(key: &Key, cfg: &Config) -> Option<(Key, Variant)> {
    let prefix = cfg.prefix.trim_start_matches('/');
    if !key.as_str().starts_with(prefix) {
        return None;
    }
    let segs: Vec<&str> = key.as_str().split('/').collect();
    let n = segs.len();
    let file = segs[n - 1];
    let ext = file.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
    if !is_image_ext(&ext) {
        return None;
    }
    let try_at = |seg_idx: usize, format: Option<Format>| -> Option<(Key, Variant)> {
        let (size, fit, quality) = Variant::parse_segment(segs[seg_idx], cfg)?;
        let mut parts: Vec<&str> = segs[..seg_idx].to_vec();
        parts.push(file);
        let original = Key::join(&parts).ok()?;
        // A variant of a variant-shaped key is never made: originals living under a
        // variant-shaped directory are not servable (see README), which keeps this total.
        if !original.as_str().starts_with(prefix) || parse_variant_key(&original, cfg).is_some() {
            return None;
        }
        let v = Variant { size, fit, quality, format };
        // Canonical only: a format segment equal to the original's own is not a key we make.
        if format.is_some() && format == Format::for_original_ext(&ext) {
            return None;
        }
        if let Some(f) = format {
            if !cfg.formats.contains(&f) {
                return None;
            }
        }
        Some((original, v))
    };
    if n >= 3 {
        if let Some(f) = Format::ALL.into_iter().find(|f| f.name() == segs[n - 2]) {
            if let Some(r) = try_at(n - 3, Some(f)) {
                return Some(r);
            }
        }
    }
    if n >= 2 {
        return try_at(n - 2, None);
    }
    None
}

/// Every variant key of an original the allow-list permits: the finite set the janitor
/// deletes when the original changes.
pub fn all_variant_keys(original: &Key, cfg: &Config) -> Vec<Key> {
    let own = original.extension().and_then(|e| Format::for_original_ext(&e));
    let mut qualities: Vec<Option<u8>> = vec![None];
    qualities.extend(cfg.qualities.iter().map(|&q| Some(q)));
    let mut formats: Vec<Option<Format>> = vec![None];
    formats.extend(cfg.formats.iter().filter(|&&f| Some(f) != own).map(|&f| Some(f)));
    let mut out = Vec::new();
    let default_fit = [cfg.fit];
    for &size in &cfg.sizes {
        let fits: &[Fit] = if size.is_box() { &cfg.fits } else { &default_fit };
        for &fit in fits {
            for &quality in &qualities {
                for &format in &formats {
                    let v = Variant { size, fit, quality, format };
                    if let Ok(k) = variant_key(original, &v, cfg) {
                        out.push(k);
                    }
                }
            }
        }
    }
    out
}
