//! From a viewer's request (uri, query string, Accept) to one canonical variant key.

use percent_encoding::percent_decode_str;

use super::variant::{is_image_ext, parse_variant_key, variant_key, Fit, Format, Size, Variant};
use super::{Key, SpecError};
use crate::config::{Config, Unlisted};

/// What the viewer-request does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Not ours (outside the prefix, not an image, or no resize asked): leave the uri
    /// alone. The query string is still dropped for image paths (see `Routed`).
    Untouched,
    /// An original asked for as-is (no size parameter): its canonical uri.
    Original { key: Key },
    /// A variant: the canonical key it lives under, and how to make it.
    Variant { key: Key, original: Key, variant: Variant },
}

/// Parsed, de-duplicated resize parameters of a query string.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Params {
    /// The size as asked, before `dpr` and snapping: `d=` gives both sides, `w=`/`h=` one or both.
    pub size: Option<(Option<u32>, Option<u32>)>,
    /// Device pixel ratio in hundredths (`dpr=1.5` is 150), 100..=300.
    pub dpr: Option<u32>,
    pub fit: Option<Fit>,
    pub quality: Option<u8>,
    pub format: Option<Format>,
}

const KNOWN: [&str; 7] = ["d", "w", "h", "fit", "q", "format", "dpr"];
/// `dpr=` bounds, in hundredths: 1 to 3 (phones go to 3; beyond it nobody sees the difference).
const DPR_RANGE: std::ops::RangeInclusive<u32> = 100..=300;
const MAX_QUERY: usize = 2048;

/// Parse `d=100`, `d=640x480`, `w=`, `h=`, `dpr=`, `fit=`, `q=`, `format=`. Unknown parameters
/// are ignored (they cannot fragment the cache: the query is dropped). A known parameter
/// given twice, or with a bad value, is a typed error.
pub fn parse_query(query: &str) -> Result<Params, SpecError> {
    if query.len() > MAX_QUERY {
        return Err(SpecError::BadQuery("query string too long".into()));
    }
    let mut seen: [Option<String>; 7] = Default::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = decode(k)?;
        let Some(i) = KNOWN.iter().position(|n| *n == k) else {
            continue;
        };
        if seen[i].is_some() {
            return Err(SpecError::BadQuery(format!("parameter '{k}' given more than once")));
        }
        seen[i] = Some(decode(v)?);
    }
    let [d, w, h, fit, q, format, dpr] = seen;
    let dim = |name: &str, v: Option<String>| -> Result<Option<u32>, SpecError> {
        v.map(|v| match v.parse::<Size>() {
            Ok(s) if s.w == s.h && s.w > 0 && !v.contains('x') => Ok(s.w),
            _ => Err(SpecError::BadSize(format!("{name}={}", truncate(&v)))),
        })
        .transpose()
    };
    let mut p = Params::default();
    if let Some(d) = d {
        if w.is_some() || h.is_some() {
            return Err(SpecError::BadQuery("use either d= or w=/h=, not both".into()));
        }
        let s: Size = d.parse().map_err(|_| SpecError::BadSize(format!("d={}", truncate(&d))))?;
        if s.w == 0 || s.h == 0 {
            return Err(SpecError::BadSize(format!("d={}", truncate(&d))));
        }
        p.size = Some((Some(s.w), Some(s.h)));
    } else {
        let (w, h) = (dim("w", w)?, dim("h", h)?);
        if w.is_some() || h.is_some() {
            p.size = Some((w, h));
        }
    }
    p.dpr =
        dpr.map(|v| parse_dpr(&v).ok_or_else(|| SpecError::BadQuery(format!("dpr={}", truncate(&v))))).transpose()?;
    p.fit =
        fit.map(|f| Fit::parse(&f).ok_or_else(|| SpecError::BadQuery(format!("fit={}", truncate(&f))))).transpose()?;
    p.quality = q
        .map(|q| match q.parse::<u8>() {
            Ok(v @ 1..=100) if q.bytes().all(|b| b.is_ascii_digit()) => Ok(v),
            _ => Err(SpecError::BadQuery(format!("q={}", truncate(&q)))),
        })
        .transpose()?;
    p.format = format
        .map(|f| Format::parse(&f).ok_or_else(|| SpecError::BadQuery(format!("format={}", truncate(&f)))))
        .transpose()?;
    Ok(p)
}

/// `1`, `2`, `1.5`, `2.75`: plain digits, at most two decimals, 1 to 3; in hundredths.
fn parse_dpr(v: &str) -> Option<u32> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || int.len() > 1 || frac.len() > 2 || !digits(int) || !digits(frac) || v.ends_with('.') {
        return None;
    }
    let frac_hundredths = match frac.len() {
        0 => 0,
        1 => frac.parse::<u32>().ok()? * 10,
        _ => frac.parse::<u32>().ok()?,
    };
    let hundredths = int.parse::<u32>().ok()? * 100 + frac_hundredths;
    DPR_RANGE.contains(&hundredths).then_some(hundredths)
}

