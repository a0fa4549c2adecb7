//! Baseline JPEGs with restart markers decoded in bands on several threads must give exactly
//! the pixels of one decode of the whole file, at every DCT scale. The files
//! (`fixtures/restart/`, made by `scripts/make-scan-fixtures.sh` from the CC0 cat photo)
//! cover 4:2:0 (whose fancy upsampling reads across band edges), 4:2:2, 4:4:4 with an
//! interval that meets a row start only every 7th row, grey, Adobe CMYK, a 113x75 image of
//! five MCU rows; in all of them the last MCU row is cut short. Damaged files must fail as
//! they do decoded whole.

use edge_resize::spec::{Fit, Format, Size};
use edge_resize::transform::decode::{decode, Decoded, Layout};
use edge_resize::transform::{restart, run, scans, Options, TransformError};

const FILES: [&str; 7] = [
    "restart-420-rows.jpg",
    "restart-420-2rows.jpg",
    "restart-422-rows.jpg",
    "restart-444-7mcus.jpg",
    "restart-gray-rows.jpg",
    "restart-cmyk-rows.jpg",
    "restart-small.jpg",
];

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/fixtures/restart/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn at(data: &[u8], threads: usize, shrink: u8) -> Result<Decoded, TransformError> {
    decode(data, u64::MAX, threads, |_| Ok(shrink))
}

#[test]
fn bands_give_the_pixels_of_the_whole_file_at_every_scale() {
    for name in FILES {
        let data = fixture(name);
        for threads in [2, 3, 4] {
            assert!(restart::bands(&data, threads).is_some_and(|b| b.len() >= 2), "{name}: not split in bands");
        }
        for shrink in [1, 2, 4, 8] {
            let whole = at(&data, 1, shrink).unwrap();
            // A decode that is not blank: equality with it proves something.
            let (lo, hi) = whole.pixels.iter().fold((255, 0), |(l, h), &p| (p.min(l), p.max(h)));
            assert!(hi - lo > 100, "{name}: the whole-file decode is flat");
            for threads in [2, 3, 4] {
                let banded = at(&data, threads, shrink).unwrap();
                assert_eq!((banded.width, banded.height), (whole.width, whole.height), "{name} 1/{shrink}");
                assert_eq!(banded.layout, whole.layout, "{name}");
                if let Some(row) = banded.pixels.iter().zip(&whole.pixels).position(|(a, b)| a != b) {
                    let row = row / (whole.width as usize * whole.layout.channels());
                    panic!("{name} at 1/{shrink} on {threads} threads: first differs at row {row}");
                }
            }
        }
    }
}

#[test]
fn the_layouts_are_the_ones_the_files_hold() {
    assert_eq!(at(&fixture("restart-gray-rows.jpg"), 2, 1).unwrap().layout, Layout::Gray);
    assert_eq!(at(&fixture("restart-cmyk-rows.jpg"), 2, 1).unwrap().layout, Layout::Cmyk);
    assert_eq!(at(&fixture("restart-420-rows.jpg"), 2, 1).unwrap().layout, Layout::Rgb);
    let d = at(&fixture("restart-420-rows.jpg"), 2, 1).unwrap();
    assert_eq!((d.width, d.height), (451, 300));
}

#[test]
fn the_pipeline_makes_the_same_variant_on_two_threads() {
    let data = fixture("restart-420-rows.jpg");
    let o = |decode_threads| Options {
        decode_threads,
        ..Options::from_config(Size::new(200, 200), Fit::Cover, Format::Png, &edge_resize::Config::default())
    };
    let one = run(&data, &o(1)).unwrap();
    let two = run(&data, &o(2)).unwrap();
    assert_eq!((two.width, two.height), (200, 200));
    assert_eq!(one.bytes, two.bytes, "lossless output: same pixels, same bytes");
}

