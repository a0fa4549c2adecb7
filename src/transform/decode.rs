//! Decode: sniff the format from the bytes (never the file name), read the header, check
//! the pixel limit, then decode: JPEG through libjpeg-turbo/mozjpeg with DCT scaling
//! (shrink-on-load), PNG/GIF/WebP through the image crate.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use image::{DynamicImage, ImageDecoder, ImageReader};

use super::libjpeg;
use super::TransformError;

/// Formats we decode, recognised by magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    Jpeg,
    Png,
    Gif,
    Webp,
}

impl std::fmt::Display for InputFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InputFormat::Jpeg => "JPEG",
            InputFormat::Png => "PNG",
            InputFormat::Gif => "GIF",
            InputFormat::Webp => "WebP",
        })
    }
}

/// Where a decode failed: the header (size, markers, chunks) or the pixel data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeStage {
    Header,
    Pixels,
}

impl std::fmt::Display for DecodeStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DecodeStage::Header => "reading the header",
            DecodeStage::Pixels => "decoding pixels",
        })
    }
}

/// The input format from its magic bytes (never the key's extension).
pub fn sniff(data: &[u8]) -> Option<InputFormat> {
    match data {
        [0xFF, 0xD8, 0xFF, ..] => Some(InputFormat::Jpeg),
        [0x89, b'P', b'N', b'G', ..] => Some(InputFormat::Png),
        [b'G', b'I', b'F', b'8', ..] => Some(InputFormat::Gif),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some(InputFormat::Webp),
        _ => None,
    }
}

/// Image formats recognised but not decoded by this build (README, "Originals"): an
/// original in one of them is answered 415 with the reason, not 502 "corrupt".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undecoded {
    /// AV1 in HEIF (`ftyp` brand `avif` or `avis`).
    Avif,
    /// HEVC in HEIF, the iPhone camera's default (`heic`, `heix`, `hevc`, ...).
    Heic,
    /// Another HEIF (`mif1`/`msf1` only: JPEG, uncompressed, or a codec named inside).
    Heif,
}

impl Undecoded {
    /// Why there is no decoder, for the operator reading the 415.
    pub fn reason(self) -> &'static str {
        match self {
            Undecoded::Avif => {
                "no AV1 decoder is linked into this build (dav1d has no static library for the Lambda target); \
                 store the original as JPEG, PNG or WebP"
            }
            Undecoded::Heic | Undecoded::Heif => {
                "no HEVC decoder is linked into this build (libheif and libde265 are LGPL C/C++ and HEVC is \
                 patent-licensed); convert the original to JPEG on upload"
            }
        }
    }
}

impl std::fmt::Display for Undecoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Undecoded::Avif => "AVIF",
            Undecoded::Heic => "HEIC",
            Undecoded::Heif => "HEIF",
        })
    }
}

/// An ISO-BMFF image (the HEIF family) by the brands of its leading `ftyp` box: the major
/// brand and the compatible ones (ISO/IEC 23008-12 for HEIF/HEIC, AV1-ISOBMFF for AVIF).
/// AVIF files also list `mif1`, so the specific brands decide first.
pub fn sniff_undecoded(data: &[u8]) -> Option<Undecoded> {
    let size = u32::from_be_bytes(data.get(..4)?.try_into().ok()?) as usize;
    if data.get(4..8)? != b"ftyp" || size < 16 {
        return None;
    }
    let ftyp = &data[..size.min(data.len())];
    // major brand, then (after the minor version) the compatible brands
    let brands: Vec<&[u8]> = std::iter::once(ftyp.get(8..12)?).chain(ftyp.get(16..)?.chunks_exact(4)).collect();
    let any = |list: &[&[u8; 4]]| brands.iter().any(|b| list.iter().any(|l| *b == l.as_slice()));
    if any(&[b"avif", b"avis"]) {
        Some(Undecoded::Avif)
    } else if any(&[b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"]) {
        Some(Undecoded::Heic)
    } else if any(&[b"mif1", b"msf1"]) {
        Some(Undecoded::Heif)
    } else {
        None
    }
}

/// What the header says, before any pixel is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub format: InputFormat,
    /// Stored (pre-rotation) size.
    pub width: u32,
    pub height: u32,
    /// EXIF orientation, 1..=8.
    pub orientation: u8,
}

/// Channel layout of decoded 8-bit pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Gray,
    GrayAlpha,
    Rgb,
    Rgba,
    /// CMYK as libjpeg returns it from a four-channel JPEG, Adobe-inverted (255 = no ink):
    /// see `decode_jpeg` for why every CMYK JPEG is read this way.
    Cmyk,
}

