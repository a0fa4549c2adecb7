//! Progressive JPEGs decoded at 1/8 from their DC scans (and subsampled chroma's scans)
//! only must give exactly the pixels of libjpeg decoding the whole file at 1/8.
//! The files cover libjpeg's default script at 4:2:0, 4:2:2, 4:4:4 and grey, successive
//! approximation with one DC scan per component, restart markers inside scans
//! (`fixtures/scans/`, made by `scripts/make-scan-fixtures.sh`) and mozjpeg's own script
//! (made here by the linked encoder).

use edge_resize::transform::decode::{decode, Decoded};
use edge_resize::transform::scans;
use edge_resize::transform::TransformError;

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// libjpeg's own decode of the whole file at 1/8, default settings.
fn whole_file_eighth(data: &[u8]) -> (Vec<u8>, usize, usize) {
    let mut d = mozjpeg::Decompress::new_mem(data).unwrap();
    d.scale(1);
    let mut s = match d.image().unwrap() {
        mozjpeg::Format::RGB(s) => s,
        mozjpeg::Format::Gray(s) => s,
        mozjpeg::Format::CMYK(s) => s,
    };
    let (w, h) = (s.width(), s.height());
    let px: Vec<u8> = s.read_scanlines().unwrap();
    s.finish().unwrap();
    (px, w, h)
}

fn eighth(data: &[u8]) -> Result<Decoded, TransformError> {
    decode(data, u64::MAX, 1, |_| Ok(8))
}

/// mozjpeg's default progressive script (its scan optimisation), from a real photograph.
fn mozjpeg_progressive() -> Vec<u8> {
    let img = image::load_from_memory(&fixture("image/coffee.jpg")).unwrap().into_rgb8();
    let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    c.set_size(img.width() as usize, img.height() as usize);
    c.set_quality(85.0);
    c.set_progressive_mode();
    let mut started = c.start_compress(Vec::new()).unwrap();
    started.write_scanlines(img.as_raw()).unwrap();
    started.finish().unwrap()
}

fn check_identical(name: &str, data: &[u8]) -> usize {
    let script = scans::parse(data).unwrap_or_else(|| panic!("{name}: not parsed as progressive"));
    assert!(script.scans.len() > 2, "{name}: {} scans", script.scans.len());
    let (want, w, h) = whole_file_eighth(data);
    let got = eighth(data).unwrap();
    assert_eq!((got.width as usize, got.height as usize), (w, h), "{name}");
    assert!(got.skipped_bytes > 0, "{name}: the partial decode was not used");
    let differing = want.iter().zip(&got.pixels).filter(|(a, b)| a != b).count();
    assert_eq!(got.pixels.len(), want.len(), "{name}");
    assert_eq!(differing, 0, "{name}: {differing} samples differ from the whole-file decode");
    got.skipped_bytes
}

#[test]
fn partial_decode_equals_whole_file_decode_on_every_script() {
    for name in [
        "progressive-420.jpg",
        "progressive-422.jpg",
        "progressive-444.jpg",
        "progressive-gray.jpg",
        "progressive-sa.jpg",
        "progressive-restart.jpg",
    ] {
        let data = fixture(&format!("scans/{name}"));
        let skipped = check_identical(name, &data);
        eprintln!("{name}: {skipped} of {} bytes not read", data.len());
    }
    let data = mozjpeg_progressive();
    let skipped = check_identical("mozjpeg script", &data);
    eprintln!("mozjpeg script: {skipped} of {} bytes not read", data.len());
}

#[test]
fn subsampled_chroma_keeps_its_ac_scans_full_resolution_components_do_not() {
    // 4:2:0: chroma is IDCT-scaled 2x2 at 1/8 and reads AC, so only luma's AC scans go.
    let data = fixture("scans/progressive-420.jpg");
    let script = scans::parse(&data).unwrap();
    let luma_ac: usize = script.scans.iter().filter(|s| s.ss > 0 && s.components == [1]).map(|s| s.end - s.start).sum();
    assert_eq!(eighth(&data).unwrap().skipped_bytes, luma_ac);
    // 4:4:4: every component is 1x1 at 1/8, so every AC scan goes.
    let data = fixture("scans/progressive-444.jpg");
    let script = scans::parse(&data).unwrap();
    let all_ac: usize = script.scans.iter().filter(|s| s.ss > 0).map(|s| s.end - s.start).sum();
    assert_eq!(eighth(&data).unwrap().skipped_bytes, all_ac);
}

#[test]
fn other_scales_and_baseline_files_read_everything() {
    let data = fixture("scans/progressive-444.jpg");
    let quarter = decode(&data, u64::MAX, 1, |_| Ok(4)).unwrap();
    assert_eq!(quarter.skipped_bytes, 0, "1/4 reads AC coefficients up to (7,7)");
    let baseline = fixture("image/chelsea.jpg");
    let (want, _, _) = whole_file_eighth(&baseline);
    let got = eighth(&baseline).unwrap();
    assert_eq!(got.skipped_bytes, 0);
    assert_eq!(got.pixels, want);
}

#[test]
fn a_truncated_progressive_file_is_still_refused_at_one_eighth() {
    // Cut inside the last scan: the partial path does not vouch for it, and the whole-file
    // decode policy refuses a premature end, as at every other scale.
    let data = fixture("scans/progressive-444.jpg");
    let cut = &data[..data.len() * 9 / 10];
    assert_eq!(scans::parse(cut), None);
    match eighth(cut) {
        Err(TransformError::Corrupt { message, .. }) => assert!(message.contains("Premature end"), "{message}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a truncated file decoded"),
    }
}
