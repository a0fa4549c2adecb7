//! Baseline JPEG with restart markers: cut the file into horizontal bands that libjpeg
//! decodes on separate threads, to the same pixels as one decode of the whole file.
//!
//! A restart marker (RSTn, ITU T.81 E.1.4) resets the entropy decoder: DC predictions start
//! again from 0 and the bit stream restarts at a byte boundary, so the data after a marker
//! decodes without anything before it. Where a restart falls at the start of an MCU row, the
//! rows from there on are a JPEG of their own: the same tables and restart interval, a frame
//! header with a smaller height, the intervals of those rows with their markers renumbered
//! from RST0 (libjpeg checks the sequence), and EOI. Rows and their markers are found with
//! memchr; nothing is entropy-decoded twice.
//!
//! One thing reaches across MCU rows: fancy upsampling of vertically subsampled chroma (4:2:0
//! at full scale, libjpeg-turbo's `h2v2_fancy_upsample` in `jdsample.c`) reads the chroma row
//! above and below. So each band is decoded with one boundary step of rows above and below it
//! as context, and those rows are thrown away: the kept rows equal the whole-file decode,
//! which `tests/restart_decode.rs` checks pixel for pixel at every scale.
//!
//! Only files whose structure is fully checked take this path: one baseline or extended
//! Huffman frame (SOF0/SOF1, 8-bit) with one scan of all its components, a restart interval,
//! exactly the expected number of restart markers in sequence, and EOI right after the scan.
//! Anything else returns `None` and is decoded whole under the decode policy. Corrupt data
//! inside a band fails that band's decode with the same libjpeg warning, and so the image.
//!
//! libjpeg-turbo leaves its fast Huffman path whenever a restart interval is set (`decode_mcu`
//! in `jdhuff.c`), in the whole-file decode and in every band alike: restart markers cost
//! single-threaded time, which the README's benchmark shows.

use super::scans::{checked_components, entropy_end, is_table_or_metadata, scan_header, segment, Segment};

/// One band: a JPEG of whole MCU rows of the original, and which of its rows are the band's
/// own (the others are context for the upsampler).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Band {
    /// SOI, the header segments (frame height changed), SOS, the intervals, EOI.
    pub stream: Vec<u8>,
    /// The first row of the original the stream holds, in full-size pixels.
    pub top: u32,
    /// The rows of the original that belong to this band, `keep_top..keep_bottom`, in
    /// full-size pixels; `keep_top` is a multiple of the MCU height.
    pub keep_top: u32,
    pub keep_bottom: u32,
}

