//! `make bench-compare`: each pipeline task through edge-resize and through sharp (npm),
//! single-threaded, in the same run; prints the time ratio, output bytes, SSIMULACRA2 of
//! each output against a high-quality reference resize, and the peak RSS of a process
//! doing the task (edge-resize's CLI once; sharp's Node.js script, two warm-ups and one run).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use edge_resize::spec::Fit;
use edge_resize::transform::{plan, run};
use ssimulacra2::{compute_frame_ssimulacra2, ColorPrimaries, Rgb, TransferCharacteristic};

const ITERATIONS: usize = 15;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The reference: full decode (no shrink-on-load), the same crop, the image crate's
/// Lanczos3 (computed in f32) straight to the output size.
fn reference(input: &[u8], t: &common::Task) -> image::RgbImage {
    let img = image::load_from_memory(input).unwrap().to_rgb8();
    let p = plan::plan(img.width(), img.height(), t.out, Fit::Cover, false);
    let c = p.crop;
    let cropped =
        image::imageops::crop_imm(&img, c.x.round() as u32, c.y.round() as u32, c.w.round() as u32, c.h.round() as u32)
            .to_image();
    image::imageops::resize(&cropped, p.out_w, p.out_h, image::imageops::FilterType::Lanczos3)
}

fn ssim2(reference: &image::RgbImage, encoded: &[u8]) -> f64 {
    let d = image::load_from_memory(encoded).unwrap().to_rgb8();
    let to = |i: &image::RgbImage| {
        let px = i.pixels().map(|p| [p[0] as f32 / 255.0, p[1] as f32 / 255.0, p[2] as f32 / 255.0]).collect();
        Rgb::new(px, i.width() as usize, i.height() as usize, TransferCharacteristic::SRGB, ColorPrimaries::BT709)
            .unwrap()
    };
    compute_frame_ssimulacra2(to(reference), to(&d)).unwrap()
}

fn median_ms(mut f: impl FnMut()) -> f64 {
    f();
    f();
    let mut t: Vec<f64> = (0..ITERATIONS)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    t[t.len() / 2]
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
    std::fs::create_dir_all(&dir).unwrap();
    let mut rows = Vec::new();
    for t in &common::TASKS {
        let input = common::jpeg(t.src_w, t.src_h);
        let in_path = dir.join(format!("{}.jpg", t.name));
        std::fs::write(&in_path, &input).unwrap();
        let reference = reference(&input, t);

        let o = t.options();
        let mut ours = Vec::new();
        let rust_ms = median_ms(|| ours = run(&input, &o).unwrap().bytes);
        std::fs::write(dir.join(format!("{}.edge-resize.jpg", t.name)), &ours).unwrap();
        let p = |x: &Path| x.to_string_lossy().into_owned();
        let cli = root().join("target/release/edge-resize");
        let rust_rss = peak_rss_kb(
            &[
                p(&cli),
                "resize".into(),
                p(&in_path),
                "-o".into(),
                p(&dir.join("cli.jpg")),
                "--d".into(),
                t.out.to_string(),
                "--quality".into(),
                t.quality.to_string(),
            ],
            &root(),
        );

        let sharp_out = dir.join(format!("{}.sharp.jpg", t.name));
        let out = Command::new("node")
            .current_dir(root().join("bench"))
            .env("UV_THREADPOOL_SIZE", "1")
            .args(["sharp-bench.mjs", &in_path.to_string_lossy(), &sharp_out.to_string_lossy()])
            .args([t.out.w.to_string(), t.out.h.to_string(), t.quality.to_string(), ITERATIONS.to_string()])
            .output()
            .expect("node (npm install in bench/ first: make bench-compare)");
        assert!(out.status.success(), "sharp failed: {}", String::from_utf8_lossy(&out.stderr));
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let sharp_bytes = std::fs::read(&sharp_out).unwrap();
        let sharp_ms = s["median_ms"].as_f64().unwrap();
        let sharp_rss = peak_rss_kb(
            &[
                "node".into(),
                "sharp-bench.mjs".into(),
                p(&in_path),
                p(&dir.join("one.jpg")),
                t.out.w.to_string(),
                t.out.h.to_string(),
                t.quality.to_string(),
                "1".into(),
            ],
            &root().join("bench"),
        );
        rows.push(format!(
            "| {} | {:.1} | {:.1} | **{:.2}x** | {} | {} ({:+.1}%) | {:.2} | {:.2} | {:.1} | {:.1} |",
            t.name,
            rust_ms,
            sharp_ms,
            sharp_ms / rust_ms,
            ours.len(),
            sharp_bytes.len(),
            (ours.len() as f64 / sharp_bytes.len() as f64 - 1.0) * 100.0,
            ssim2(&reference, &ours),
            ssim2(&reference, &sharp_bytes),
            rust_rss / 1024.0,
            sharp_rss / 1024.0,
        ));
        eprintln!("sharp versions: {}", s["sharp"]);
    }
    println!("| task | edge-resize ms | sharp ms | speed-up | edge-resize bytes | sharp bytes (ours vs sharp) | edge-resize SSIMULACRA2 | sharp SSIMULACRA2 | edge-resize peak RSS MiB | sharp peak RSS MiB |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
}
