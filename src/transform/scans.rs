//! Progressive JPEG: hand libjpeg only the scans a 1/8-scale decode reads.
//!
//! A progressive JPEG sends its DCT coefficients in several scans: DC first, then bands of
//! AC coefficients, often each in several passes of successive approximation (ITU T.81
//! G.1). libjpeg entropy-decodes every scan of the file before it outputs a pixel, even when
//! the output scale uses a fraction of the coefficients. At 1/8 scale it reads only the DC
//! coefficient of a full-resolution component (`jpeg_idct_1x1` in libjpeg-turbo's
//! `jidctred.c`), so the AC scans of those components are work thrown away, usually 70-90 %
//! of the file. Subsampled chroma is the exception: libjpeg-turbo scales it up by a larger
//! IDCT rather than upsampling (`jdmaster.c`; 2x2 for 4:2:0), and that IDCT reads AC
//! coefficients up to (7,7), so such components keep all their scans. At 1/4 and 1/2 the
//! luma IDCTs (`jpeg_idct_2x2`, `jpeg_idct_4x4`) read coefficients up to (7,7) too: no scan
//! can be skipped there without changing pixels.
//!
//! The reduced stream is the original with the unneeded scans (their SOS header and
//! entropy-coded data) cut out; every other segment (tables, restart interval, metadata)
//! stays in place, so Huffman tables redefined between scans still precede the scans that
//! use them. Decoded with block smoothing off (`do_block_smoothing`: with AC data missing,
//! libjpeg-turbo 2.1+ would otherwise re-estimate DC from neighbours), it gives exactly the
//! pixels of a decode of the whole file at 1/8, which `tests/partial_decode.rs` checks on
//! several scan scripts. Pure: bytes in, bytes out.
//!
//! Only well-formed files take this path: a progressive Huffman frame (SOF2) whose every
//! scan ends at a marker and which reaches EOI. Anything else (truncated, arithmetic-coded,
//! DNL, stray restart markers between segments) returns `None`, and the caller decodes the
//! whole file under the usual decode policy. A defect inside a skipped AC scan is not seen:
//! it could not change a pixel of the 1/8 decode either.

/// One scan of a progressive frame (ITU T.81 B.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Component identifiers (as in the frame header), 1 to 4.
    pub components: Vec<u8>,
    /// Spectral selection start and end (zig-zag indices; 0..=0 is a DC scan).
    pub ss: u8,
    pub se: u8,
    /// Successive approximation: previous and current bit position.
    pub ah: u8,
    pub al: u8,
    /// Byte range of the scan in the file: SOS marker to the marker after its data.
    pub start: usize,
    pub end: usize,
}

/// A frame component: identifier and sampling factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Component {
    pub id: u8,
    pub h: u8,
    pub v: u8,
}

/// The structure of a progressive Huffman JPEG, as far as scan selection needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub components: Vec<Component>,
    pub scans: Vec<Scan>,
    /// Offset just past EOI.
    pub end: usize,
}

/// A marker segment: the marker, its offset, and the offset just past its length-counted
/// body (`None` when the marker stands alone: SOI, EOI, RSTn, TEM).
pub(super) struct Segment {
    pub marker: u8,
    pub at: usize,
    pub body_end: Option<usize>,
}

/// The segment at `i`, skipping fill bytes; `None` past the data or on a malformed length.
pub(super) fn segment(data: &[u8], mut i: usize) -> Option<Segment> {
    if *data.get(i)? != 0xFF {
        return None;
    }
    // Fill bytes (any number of 0xFF) may precede a marker.
    while *data.get(i + 1)? == 0xFF {
        i += 1;
    }
    let marker = data[i + 1];
    if matches!(marker, 0x01 | 0xD0..=0xD9) {
        return Some(Segment { marker, at: i, body_end: None });
    }
    let len = usize::from(u16::from_be_bytes([*data.get(i + 2)?, *data.get(i + 3)?]));
    let end = (i + 2).checked_add(len)?;
    (len >= 2 && end <= data.len()).then_some(Segment { marker, at: i, body_end: Some(end) })
}

/// DHT, DQT, DRI, APPn and COM: the segments besides frames and scans that libjpeg reads
/// by their length (`read_markers` in `jdmarker.c`). A walk of the segments must refuse
/// anything else: libjpeg reads `FF 00` in a header as stray bytes and looks for the next
/// marker, so a length after it would put this walk and libjpeg on different segments, and
/// a stream rebuilt from this walk's segments would decode differently from the file.
pub(super) fn is_table_or_metadata(marker: u8) -> bool {
    matches!(marker, 0xC4 | 0xDB | 0xDD | 0xE0..=0xEF | 0xFE)
}

