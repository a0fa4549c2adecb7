//! `make bench-compare`: each task through edge-resize and through sharp (npm), both
//! in-process from a buffer in memory, warm, one thread each, in the same run; prints the
//! time ratio (edge-resize / sharp, lower is better), edge-resize's decode time (the stage
//! shrink-on-load, partial and banded decodes act on), output bytes, SSIMULACRA2 of each
//! output against a reference resize of a full decode, the peak RSS of a process doing the
//! task (edge-resize's CLI once; sharp's Node.js script, two warm-ups and one run), and the
//! geometric mean of the ratios over the real set.
//!
//! Inputs: real photographs and wallpapers from Debian's packages, one per class users
//! upload (`scripts/bench-photos.sh` fetches them and says where each comes from), and one
//! named stress case, a synthetic grain image, kept out of the mean.
//!
//! Restart markers: the same photographs with a restart marker at every MCU row (jpegtran
//! `-restart 1`, as Photoshop and many cameras write them), decoded on one thread and in
//! bands on two (`decode_threads: 2`) against sharp on one. The two-thread rows are kept
//! out of the mean, which stays a one-thread-each comparison.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::quality;
use edge_resize::spec::{Fit, Format, Size};
use edge_resize::transform::{run, Options};
use edge_resize::Config;

const ITERATIONS: usize = 9;

/// One comparison: an input file of `target/bench-photos/` (or the grain stress case),
/// the box, the output format.
struct Task {
    class: &'static str,
    file: &'static str,
    out: Size,
    format: Format,
    /// edge-resize's `decode_threads` (sharp always runs on one).
    threads: u8,
}

const fn task(class: &'static str, file: &'static str, w: u32, h: u32, format: Format) -> Task {
    Task { class, file, out: Size::new(w, h), format, threads: 1 }
}

const fn on_two(t: Task) -> Task {
    Task { threads: 2, ..t }
}

const TASKS: [Task; 19] = [
    task("baseline JPEG 4 MP photo", "photo-path-baseline.jpg", 300, 300, Format::Jpeg),
    task("baseline JPEG 4 MP photo", "photo-water-baseline.jpg", 1280, 0, Format::Jpeg),
    task("baseline JPEG 4 MP photo", "photo-boats-baseline.jpg", 640, 480, Format::Webp),
    task("progressive JPEG 4 MP photo", "photo-path-progressive.jpg", 300, 300, Format::Jpeg),
    task("progressive JPEG 4 MP photo", "photo-cups-progressive.jpg", 1280, 720, Format::Jpeg),
    task("progressive JPEG 4 MP photo", "photo-path-progressive.jpg", 300, 0, Format::Jpeg),
    task("progressive JPEG 14.7 MP render", "render-14mp-progressive.jpg", 300, 0, Format::Jpeg),
    task("baseline JPEG 14.7 MP render", "render-14mp-baseline.jpg", 300, 0, Format::Jpeg),
    task("PNG RGB 4 MP photo", "photo-boats.png", 300, 300, Format::Jpeg),
    task("PNG RGBA 2 MP render", "render-rgba.png", 300, 300, Format::Webp),
    task("lossless WebP 4 MP photo", "photo-boats-lossless.webp", 300, 300, Format::Jpeg),
    task("lossy WebP 4 MP photo", "photo-cups-lossy.webp", 300, 300, Format::Jpeg),
    task("lossy WebP 16.8 MP render", "render-16mp-lossy.webp", 300, 300, Format::Jpeg),
    task("lossy WebP 16.8 MP render", "render-16mp-lossy.webp", 640, 0, Format::Webp),
    task("restart-marker JPEG 4 MP photo", "photo-path-restart.jpg", 300, 300, Format::Jpeg),
    on_two(task("restart-marker JPEG 4 MP photo", "photo-path-restart.jpg", 300, 300, Format::Jpeg)),
    task("restart-marker JPEG 4 MP photo", "photo-water-restart.jpg", 1280, 0, Format::Jpeg),
    on_two(task("restart-marker JPEG 4 MP photo", "photo-water-restart.jpg", 1280, 0, Format::Jpeg)),
    on_two(task("restart-marker JPEG 14.7 MP render", "render-14mp-restart.jpg", 300, 0, Format::Jpeg)),
];