impl Layout {
    pub fn channels(self) -> usize {
        match self {
            Layout::Gray => 1,
            Layout::GrayAlpha => 2,
            Layout::Rgb => 3,
            Layout::Rgba | Layout::Cmyk => 4,
        }
    }
    pub fn has_alpha(self) -> bool {
        matches!(self, Layout::GrayAlpha | Layout::Rgba)
    }
}

/// Decoded pixels, possibly shrunk on load.
pub struct Decoded {
    pub pixels: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub layout: Layout,
    pub icc: Option<Vec<u8>>,
    /// Warnings the decode policy tolerated (libjpeg's text), already logged.
    pub warnings: Vec<String>,
    /// Bytes of the original the decoder did not need to read: the AC scans of a
    /// progressive JPEG decoded at 1/8 scale (see `scans`); 0 otherwise.
    pub skipped_bytes: usize,
}

/// Decode `data`. `choose_shrink` sees the header first and answers the shrink-on-load
/// factor (JPEG: the DCT scale denominator 1, 2, 4 or 8; still WebP: any integer, by
/// libwebp's scaler; others ignore it), or refuses the image (pixel limit) before any
/// allocation. `threads`: how many threads a baseline JPEG with restart markers may be
/// decoded on (see `restart`); 1 decodes every file on the calling thread.
pub fn decode(
    data: &[u8],
    max_pixels: u64,
    threads: usize,
    choose_shrink: impl FnOnce(&Header) -> Result<u8, TransformError>,
) -> Result<Decoded, TransformError> {
    let Some(format) = sniff(data) else {
        return Err(sniff_undecoded(data).map_or(TransformError::Unsupported, TransformError::NotDecoded));
    };
    match format {
        InputFormat::Jpeg => decode_jpeg(data, threads, choose_shrink),
        InputFormat::Webp if !super::webp::is_animated(data) => super::webp::decode(data, max_pixels, choose_shrink),
        f => decode_other(data, f, max_pixels, choose_shrink),
    }
}

/// Refuse before allocating: the limit is on the declared size.
pub fn check_pixels(format: InputFormat, w: u32, h: u32, max_pixels: u64) -> Result<(), TransformError> {
    if w == 0 || h == 0 {
        return Err(TransformError::Corrupt {
            format,
            stage: DecodeStage::Header,
            message: "zero width or height".into(),
        });
    }
    if u64::from(w) * u64::from(h) > max_pixels {
        return Err(TransformError::TooManyPixels { width: w, height: h, limit: max_pixels });
    }
    Ok(())
}

fn decode_jpeg(
    data: &[u8],
    threads: usize,
    choose_shrink: impl FnOnce(&Header) -> Result<u8, TransformError>,
) -> Result<Decoded, TransformError> {
    let (mut d, warnings) = under_policy(|stage| -> Result<Decoded, TransformError> {
        // Declared before the decompressor that may borrow it, so it is dropped after it
        // (clippy's "move the declaration" would not borrow-check).
        #[allow(clippy::needless_late_init)]
        let reduced: Option<(Vec<u8>, usize)>;
        let mut d = open_jpeg(data, &[mozjpeg::Marker::APP(1), mozjpeg::Marker::APP(2)])?;
        let (w, h) = (d.width() as u32, d.height() as u32);
        let mut orientation = 1;
        let mut icc_chunks: Vec<(u8, Vec<u8>)> = Vec::new();
        for m in d.markers() {
            match m.marker {
                mozjpeg::Marker::APP(1) if m.data.starts_with(b"Exif\0\0") => {
                    orientation = exif_orientation(&m.data[6..]);
                }
                mozjpeg::Marker::APP(2) if m.data.len() > 14 && m.data.starts_with(b"ICC_PROFILE\0") => {
                    icc_chunks.push((m.data[12], m.data[14..].to_vec()));
                }
                _ => {}
            }
        }
        icc_chunks.sort_by_key(|c| c.0);
        let icc = (!icc_chunks.is_empty()).then(|| icc_chunks.into_iter().flat_map(|c| c.1).collect());
        let header = Header { format: InputFormat::Jpeg, width: w, height: h, orientation };
        let shrink = choose_shrink(&header)?.clamp(1, 8);
        // With restart markers at row starts, bands decode on `threads` threads (see `restart`).
        if threads > 1 {
            if let Some(bands) = super::restart::bands(data, threads) {
                let header_warnings = libjpeg::take_tolerated();
                stage.set(DecodeStage::Pixels);
                let mut dec = decode_bands(&bands, &d, shrink, (w, h))?;
                dec.icc = icc;
                dec.warnings.splice(0..0, header_warnings);
                return Ok(dec);
            }
        }
        // At 1/8 a progressive file's AC scans are mostly unused: decode only the scans
        // that scale reads, with the same pixels as the whole file (see `scans`).
        reduced = if shrink == 8 { super::scans::eighth_scale_stream(data) } else { None };
        let skipped_bytes = reduced.as_ref().map_or(0, |r| r.1);
        if let Some((stream, _)) = &reduced {
            d = open_jpeg(stream, &[])?;
            // With AC data missing, libjpeg-turbo's block smoothing would re-estimate DC
            // from the neighbouring blocks; a whole-file decode never does.
            d.do_block_smoothing(false);
        }
        stage.set(DecodeStage::Pixels);
        let (pixels, width, height, layout) = read_pixels(d, shrink)?;
        Ok(Decoded { pixels, width, height, layout, icc, warnings: Vec::new(), skipped_bytes })
    })?;
    for w in &warnings {
        tracing::warn!(format = "JPEG", warning = %w, "tolerated libjpeg warning (image data intact)");
    }
    d.warnings.extend(warnings);
    Ok(d)
}