/// A baseline JPEG's restart structure, as far as banding needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Image height in pixels (the frame header's).
    pub height: u32,
    /// MCU height in pixels: 8 x the largest vertical sampling factor (8 for grey).
    pub mcu_height: u32,
    pub mcus_per_row: u32,
    pub mcu_rows: u32,
    /// Restart interval in MCUs (DRI).
    pub interval: u32,
    /// MCU rows between two rows that start with a restart: the least common multiple of
    /// the interval and the row length, in rows. 1 when every row starts a new interval.
    pub row_step: u32,
    /// Byte ranges of the header segments copied into each band (SOF, DHT, DQT, DRI, APP0,
    /// APP14; the rest of the metadata is not needed to decode).
    headers: Vec<(usize, usize)>,
    /// Offset of the frame header's height field in the original.
    height_at: usize,
    /// The SOS segment.
    sos: (usize, usize),
    /// The entropy-coded data of each restart interval, without its marker.
    intervals: Vec<(usize, usize)>,
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The restart structure of a complete baseline JPEG; `None` for any other file or any
/// structural doubt (see the module docs).
pub fn parse(data: &[u8]) -> Option<Layout> {
    if data.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut headers = Vec::new();
    let mut frame = None;
    let mut interval = 0u32;
    let mut i = 2;
    let (sos, sos_end) = loop {
        let Segment { marker, at, body_end } = segment(data, i)?;
        let end = body_end?; // a standalone marker (EOI, RSTn, SOI) before the scan
        let body = &data[at + 4..end];
        i = end;
        match marker {
            0xC0 | 0xC1 => {
                if frame.is_some() {
                    return None;
                }
                frame = Some((at, body));
                headers.push((at, end));
            }
            0xDD => {
                interval = u32::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
                headers.push((at, end));
            }
            0xDA => break ((at, end), end),
            // APP0 (JFIF) and APP14 (Adobe) tell libjpeg the colour space; other APPn and
            // COM are metadata only.
            0xE1..=0xED | 0xEF | 0xFE => {}
            m if is_table_or_metadata(m) => headers.push((at, end)),
            // Any other frame type (progressive, lossless, arithmetic, hierarchical), DNL,
            // and what libjpeg does not read as a segment, such as `FF 00`: past it, libjpeg
            // and this walk would see different segments (`scans::is_table_or_metadata`).
            _ => return None,
        }
    };
    let (frame_at, body) = frame?;
    let components = checked_components(body)?;
    let precision = *body.first()?;
    let height = u32::from(u16::from_be_bytes([*body.get(1)?, *body.get(2)?]));
    let width = u32::from(u16::from_be_bytes([*body.get(3)?, *body.get(4)?]));
    let (ids, ss, se, ah, al) = scan_header(&data[sos.0 + 4..sos.1])?;
    let all = ids.len() == components.len() && components.iter().zip(&ids).all(|(c, &id)| c.id == id);
    if precision != 8 || height == 0 || width == 0 || interval == 0 || !all || (ss, se, ah, al) != (0, 63, 0, 0) {
        return None;
    }
    let max_h = u32::from(components.iter().map(|c| c.h).max()?);
    let max_v = u32::from(components.iter().map(|c| c.v).max()?);
    // A single-component scan is not interleaved: its MCU is one block (T.81 A.2.2). Keep
    // to the usual 1x1 grey; other factors there change libjpeg's row grouping.
    if components.len() == 1 && (max_h, max_v) != (1, 1) {
        return None;
    }
    let mcu_height = 8 * max_v;
    let mcus_per_row = width.div_ceil(8 * max_h);
    let mcu_rows = height.div_ceil(mcu_height);
    let total = u64::from(mcus_per_row) * u64::from(mcu_rows);
    let expected = total.div_ceil(u64::from(interval));
    // The intervals: RSTn markers in sequence, then EOI.
    let mut intervals = Vec::new();
    let mut start = sos_end;
    let end = entropy_end(data, sos_end, |at, n| {
        (usize::from(n) == intervals.len() % 8).then(|| {
            intervals.push((start, at));
            start = at + 2;
        })
    })?;
    intervals.push((start, end));
    if segment(data, end)?.marker != 0xD9 || intervals.len() as u64 != expected {
        return None;
    }
    let lcm = u64::from(interval) / gcd(u64::from(interval), u64::from(mcus_per_row)) * u64::from(mcus_per_row);
    let row_step = u32::try_from(lcm / u64::from(mcus_per_row)).ok()?;
    Some(Layout {
        height,
        mcu_height,
        mcus_per_row,
        mcu_rows,
        interval,
        row_step,
        headers,
        height_at: frame_at + 5,
        sos,
        intervals,
    })
}

/// Cut `data` into at most `parts` bands of about equal height, each with at least two
/// boundary steps of its own; `None` when the file does not qualify (see `parse`) or is too
/// short to be worth more than one band.
pub fn bands(data: &[u8], parts: usize) -> Option<Vec<Band>> {
    let layout = parse(data)?;
    let steps = layout.mcu_rows.div_ceil(layout.row_step) as usize;
    let parts = parts.min(steps / 2);
    if parts < 2 {
        return None;
    }
    Some((0..parts).map(|p| band(data, &layout, steps * p / parts, steps * (p + 1) / parts, steps)).collect())
}

