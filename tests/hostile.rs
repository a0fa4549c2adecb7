//! Decompression bombs and lying headers: refused with a clear error before any large
//! allocation, and the CLI stays inside a hard memory cap (prlimit) while refusing them.

use std::io::Write;
use std::process::Command;

use edge_resize::spec::{Fit, Format, Size};
use edge_resize::transform::{run, Options, TransformError};

fn opts(max_pixels: u64) -> Options {
    Options {
        quality: 80,
        max_pixels,
        max_animation_pixels: 50_000_000,
        reencode_attempts: 0,
        ..Options::from_config(Size::new(100, 100), Fit::Cover, Format::Jpeg, &edge_resize::Config::default())
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend(data);
    out.extend(&body);
    out.extend(crc32(&body).to_be_bytes());
}

/// A gray PNG declaring `w`x`h` whose IDAT holds `rows` rows of zeros (deflated: tiny).
fn png(w: u32, h: u32, rows: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    let raw = vec![0u8; (rows as usize) * (w as usize + 1)];
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&raw).unwrap();
    chunk(&mut out, b"IDAT", &z.finish().unwrap());
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A real JPEG whose SOF header is patched to claim `w`x`h`.
fn jpeg_claiming(w: u16, h: u16) -> Vec<u8> {
    let mut j = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/image/coffee.jpg")).unwrap();
    let sof = j.windows(2).position(|p| p == [0xFF, 0xC0] || p == [0xFF, 0xC2]).expect("SOF marker");
    j[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    j[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    j
}

/// A GIF whose screen and first frame claim 65535x65535.
fn gif_huge() -> Vec<u8> {
    let mut g = b"GIF89a".to_vec();
    g.extend([0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0, 0]);
    g.extend([0, 0, 0, 255, 255, 255]);
    g.extend([0x2C, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0]);
    g.extend([2, 2, 0x4C, 0x01, 0, 0x3B]);
    g
}

#[test]
fn declared_sizes_are_refused_before_decoding() {
    let o = opts(50_000_000);
    for (name, data) in [
        ("png 100000x100000", png(100_000, 100_000, 1)),
        ("jpeg 60000x60000", jpeg_claiming(60_000, 60_000)),
        ("gif 65535x65535", gif_huge()),
    ] {
        match run(&data, &o) {
            Err(TransformError::TooManyPixels { .. }) => {}
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn inflation_bomb_is_bounded_by_the_declared_size() {
    // 8000x6000 zeros deflate to a few tens of KB but inflate to 48 MB: refused by a 10 MP limit
    // from the header, before the IDAT is read.
    let bomb = png(8000, 6000, 6000);
    assert!(bomb.len() < 100_000, "{} bytes", bomb.len());
    assert!(matches!(run(&bomb, &opts(10_000_000)), Err(TransformError::TooManyPixels { .. })));
    // An IDAT with fewer rows than declared is a truncated image, not a crash.
    assert!(matches!(run(&png(400, 300, 10), &opts(50_000_000)), Err(TransformError::Corrupt { .. })));
}

#[test]
fn cli_refuses_bombs_inside_a_memory_cap() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        panic!("prlimit (util-linux) is needed for this test");
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_edge-resize");
    for (name, data) in
        [("png.png", png(100_000, 100_000, 1)), ("jpeg.jpg", jpeg_claiming(60_000, 60_000)), ("gif.gif", gif_huge())]
    {
        let input = dir.path().join(name);
        std::fs::write(&input, data).unwrap();
        // 256 MiB of address space: a decoder that believed the header would need 10-30 GB.
        let out = Command::new("prlimit")
            .args(["--as=268435456", "--"])
            .arg(bin)
            .args(["resize"])
            .arg(&input)
            .args(["-o"])
            .arg(dir.path().join("out.jpg"))
            .args(["--d", "100"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains("over the limit"), "{name}: {err}");
    }
}