/// libjpeg on `bytes`, with our error manager, saving the `markers` listed.
fn open_jpeg<'a>(
    bytes: &'a [u8],
    markers: &[mozjpeg::Marker],
) -> Result<mozjpeg::Decompress<&'a [u8]>, TransformError> {
    mozjpeg::Decompress::builder().with_err(libjpeg::error_mgr()).with_markers(markers).from_mem(bytes).map_err(|e| {
        TransformError::Corrupt { format: InputFormat::Jpeg, stage: DecodeStage::Header, message: e.to_string() }
    })
}

/// The pixel layout libjpeg decodes to, and the started decompressor.
fn start(
    mut d: mozjpeg::Decompress<&[u8]>,
    shrink: u8,
) -> Result<(mozjpeg::decompress::DecompressStarted<&[u8]>, Layout), TransformError> {
    d.scale(8 / shrink);
    Ok(match d.image().map_err(|e| pixels_error(e.to_string()))? {
        mozjpeg::Format::RGB(s) => (s, Layout::Rgb),
        mozjpeg::Format::Gray(s) => (s, Layout::Gray),
        // Four-channel JPEGs are read as Adobe-inverted CMYK whether or not the APP14
        // "Adobe" segment is there, as Chromium and Firefox do: Photoshop, which writes
        // nearly all of them, stores CMYK inverted, and a file without the segment shown
        // the other way round is a negative (an all-black thumbnail for a cyan image).
        mozjpeg::Format::CMYK(s) => (s, Layout::Cmyk),
    })
}

fn pixels_error(message: String) -> TransformError {
    TransformError::Corrupt { format: InputFormat::Jpeg, stage: DecodeStage::Pixels, message }
}

/// Decode every row at 1/`shrink` scale: pixels, width, height, layout.
fn read_pixels(d: mozjpeg::Decompress<&[u8]>, shrink: u8) -> Result<(Vec<u8>, u32, u32, Layout), TransformError> {
    let (mut started, layout) = start(d, shrink)?;
    let (w, h) = (started.width() as u32, started.height() as u32);
    let pixels: Vec<u8> = started.read_scanlines().map_err(|e| pixels_error(e.to_string()))?;
    started.finish().map_err(|e| pixels_error(e.to_string()))?;
    Ok((pixels, w, h, layout))
}

/// Decode `bands` (of one file whose header `d` has read) on one thread each, each into its
/// own rows of one buffer; the first failing band's error is the image's.
fn decode_bands(
    bands: &[super::restart::Band],
    d: &mozjpeg::Decompress<&[u8]>,
    shrink: u8,
    (w, h): (u32, u32),
) -> Result<Decoded, TransformError> {
    use mozjpeg::ColorSpace as C;
    let layout = match d.color_space() {
        C::JCS_GRAYSCALE => Layout::Gray,
        C::JCS_CMYK | C::JCS_YCCK => Layout::Cmyk,
        _ => Layout::Rgb,
    };
    let s = u32::from(shrink);
    // libjpeg's scaled size: jdiv_round_up(size * scale_num, scale_denom).
    let (ow, oh) = (w.div_ceil(s), h.div_ceil(s));
    let row = ow as usize * layout.channels();
    // Zeroed by calloc: fresh pages, not a pass over the buffer.
    let mut pixels = vec![0u8; row * oh as usize];
    let mut rest = pixels.as_mut_slice();
    let mut jobs = Vec::with_capacity(bands.len());
    for b in bands {
        let rows = (b.keep_bottom.div_ceil(s) - b.keep_top / s) as usize;
        let (mine, after) = rest.split_at_mut(rows * row);
        jobs.push((b, mine));
        rest = after;
    }
    if !rest.is_empty() {
        return Err(TransformError::Internal("restart bands do not cover the image".into()));
    }
    let one = |(b, out): (&super::restart::Band, &mut [u8])| {
        under_policy(|_| decode_band(b, shrink, layout, ow, out)).map(|((), warnings)| warnings)
    };
    let mut results = Vec::with_capacity(jobs.len());
    std::thread::scope(|scope| {
        let mut jobs = jobs.into_iter();
        let first = jobs.next();
        let spawned: Vec<_> = jobs.map(|job| scope.spawn(move || one(job))).collect();
        results.extend(first.map(one));
        for t in spawned {
            results.push(t.join().unwrap_or_else(|_| Err(TransformError::Internal("band decode panicked".into()))));
        }
    });
    let mut warnings = Vec::new();
    for r in results {
        warnings.extend(r?);
    }
    Ok(Decoded { pixels, width: ow, height: oh, layout, icc: None, warnings, skipped_bytes: 0 })
}