/// The band whose own rows are boundary steps `first..last`, with one step of context on
/// each side where the image has one.
fn band(data: &[u8], l: &Layout, first: usize, last: usize, steps: usize) -> Band {
    let step = l.row_step as usize;
    let rows = l.mcu_rows as usize;
    let (decode_first, decode_last) = (first.saturating_sub(1) * step, ((last + 1).min(steps) * step).min(rows));
    let mcu_h = l.mcu_height as usize;
    let px = |mcu_row: usize| (mcu_row * mcu_h).min(l.height as usize) as u32;
    let (mpr, interval) = (l.mcus_per_row as usize, l.interval as usize);
    let (i0, i1) = (decode_first * mpr / interval, (decode_last * mpr).div_ceil(interval).min(l.intervals.len()));
    let height = (px(decode_last) - px(decode_first)) as u16;
    let mut s = vec![0xFF, 0xD8];
    for &(a, b) in &l.headers {
        let seg = s.len();
        s.extend_from_slice(&data[a..b]);
        if (a..b).contains(&l.height_at) {
            let at = seg + (l.height_at - a);
            s[at..at + 2].copy_from_slice(&height.to_be_bytes());
        }
    }
    s.extend_from_slice(&data[l.sos.0..l.sos.1]);
    for (n, &(a, b)) in l.intervals[i0..i1].iter().enumerate() {
        if n > 0 {
            s.extend_from_slice(&[0xFF, 0xD0 + (n - 1) as u8 % 8]);
        }
        s.extend_from_slice(&data[a..b]);
    }
    s.extend_from_slice(&[0xFF, 0xD9]);
    Band { stream: s, top: px(decode_first), keep_top: px(first * step), keep_bottom: px((last * step).min(rows)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 16x`h` grey baseline frame with a DRI of `ri` MCUs and the given entropy bytes per
    /// interval, markers numbered from `first_rst`.
    fn file(h: u16, ri: u16, intervals: &[&[u8]], first_rst: u8) -> Vec<u8> {
        let mut f = vec![0xFF, 0xD8];
        f.extend_from_slice(&[0xFF, 0xE1, 0, 4, 0xAB, 0xCD]); // APP1: not copied
        f.extend_from_slice(&[0xFF, 0xC0, 0, 11, 8]);
        f.extend_from_slice(&h.to_be_bytes());
        f.extend_from_slice(&[0, 16, 1, 1, 0x11, 0]);
        f.extend_from_slice(&[0xFF, 0xDD, 0, 4]);
        f.extend_from_slice(&ri.to_be_bytes());
        f.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0]);
        for (n, d) in intervals.iter().enumerate() {
            if n > 0 {
                f.extend_from_slice(&[0xFF, 0xD0 + (first_rst + n as u8 - 1) % 8]);
            }
            f.extend_from_slice(d);
        }
        f.extend_from_slice(&[0xFF, 0xD9]);
        f
    }

    #[test]
    fn finds_intervals_and_row_steps() {
        // 16 px wide grey: 2 MCUs per row; 8 rows; one interval per row.
        let rows: Vec<Vec<u8>> = (0..8u8).map(|r| vec![r, 0xFF, 0x00, r]).collect();
        let refs: Vec<&[u8]> = rows.iter().map(Vec::as_slice).collect();
        let l = parse(&file(64, 2, &refs, 0)).unwrap();
        assert_eq!((l.mcus_per_row, l.mcu_rows, l.mcu_height, l.row_step), (2, 8, 8, 1));
        assert_eq!(l.intervals.len(), 8);
        // An interval of 3 MCUs meets a row start every 3 rows (lcm 6 MCUs).
        let six: Vec<&[u8]> = refs[..6].to_vec();
        assert_eq!(parse(&file(64, 3, &six, 0)).unwrap().row_step, 3);
    }

    #[test]
    fn bands_renumber_markers_and_keep_their_rows() {
        let rows: Vec<Vec<u8>> = (0..8u8).map(|r| vec![r, 0xFF, 0x00, r]).collect();
        let refs: Vec<&[u8]> = rows.iter().map(Vec::as_slice).collect();
        let f = file(60, 2, &refs, 0);
        let b = bands(&f, 2).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].top, b[0].keep_top, b[0].keep_bottom), (0, 0, 32));
        assert_eq!((b[1].top, b[1].keep_top, b[1].keep_bottom), (24, 32, 60));
        // The second band: rows 3..8 (one row of context), height 60 - 24, markers from RST0.
        let s = &b[1].stream;
        assert!(!s.windows(2).any(|w| w == [0xFF, 0xE1]), "APP1 is not copied");
        let sof = s.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        assert_eq!(u16::from_be_bytes([s[sof + 5], s[sof + 6]]), 36);
        let sos = s.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        let mut want = vec![3, 0xFF, 0x00, 3];
        for (n, r) in (4..8u8).enumerate() {
            want.extend_from_slice(&[0xFF, 0xD0 + n as u8, r, 0xFF, 0x00, r]);
        }
        want.extend_from_slice(&[0xFF, 0xD9]);
        assert_eq!(&s[sos + 10..], &want[..]);
        let l = parse(&b[1].stream).unwrap();
        assert_eq!((l.height, l.intervals.len()), (36, 5), "a band is itself a valid file");
    }

    #[test]
    fn refuses_what_it_cannot_vouch_for() {
        let rows: Vec<Vec<u8>> = (0..8u8).map(|r| vec![r]).collect();
        let refs: Vec<&[u8]> = rows.iter().map(Vec::as_slice).collect();
        assert!(parse(&file(64, 2, &refs, 0)).is_some());
        assert_eq!(parse(&file(64, 2, &refs, 1)), None, "markers out of sequence");
        assert_eq!(parse(&file(64, 2, &refs[..7], 0)), None, "an interval missing");
        assert_eq!(parse(&file(64, 0, &refs[..1], 0)), None, "no restart interval");
        let mut progressive = file(64, 2, &refs, 0);
        let sof = progressive.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        progressive[sof + 1] = 0xC2;
        assert_eq!(parse(&progressive), None);
        let mut cut = file(64, 2, &refs, 0);
        cut.truncate(cut.len() - 2);
        assert_eq!(parse(&cut), None, "no EOI");
        assert_eq!(bands(&file(8 * 3, 2, &refs[..3], 0), 2), None, "too short to split");
        assert_eq!(parse(b""), None);
    }
}