/// The offset of the `n`th restart marker.
fn marker(data: &[u8], n: usize) -> usize {
    let sos = data.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    data.windows(2)
        .enumerate()
        .skip(sos)
        .filter(|(_, w)| w[0] == 0xFF && (0xD0..=0xD7).contains(&w[1]))
        .nth(n)
        .unwrap()
        .0
}

#[test]
fn damage_in_a_band_fails_as_the_whole_file_does() {
    let data = fixture("restart-420-rows.jpg");
    // Sixteen one-bits (stuffed 0xFF00 pairs) inside an interval of the second half: never
    // a valid Huffman code.
    let mut bad = data.clone();
    let at14 = marker(&data, 14);
    let from = if bad[at14 + 3] == 0xFF { at14 + 4 } else { at14 + 3 };
    for k in 0..16 {
        bad[from + 2 * k] = 0xFF;
        bad[from + 2 * k + 1] = 0x00;
    }
    // A restart marker out of sequence: libjpeg would resynchronise and lose MCUs.
    let mut resync = data.clone();
    let at9 = marker(&data, 9);
    resync[at9 + 1] = 0xD0 + (resync[at9 + 1] - 0xD0 + 3) % 8;
    assert!(restart::bands(&resync, 2).is_none(), "out-of-sequence markers are not split");
    // Cut inside the second half: no EOI.
    let cut = &data[..marker(&data, 15)];
    for (what, file) in [("bad code", &bad[..]), ("markers out of sequence", &resync), ("truncated", cut)] {
        for shrink in [1, 8] {
            let whole = at(file, 1, shrink).err();
            let banded = at(file, 2, shrink).err();
            assert!(matches!(whole, Some(TransformError::Corrupt { .. })), "{what}: whole decode {whole:?}");
            assert!(matches!(banded, Some(TransformError::Corrupt { .. })), "{what}: banded decode {banded:?}");
            assert_eq!(banded.map(|e| e.status()), Some(502));
        }
    }
}

/// `FF 00` where a marker should be, then a COM and a second DQT (all 40s). libjpeg reads
/// `FF 00` as stray bytes (a tolerated warning), then an APP1 whose length covers the COM,
/// then the DQT; a walk that took `FF 00` for a segment would see the COM and the DQT, drop
/// the COM from each band and so hide the DQT inside the APP1 there.
fn with_hidden_dqt(data: &[u8], sof: u8) -> Vec<u8> {
    let at = data.windows(2).position(|w| w == [0xFF, sof]).unwrap();
    let mut f = data[..at].to_vec();
    f.extend_from_slice(&[0xFF, 0x00, 0x00, 0x06, 0xFF, 0xE1, 0x00, 0x47]);
    f.extend_from_slice(&[0xFF, 0xFE, 0x00, 0x43]);
    f.extend(std::iter::repeat_n(b'x', 65));
    f.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x43, 0x00]);
    f.extend(std::iter::repeat_n(40u8, 64));
    f.extend_from_slice(&data[at..]);
    f
}

#[test]
fn headers_libjpeg_reads_otherwise_are_decoded_whole() {
    let plain = fixture("restart-420-rows.jpg");
    let f = with_hidden_dqt(&plain, 0xC0);
    assert!(restart::bands(&f, 2).is_none(), "not split");
    for shrink in [1, 8] {
        let whole = at(&f, 1, shrink).unwrap();
        assert_ne!(whole.pixels, at(&plain, 1, shrink).unwrap().pixels, "libjpeg uses the second DQT");
        assert_eq!(at(&f, 2, shrink).unwrap().pixels, whole.pixels, "1/{shrink}");
    }
    // The progressive partial decode walks headers the same way.
    let progressive =
        std::fs::read(format!("{}/fixtures/scans/progressive-420.jpg", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let f = with_hidden_dqt(&progressive, 0xC2);
    assert!(scans::eighth_scale_stream(&f).is_none(), "no reduced stream");
    assert!(scans::eighth_scale_stream(&progressive).is_some());
}