/// Decode one band, writing its own rows into `out` and reading its context rows into a
/// scratch row.
fn decode_band(
    b: &super::restart::Band,
    shrink: u8,
    layout: Layout,
    width: u32,
    out: &mut [u8],
) -> Result<(), TransformError> {
    let (mut started, got) = start(open_jpeg(&b.stream, &[])?, shrink)?;
    if got != layout || started.width() as u32 != width {
        return Err(TransformError::Internal("a restart band decoded to another layout".into()));
    }
    let s = u32::from(shrink);
    let skip = ((b.keep_top - b.top) / s) as usize;
    let mut scratch = vec![0u8; width as usize * layout.channels()];
    let read = |started: &mut mozjpeg::decompress::DecompressStarted<&[u8]>, into: &mut [u8]| {
        started.read_scanlines_into(into).map(|_| ()).map_err(|e| pixels_error(e.to_string()))
    };
    for _ in 0..skip {
        read(&mut started, &mut scratch)?;
    }
    read(&mut started, out)?;
    let after = started.height() - skip - out.len() / scratch.len();
    for _ in 0..after {
        read(&mut started, &mut scratch)?;
    }
    started.finish().map_err(|e| pixels_error(e.to_string()))
}

/// Run libjpeg work under the decode policy (see `libjpeg`): its errors, and the warnings
/// the policy makes fatal, unwind with a `LibjpegAbort`, which becomes `Corrupt` at the
/// stage `f` had reached. Returns the warnings tolerated on this thread with the result.
fn under_policy<T>(
    f: impl FnOnce(&std::cell::Cell<DecodeStage>) -> Result<T, TransformError>,
) -> Result<(T, Vec<String>), TransformError> {
    let stage = std::cell::Cell::new(DecodeStage::Header);
    let corrupt =
        |stage: DecodeStage, message: String| TransformError::Corrupt { format: InputFormat::Jpeg, stage, message };
    let result = catch_unwind(AssertUnwindSafe(|| f(&stage)));
    let warnings = libjpeg::take_tolerated();
    match result {
        Ok(Ok(t)) => Ok((t, warnings)),
        Ok(Err(e)) => Err(e),
        Err(payload) => Err(match payload.downcast::<libjpeg::LibjpegAbort>() {
            Ok(abort) => corrupt(stage.get(), abort.message),
            Err(other) => {
                let message = other
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| other.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "libjpeg stopped without a message".into());
                corrupt(stage.get(), message)
            }
        }),
    }
}

/// EXIF orientation from a TIFF block; 1 when absent or unreadable.
pub fn exif_orientation(tiff: &[u8]) -> u8 {
    exif::Reader::new()
        .read_raw(tiff.to_vec())
        .ok()
        .and_then(|e| e.get_field(exif::Tag::Orientation, exif::In::PRIMARY).and_then(|f| f.value.get_uint(0)))
        .filter(|o| (1..=8).contains(o))
        .map_or(1, |o| o as u8)
}