/// The frame header (SOFn, ITU T.81 B.2.2): its marker and body, from the segments before
/// the first scan; `None` when a scan, EOI or a malformed segment comes first.
pub fn frame_header(data: &[u8]) -> Option<(u8, &[u8])> {
    let mut i = 2;
    while let Some(Segment { marker, at, body_end: Some(end) }) = segment(data, i) {
        match marker {
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => return Some((marker, &data[at + 4..end])),
            0xDA => return None,
            _ => i = end,
        }
    }
    None
}

/// Parse `data` as a progressive Huffman JPEG (SOF2) that is complete to EOI; `None` for
/// any other JPEG or any structural doubt.
pub fn parse(data: &[u8]) -> Option<Script> {
    if data.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut components = Vec::new();
    let mut scans = Vec::new();
    let mut i = 2;
    loop {
        let Segment { marker, at, body_end } = segment(data, i)?;
        let Some(end) = body_end else {
            // EOI ends a file with scans; anything else standing alone between segments
            // (RSTn, TEM, SOI) is not a file we vouch for.
            return (marker == 0xD9 && !scans.is_empty()).then_some(Script { components, scans, end: at + 2 });
        };
        let body = &data[at + 4..end];
        i = end;
        match marker {
            0xC2 => components = checked_components(body)?,
            0xDA => {
                if components.is_empty() {
                    return None;
                }
                let (ids, ss, se, ah, al) = scan_header(body)?;
                i = entropy_end(data, end, |_, _| Some(()))?;
                scans.push(Scan { components: ids, ss, se, ah, al, start: at, end: i });
            }
            m if is_table_or_metadata(m) => {}
            // Any other frame type (baseline, extended, lossless, arithmetic), DNL, and any
            // marker libjpeg does not read as a segment (see `is_table_or_metadata`).
            _ => return None,
        }
    }
}

/// The components a SOF body lists (precision, height, width, then id, sampling and table
/// per component: ITU T.81 B.2.2), as written: the sampling factors are not checked.
pub fn frame_components(body: &[u8]) -> Option<Vec<Component>> {
    let n = usize::from(*body.get(5)?);
    let list = body.get(6..6 + 3 * n)?;
    Some(list.chunks_exact(3).map(|c| Component { id: c[0], h: c[1] >> 4, v: c[1] & 15 }).collect())
}

/// `frame_components`, refused when empty or when a sampling factor is outside 1..=4.
pub(super) fn checked_components(body: &[u8]) -> Option<Vec<Component>> {
    let components = frame_components(body)?;
    let valid = |f: u8| (1..=4).contains(&f);
    (!components.is_empty() && components.iter().all(|c| valid(c.h) && valid(c.v))).then_some(components)
}

/// SOS body: component count, (id, tables) per component, Ss, Se, Ah/Al.
#[allow(clippy::type_complexity)]
pub(super) fn scan_header(body: &[u8]) -> Option<(Vec<u8>, u8, u8, u8, u8)> {
    let n = usize::from(*body.first()?);
    let ids: Vec<u8> = body.get(1..1 + 2 * n)?.chunks_exact(2).map(|c| c[0]).collect();
    let [ss, se, a] = *body.get(1 + 2 * n..4 + 2 * n)? else { return None };
    (n > 0).then_some((ids, ss, se, a >> 4, a & 15))
}

/// The offset of the marker that ends the entropy-coded data starting at `from`: the first
/// 0xFF not followed by a stuffed 0x00 or a restart marker (RST0-7 belong to the scan).
/// `on_restart` sees each restart marker on the way (its offset and number, 0-7) and may
/// refuse the data with `None`. `None` when the file ends first (a truncated scan).
pub(super) fn entropy_end(
    data: &[u8],
    from: usize,
    mut on_restart: impl FnMut(usize, u8) -> Option<()>,
) -> Option<usize> {
    let mut j = from;
    loop {
        j += memchr::memchr(0xFF, data.get(j..)?)?;
        match *data.get(j + 1)? {
            0x00 => j += 2,
            m @ 0xD0..=0xD7 => {
                on_restart(j, m - 0xD0)?;
                j += 2;
            }
            _ => return Some(j),
        }
    }
}

/// libjpeg-turbo's IDCT size for each component at 1/8 scale (`jdmaster.c`,
/// `master_selection`'s "scale up the chroma components via IDCT scaling" loop with
/// `min_DCT_scaled_size` = 1): 1 reads only DC; larger sizes read AC coefficients too.
pub fn eighth_scale_idct_sizes(components: &[Component]) -> Vec<u8> {
    let max_h = components.iter().map(|c| c.h).max().unwrap_or(1);
    let max_v = components.iter().map(|c| c.v).max().unwrap_or(1);
    components
        .iter()
        .map(|c| {
            let mut size = 1u8;
            while size < 8 && max_h % (c.h * size * 2) == 0 && max_v % (c.v * size * 2) == 0 {
                size *= 2;
            }
            size
        })
        .collect()
}