/// Multiply a requested size by a device pixel ratio (hundredths), rounding to the nearest
/// pixel; this happens before snapping, so `d=100&dpr=2` is the 200x200 variant.
pub fn apply_dpr(want: (Option<u32>, Option<u32>), dpr: Option<u32>) -> (Option<u32>, Option<u32>) {
    let Some(dpr) = dpr else { return want };
    let scale = |v: u32| ((u64::from(v) * u64::from(dpr) + 50) / 100).min(u64::from(u32::MAX)) as u32;
    (want.0.map(scale), want.1.map(scale))
}

fn decode(s: &str) -> Result<String, SpecError> {
    let plus = s.replace('+', " ");
    percent_decode_str(&plus)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| SpecError::BadQuery("query is not UTF-8".into()))
}

fn truncate(s: &str) -> String {
    s.chars().take(32).collect()
}

/// Snap a requested box to the allow-list: the allowed size of the same shape (both
/// dimensions, width only, height only) that is largest while not larger than asked;
/// when every allowed size is larger, the smallest. `Reject` refuses anything not listed.
pub fn snap(want: (Option<u32>, Option<u32>), cfg: &Config) -> Result<Size, SpecError> {
    let asked = Size::new(want.0.unwrap_or(0), want.1.unwrap_or(0));
    let same_shape = |s: &&Size| (s.w == 0) == (asked.w == 0) && (s.h == 0) == (asked.h == 0);
    let mut shaped: Vec<Size> = cfg.sizes.iter().filter(same_shape).copied().collect();
    if shaped.contains(&asked) {
        return Ok(asked);
    }
    if cfg.unlisted == Unlisted::Reject || shaped.is_empty() {
        return Err(SpecError::NotAllowed(asked.to_string()));
    }
    shaped.sort_by_key(|s| (u64::from(s.w.max(1)) * u64::from(s.h.max(1)), *s));
    let fits = |s: &Size| s.w <= asked.w && s.h <= asked.h;
    Ok(shaped.iter().rev().find(|s| fits(s)).copied().unwrap_or(shaped[0]))
}

/// Pick the output format: an explicit, allowed `format=` wins; otherwise the best the
/// Accept header admits (avif > webp), when allowed; otherwise the original's own.
pub fn negotiate(explicit: Option<Format>, accept: &str, cfg: &Config) -> Result<Option<Format>, SpecError> {
    if let Some(f) = explicit {
        return if cfg.formats.contains(&f) { Ok(Some(f)) } else { Err(SpecError::NotAllowed(f.name().into())) };
    }
    let accepts = |mime: &str| {
        accept.split(',').any(|part| {
            let mut it = part.split(';');
            let m = it.next().unwrap_or("").trim();
            let q0 = it.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            m.eq_ignore_ascii_case(mime) && !q0
        })
    };
    for f in [Format::Avif, Format::Webp] {
        if cfg.formats.contains(&f) && accepts(f.content_type()) {
            return Ok(Some(f));
        }
    }
    Ok(None)
}

/// The viewer-request decision: uri + query + Accept → one route. Pure and total.
pub fn route(uri: &str, query: &str, accept: &str, cfg: &Config) -> Result<Route, SpecError> {
    if !uri.starts_with(&cfg.prefix) {
        return Ok(Route::Untouched);
    }
    let key = Key::from_uri(uri)?;
    let Some(ext) = key.extension().filter(|e| is_image_ext(e)) else {
        return Ok(Route::Untouched);
    };
    // A canonical variant uri asked for directly is already its own cache key.
    if let Some((original, variant)) = parse_variant_key(&key, cfg) {
        return Ok(Route::Variant { key, original, variant });
    }
    let p = parse_query(query)?;
    let Some(want) = p.size else {
        return Ok(Route::Original { key });
    };
    let size = snap(apply_dpr(want, p.dpr), cfg)?;
    let fit = p.fit.unwrap_or(cfg.fit);
    if !cfg.fits.contains(&fit) {
        return Err(SpecError::NotAllowed(fit.name().into()));
    }
    // With one side free every fit gives the same image: one key for it.
    let fit = if size.is_box() { fit } else { cfg.fit };
    let quality = match p.quality {
        None => None,
        Some(q) => snap_quality(q, cfg)?,
    };
    let own = Format::for_original_ext(&ext);
    let format = negotiate(p.format, accept, cfg)?.filter(|f| Some(*f) != own);
    let variant = Variant { size, fit, quality, format };
    let vkey = variant_key(&key, &variant, cfg)?;
    Ok(Route::Variant { key: vkey, original: key, variant })
}

/// `q=` snaps down to the listed qualities; at or above the default it means the default.
fn snap_quality(q: u8, cfg: &Config) -> Result<Option<u8>, SpecError> {
    let mut listed = cfg.qualities.clone();
    listed.sort_unstable();
    if listed.contains(&q) {
        return Ok(Some(q));
    }
    if cfg.unlisted == Unlisted::Reject {
        return Err(SpecError::NotAllowed(format!("q={q}")));
    }
    // At or above the default quality: the default (no segment); below: the listed
    // level that is not higher, or the lowest one.
    if listed.is_empty() || q >= cfg.quality.jpeg.min(cfg.quality.webp) {
        return Ok(None);
    }
    Ok(Some(listed.iter().rev().find(|&&l| l <= q).copied().unwrap_or(listed[0])))
}