fn decode_other(
    data: &[u8],
    format: InputFormat,
    max_pixels: u64,
    choose_shrink: impl FnOnce(&Header) -> Result<u8, TransformError>,
) -> Result<Decoded, TransformError> {
    let corrupt = |stage: DecodeStage| {
        move |e: image::ImageError| {
            let message = match e {
                image::ImageError::Limits(_) => format!("declared size over limits: {e}"),
                e => e.to_string(),
            };
            TransformError::Corrupt { format, stage, message }
        }
    };
    let fmt = match format {
        InputFormat::Png => image::ImageFormat::Png,
        InputFormat::Gif => image::ImageFormat::Gif,
        _ => image::ImageFormat::WebP,
    };
    let mut reader = ImageReader::with_format(Cursor::new(data), fmt);
    // A second line of defence behind the header check: the decoders refuse to allocate
    // more than a full RGBA16 frame of the largest allowed image.
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(max_pixels.saturating_mul(8).max(1 << 20));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(corrupt(DecodeStage::Header))?;
    let (w, h) = decoder.dimensions();
    check_pixels(format, w, h, max_pixels)?;
    let orientation = match decoder.orientation() {
        Ok(o) => orientation_number(o),
        Err(_) => 1,
    };
    let icc = decoder.icc_profile().ok().flatten();
    choose_shrink(&Header { format, width: w, height: h, orientation })?;
    let img = DynamicImage::from_decoder(decoder).map_err(corrupt(DecodeStage::Pixels))?;
    let (width, height) = (img.width(), img.height());
    let (pixels, layout) = match img {
        DynamicImage::ImageLuma8(b) => (b.into_raw(), Layout::Gray),
        DynamicImage::ImageLumaA8(b) => (b.into_raw(), Layout::GrayAlpha),
        DynamicImage::ImageRgb8(b) => (b.into_raw(), Layout::Rgb),
        DynamicImage::ImageRgba8(b) => (b.into_raw(), Layout::Rgba),
        DynamicImage::ImageLuma16(_) => (img.into_luma8().into_raw(), Layout::Gray),
        DynamicImage::ImageLumaA16(_) => (img.into_luma_alpha8().into_raw(), Layout::GrayAlpha),
        i if i.color().has_alpha() => (i.into_rgba8().into_raw(), Layout::Rgba),
        i => (i.into_rgb8().into_raw(), Layout::Rgb),
    };
    Ok(Decoded { pixels, width, height, layout, icc, warnings: Vec::new(), skipped_bytes: 0 })
}

fn orientation_number(o: image::metadata::Orientation) -> u8 {
    use image::metadata::Orientation::*;
    match o {
        NoTransforms => 1,
        FlipHorizontal => 2,
        Rotate180 => 3,
        FlipVertical => 4,
        Rotate90FlipH => 5,
        Rotate90 => 6,
        Rotate270FlipH => 7,
        Rotate270 => 8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&(16 + 4 * compatible.len() as u32).to_be_bytes());
        b.extend_from_slice(b"ftyp");
        b.extend_from_slice(major);
        b.extend_from_slice(&[0; 4]);
        compatible.iter().for_each(|c| b.extend_from_slice(*c));
        b.extend_from_slice(b"\0\0\0\x08meta");
        b
    }

    #[test]
    fn heif_family_is_recognised_by_its_brands() {
        let fixture = |n: &str| std::fs::read(format!("{}/fixtures/image/{n}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert_eq!(sniff_undecoded(&fixture("quadrants.avif")), Some(Undecoded::Avif));
        assert_eq!(sniff_undecoded(&fixture("quadrants.heic")), Some(Undecoded::Heic));
        // The specific brand wins over the generic `mif1`, wherever it is listed.
        assert_eq!(sniff_undecoded(&ftyp(b"mif1", &[b"mif1", b"avif"])), Some(Undecoded::Avif));
        assert_eq!(sniff_undecoded(&ftyp(b"avis", &[b"msf1"])), Some(Undecoded::Avif));
        assert_eq!(sniff_undecoded(&ftyp(b"heix", &[])), Some(Undecoded::Heic));
        assert_eq!(sniff_undecoded(&ftyp(b"msf1", &[b"hevc"])), Some(Undecoded::Heic));
        assert_eq!(sniff_undecoded(&ftyp(b"mif1", &[b"miaf"])), Some(Undecoded::Heif));
        // Other ISO-BMFF (MP4 video), a brand only after the box, junk: not ours.
        assert_eq!(sniff_undecoded(&ftyp(b"isom", &[b"mp41"])), None);
        let mut short = ftyp(b"isom", &[]);
        short.extend_from_slice(b"avif");
        assert_eq!(sniff_undecoded(&short), None);
        let mut tiny = ftyp(b"avif", &[]);
        tiny[3] = 12;
        assert_eq!(sniff_undecoded(&tiny), None, "an ftyp box under 16 bytes");
        assert_eq!(sniff_undecoded(&ftyp(b"avif", &[])[..11]), None);
        assert_eq!(sniff_undecoded(b""), None);
        assert_eq!(sniff(&fixture("quadrants.heic")), None, "not taken for an image we decode");
    }
}