/// The stress case: a 4000x2666 grain image (JPEG q90) to 300 wide; Huffman decoding
/// dominates both sides, so it flatters whichever decoder is faster at it.
const STRESS: Task = task("stress: synthetic grain 10.7 MP", "grain-4000x2666.jpg", 300, 0, Format::Jpeg);

const QUALITY: u8 = 80;

fn options(t: &Task) -> Options {
    Options {
        quality: QUALITY,
        max_input_bytes: 200_000_000,
        reencode_attempts: 0,
        decode_threads: t.threads,
        ..Options::from_config(t.out, Fit::Cover, t.format, &Config::default())
    }
}

fn ext(f: Format) -> &'static str {
    match f {
        Format::Jpeg => "jpg",
        Format::Webp => "webp",
        Format::Png => "png",
        Format::Avif => "avif",
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Peak RSS (KiB) of a command, measured by a small Python parent: measuring from this
/// (large) process would count the pages a forked child shares with it.
fn peak_rss_kb(cmd: &[String], dir: &Path) -> f64 {
    let py = "import resource,subprocess,sys; subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,check=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)";
    let out = Command::new("python3")
        .current_dir(dir)
        .env("UV_THREADPOOL_SIZE", "1")
        .arg("-c")
        .arg(py)
        .args(cmd)
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn main() {
    let dir = root().join("target/bench-compare");
    let photos =
        std::env::var_os("BENCH_PHOTOS").map(PathBuf::from).unwrap_or_else(|| root().join("target/bench-photos"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(photos.join(STRESS.file), common::jpeg(4000, 2666)).unwrap();
    let mut rows = Vec::new();
    let mut log_ratios = Vec::new();
    // BENCH_ONLY=text runs the tasks whose class or file contains it (while tuning one class).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    for t in TASKS.iter().chain([&STRESS]).filter(|t| t.class.contains(&only) || t.file.contains(&only)) {
        let in_path = photos.join(t.file);
        let input =
            std::fs::read(&in_path).unwrap_or_else(|e| panic!("{}: {e} (scripts/bench-photos.sh)", in_path.display()));
        let reference = quality::reference(&input, t.out, Fit::Cover);
        let name = format!("{}-{}-{}-t{}", t.file.split('.').next().unwrap_or(t.file), t.out, ext(t.format), t.threads);

        let o = options(t);
        let mut ours = Vec::new();
        let mut decode_ms = Vec::new();
        let rust_ms = quality::median_ms(ITERATIONS, || {
            let out = run(&input, &o).unwrap();
            decode_ms.push(out.timings.decode.unwrap_or_default().as_secs_f64() * 1e3);
            ours = out.bytes;
        });
        decode_ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let decode_ms = decode_ms[decode_ms.len() / 2];
        std::fs::write(dir.join(format!("{name}.edge-resize.{}", ext(t.format))), &ours).unwrap();
        let p = |x: &Path| x.to_string_lossy().into_owned();
        let cli = root().join("target/release/edge-resize");
        let rust_rss = peak_rss_kb(
            &[
                p(&cli),
                "resize".into(),
                p(&in_path),
                "-o".into(),
                p(&dir.join(format!("cli.{}", ext(t.format)))),
                "--d".into(),
                t.out.to_string(),
                "--quality".into(),
                QUALITY.to_string(),
                "--decode-threads".into(),
                t.threads.to_string(),
            ],
            &root(),
        );

        let sharp_out = dir.join(format!("{name}.sharp.{}", ext(t.format)));
        let sharp_args = |out: &Path, n: usize| {
            vec![
                "sharp-bench.mjs".to_string(),
                p(&in_path),
                p(out),
                t.out.w.to_string(),
                t.out.h.to_string(),
                QUALITY.to_string(),
                n.to_string(),
                ext(t.format).to_string(),
            ]
        };
        let out = Command::new("node")
            .current_dir(root().join("bench"))
            .env("UV_THREADPOOL_SIZE", "1")
            .args(sharp_args(&sharp_out, ITERATIONS))
            .output()
            .expect("node (npm install in bench/ first: make bench-compare)");
        assert!(out.status.success(), "sharp failed: {}", String::from_utf8_lossy(&out.stderr));
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let sharp_bytes = std::fs::read(&sharp_out).unwrap();
        let sharp_ms = s["median_ms"].as_f64().unwrap();
        let mut rss_cmd = vec!["node".to_string()];
        rss_cmd.extend(sharp_args(&dir.join(format!("one.{}", ext(t.format))), 1));
        let sharp_rss = peak_rss_kb(&rss_cmd, &root().join("bench"));
        let ratio = rust_ms / sharp_ms;
        if !std::ptr::eq(t, &STRESS) && t.threads == 1 {
            log_ratios.push(ratio.ln());
        }
        rows.push(format!(
            "| {} | {} → {} {}{} | {:.1} | {:.1} | {:.1} | **{:.2}** | {} | {} ({:+.1}%) | {:.2} | {:.2} | {:.0} | {:.0} |",
            t.class,
            t.file,
            t.out,
            ext(t.format),
            if t.threads > 1 { format!(", edge-resize on {} threads", t.threads) } else { String::new() },
            rust_ms,
            decode_ms,
            sharp_ms,
            ratio,
            ours.len(),
            sharp_bytes.len(),
            (ours.len() as f64 / sharp_bytes.len() as f64 - 1.0) * 100.0,
            quality::ssim2(&reference, &ours),
            quality::ssim2(&reference, &sharp_bytes),
            rust_rss / 1024.0,
            sharp_rss / 1024.0,
        ));
        eprintln!("{name}: {ratio:.2} (sharp {}, libvips {})", s["sharp"]["sharp"], s["sharp"]["vips"]);
    }
    println!("| class | task | edge-resize ms | of which decode | sharp ms | edge-resize / sharp | edge-resize bytes | sharp bytes (ours vs sharp) | edge-resize SSIMULACRA2 | sharp SSIMULACRA2 | edge-resize peak RSS MiB | sharp peak RSS MiB |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    if !log_ratios.is_empty() {
        let geomean = (log_ratios.iter().sum::<f64>() / log_ratios.len() as f64).exp();
        println!(
            "\ngeometric mean edge-resize / sharp over the {} real one-thread tasks: **{geomean:.2}** (the stress case and the two-thread rows excluded)",
            log_ratios.len()
        );
    }
    if only.is_empty() || only == "encoder" {
        jpeg_encoder_settings(&photos);
    }
}

/// The JPEG encoder's settings by output size, on a real photograph resized to each size:
/// progressive with optimised Huffman tables (what `encode` writes), baseline with
/// optimised tables, baseline with the standard tables. Time and bytes, same quality.
fn jpeg_encoder_settings(photos: &Path) {
    let photo = image::open(photos.join("photo-cups-progressive.jpg")).unwrap().to_rgb8();
    println!("\n| JPEG encode q{QUALITY}, photo resized to | progressive + optimised ms | bytes | baseline + optimised ms | bytes | baseline ms | bytes |");
    println!("|---|---|---|---|---|---|---|");
    for (w, h) in [(300, 300), (640, 480), (1280, 720), (1920, 1200)] {
        let px = image::imageops::resize(&photo, w, h, image::imageops::FilterType::Triangle);
        let encode = |progressive: bool, optimise: bool| {
            let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
            c.set_fastest_defaults();
            c.set_size(w as usize, h as usize);
            c.set_quality(f32::from(QUALITY));
            if progressive {
                c.set_progressive_mode();
            }
            c.set_optimize_coding(optimise);
            let mut started = c.start_compress(Vec::new()).unwrap();
            started.write_scanlines(px.as_raw()).unwrap();
            started.finish().unwrap()
        };
        let mut cells = Vec::new();
        for (progressive, optimise) in [(true, true), (false, true), (false, false)] {
            let mut bytes = 0;
            let ms = quality::median_ms(ITERATIONS, || bytes = encode(progressive, optimise).len());
            cells.push(format!("{ms:.1} | {bytes}"));
        }
        println!("| {w}x{h} | {} |", cells.join(" | "));
    }
}