/// The stream that decodes at 1/8 scale to the same pixels as `data` (with block smoothing
/// off), and how many bytes it leaves out; `None` when nothing can be left out or the file
/// does not qualify (see the module docs).
pub fn eighth_scale_stream(data: &[u8]) -> Option<(Vec<u8>, usize)> {
    let script = parse(data)?;
    let sizes = eighth_scale_idct_sizes(&script.components);
    let needs_ac = |id: u8| script.components.iter().zip(&sizes).any(|(c, &s)| c.id == id && s > 1);
    let skipped: Vec<&Scan> =
        script.scans.iter().filter(|s| s.ss > 0 && !s.components.iter().any(|&id| needs_ac(id))).collect();
    if skipped.is_empty() {
        return None;
    }
    let left_out: usize = skipped.iter().map(|s| s.end - s.start).sum();
    let mut out = Vec::with_capacity(script.end - left_out);
    let mut at = 0;
    for s in skipped {
        out.extend_from_slice(&data[at..s.start]);
        at = s.end;
    }
    out.extend_from_slice(&data[at..script.end]);
    Some((out, left_out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: u8, h: u8, v: u8) -> Component {
        Component { id, h, v }
    }

    #[test]
    fn idct_sizes_follow_libjpeg_turbo() {
        assert_eq!(eighth_scale_idct_sizes(&[c(1, 2, 2), c(2, 1, 1), c(3, 1, 1)]), [1, 2, 2], "4:2:0");
        assert_eq!(eighth_scale_idct_sizes(&[c(1, 2, 1), c(2, 1, 1), c(3, 1, 1)]), [1, 1, 1], "4:2:2");
        assert_eq!(eighth_scale_idct_sizes(&[c(1, 1, 1), c(2, 1, 1), c(3, 1, 1)]), [1, 1, 1], "4:4:4");
        assert_eq!(eighth_scale_idct_sizes(&[c(1, 4, 4), c(2, 1, 1), c(3, 1, 1)]), [1, 4, 4], "4:1:0-like");
        assert_eq!(eighth_scale_idct_sizes(&[c(1, 1, 1)]), [1], "grey");
    }

    /// A minimal progressive file: SOF2 (one component), DHT stand-in, a DC and an AC scan.
    fn file(tail: &[u8]) -> Vec<u8> {
        let mut f = vec![0xFF, 0xD8];
        f.extend_from_slice(&[0xFF, 0xC2, 0, 11, 8, 0, 8, 0, 8, 1, 1, 0x11, 0]);
        f.extend_from_slice(&[0xFF, 0xC4, 0, 2]);
        f.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 0, 0, 0x12, 0xFF, 0x00, 0x34]); // DC
        f.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0, 1, 63, 0, 0x56, 0xFF, 0xD0, 0x78]); // AC, RST0
        f.extend_from_slice(tail);
        f
    }

    #[test]
    fn parses_scans_and_cuts_the_ac_scan() {
        let f = file(&[0xFF, 0xFF, 0xD9, 0xAA]);
        let s = parse(&f).unwrap();
        assert_eq!(s.scans.len(), 2);
        assert_eq!((s.scans[1].ss, s.scans[1].se), (1, 63));
        assert_eq!(s.end, f.len() - 1, "data after EOI is not part of the stream");
        let (out, left_out) = eighth_scale_stream(&f).unwrap();
        assert_eq!(left_out, 14);
        assert_eq!(out.len(), f.len() - 1 - 14);
        assert!(out.ends_with(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xFF, 0xD9]));
    }

    #[test]
    fn finds_the_frame_header_before_the_first_scan() {
        assert_eq!(frame_header(&file(&[])).map(|f| f.0), Some(0xC2), "even when cut short after the frame");
        let mut baseline = file(&[0xFF, 0xD9]);
        baseline[3] = 0xC0;
        assert_eq!(frame_header(&baseline).map(|f| (f.0, f.1.len())), Some((0xC0, 9)));
        assert_eq!(frame_header(b"\xFF\xD8\xFF"), None);
    }

    #[test]
    fn refuses_what_it_cannot_vouch_for() {
        assert_eq!(parse(&file(&[])), None, "no EOI");
        let mut cut = file(&[0xFF, 0xD9]);
        cut.truncate(cut.len() - 4);
        assert_eq!(parse(&cut), None, "scan cut short");
        let mut baseline = file(&[0xFF, 0xD9]);
        baseline[3] = 0xC0;
        assert_eq!(parse(&baseline), None, "baseline frame");
        let mut arith = file(&[0xFF, 0xD9]);
        arith[3] = 0xCA;
        assert_eq!(parse(&arith), None, "arithmetic progressive frame");
        let mut dnl = file(&[0xFF, 0xDC, 0, 4, 0, 8, 0xFF, 0xD9]);
        assert_eq!(parse(&dnl), None, "DNL");
        dnl.truncate(3);
        assert_eq!(parse(&dnl), None);
        assert_eq!(parse(&[0xFF, 0xD8, 0xFF, 0xD9]), None, "no scans");
        assert_eq!(parse(b""), None);
    }
}
