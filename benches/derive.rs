//! `make bench-derive`: what a derived variant (`derive_from_variants`) costs and saves.
//! For each task, a small variant made two ways, in-process and warm: from the original,
//! and from a larger variant of it as the origin-response stores it (the same pipeline at
//! the default quality). Prints the median transform time of each, the bytes each reads,
//! and SSIMULACRA2 of both outputs against one reference resize of the full original.
//!
//! Inputs: the real photographs of `scripts/bench-photos.sh` (KDE Plasma wallpapers,
//! 2560x1600, from Debian's packages).

mod common;

use std::path::PathBuf;

use common::quality::{median_ms, reference, ssim2};
use edge_resize::spec::{Fit, Format, Size};
use edge_resize::transform::{run, Options};

const RUNS: usize = 9;
const QUALITY: u8 = 80;

/// A target made from a stored source variant of one photo.
struct Task {
    file: &'static str,
    target: Size,
    source: Size,
    format: Format,
}

const fn task(file: &'static str, target: (u32, u32), source: (u32, u32), format: Format) -> Task {
    Task { file, target: Size::new(target.0, target.1), source: Size::new(source.0, source.1), format }
}

const TASKS: [Task; 12] = [
    task("photo-path-baseline.jpg", (150, 150), (300, 300), Format::Jpeg),
    task("photo-path-baseline.jpg", (150, 150), (640, 640), Format::Jpeg),
    task("photo-path-baseline.jpg", (100, 100), (300, 300), Format::Jpeg),
    task("photo-path-baseline.jpg", (300, 0), (1280, 0), Format::Jpeg),
    task("photo-water-baseline.jpg", (150, 150), (300, 300), Format::Jpeg),
    task("photo-water-baseline.jpg", (150, 150), (640, 640), Format::Jpeg),
    task("photo-water-baseline.jpg", (100, 100), (300, 300), Format::Jpeg),
    task("photo-water-baseline.jpg", (300, 0), (1280, 0), Format::Jpeg),
    task("photo-cups-progressive.jpg", (150, 150), (640, 640), Format::Jpeg),
    task("photo-cups-progressive.jpg", (300, 0), (1280, 0), Format::Jpeg),
    task("photo-boats-baseline.jpg", (150, 150), (640, 640), Format::Webp),
    task("photo-boats-baseline.jpg", (300, 0), (1280, 0), Format::Webp),
];

fn options(size: Size, format: Format) -> Options {
    Options {
        quality: QUALITY,
        max_input_bytes: 200_000_000,
        reencode_attempts: 0,
        ..Options::from_config(size, Fit::Cover, format, &edge_resize::Config::default())
    }
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let photos =
        std::env::var_os("BENCH_PHOTOS").map(PathBuf::from).unwrap_or_else(|| root.join("target/bench-photos"));
    println!(
        "| photo | target from source | ms from original | ms from variant | bytes read original | bytes read variant \
         | SSIMULACRA2 from original | SSIMULACRA2 from variant |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let (mut drops, mut saved) = (Vec::new(), Vec::new());
    for t in &TASKS {
        let path = photos.join(t.file);
        let original =
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run scripts/bench-photos.sh)", path.display()));
        let stored = run(&original, &options(t.source, t.format)).unwrap().bytes;
        let o = options(t.target, t.format);
        let (mut direct, mut derived) = (Vec::new(), Vec::new());
        let ms_direct = median_ms(RUNS, || direct = run(&original, &o).unwrap().bytes);
        let ms_derived = median_ms(RUNS, || derived = run(&stored, &o).unwrap().bytes);
        let dims = |b: &[u8]| image::load_from_memory(b).map(|i| (i.width(), i.height())).unwrap();
        assert_eq!(dims(&direct), dims(&derived), "{}: the same geometry either way", t.file);
        let r = reference(&original, t.target, Fit::Cover);
        let (q_direct, q_derived) = (ssim2(&r, &direct), ssim2(&r, &derived));
        drops.push(q_direct - q_derived);
        saved.push(ms_direct - ms_derived);
        println!(
            "| {} | {} from {} {} | {ms_direct:.1} | {ms_derived:.1} | {} | {} | {q_direct:.2} | {q_derived:.2} |",
            t.file,
            t.target,
            t.source,
            t.format.name(),
            original.len(),
            stored.len(),
        );
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let worst = drops.iter().copied().fold(f64::MIN, f64::max);
    println!(
        "\nmean SSIMULACRA2 cost {:.2} points (worst {worst:.2}); mean time saved {:.1} ms per miss",
        mean(&drops),
        mean(&saved)
    );
}
