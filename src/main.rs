//! `edge-resize`: resize one file, serve the whole edge locally.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use edge_resize::spec::{Fit, Format, Size};
use edge_resize::transform::{self, Options};
use edge_resize::Config;

#[derive(Parser)]
#[command(name = "edge-resize", version, about = "On-the-fly image resizing at the CDN edge")]
struct Cli {
    /// JSON configuration (default: the built-in defaults).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Resize one image file.
    Resize {
        input: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        /// Target box: `100` or `640x480` (`300x0`: width only).
        #[arg(long = "d", value_name = "SIZE")]
        d: Size,
        #[arg(long, value_parser = parse_fit, default_value = "cover")]
        fit: Fit,
        /// Output format (default: from the output file's extension).
        #[arg(long, value_parser = parse_format)]
        format: Option<Format>,
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
        quality: Option<u8>,
        /// Allow output larger than the input.
        #[arg(long)]
        upscale: bool,
        /// Threads for a baseline JPEG with restart markers (default: the config's
        /// `decode_threads`, 1).
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=16))]
        decode_threads: Option<u8>,
    },
    /// Call a handler directly on an event read from stdin and print its result
    /// (`viewer-request`; `origin-response` uses S3 from the environment).
    Invoke {
        #[arg(value_parser = ["viewer-request", "origin-response"])]
        handler: String,
    },
    /// Run the whole edge locally: viewer-request + cache + origin-response over a
    /// directory or an S3 endpoint.
    Serve(edge_resize::serve::ServeArgs),
}

fn parse_fit(s: &str) -> Result<Fit, String> {
    Fit::parse(s).ok_or_else(|| format!("unknown fit '{s}' (cover, inside, fill)"))
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::parse(s).ok_or_else(|| format!("unknown format '{s}' (jpeg, png, webp, avif)"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg = match cli.config.as_deref().map(Config::from_file).transpose() {
        Ok(c) => c.unwrap_or_default(),
        Err(e) => {
            eprintln!("edge-resize: {e}");
            return ExitCode::from(2);
        }
    };
    let cfg = match cfg.check_encoders() {
        Ok(()) => cfg,
        Err(e) => {
            eprintln!("edge-resize: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.cmd {
        Cmd::Resize { input, output, d, fit, format, quality, upscale, decode_threads } => {
            let cfg = Config { decode_threads: decode_threads.unwrap_or(cfg.decode_threads), ..cfg };
            resize(&cfg, &input, &output, d, fit, format, quality, upscale)
        }
        Cmd::Invoke { handler } => invoke(cfg, &handler),
        Cmd::Serve(args) => edge_resize::serve::main(cfg, args).map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edge-resize: {e}");
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn resize(
    cfg: &Config,
    input: &PathBuf,
    output: &PathBuf,
    size: Size,
    fit: Fit,
    format: Option<Format>,
    quality: Option<u8>,
    upscale: bool,
) -> Result<(), String> {
    let ext = output.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let format = format
        .or_else(|| ext.as_deref().and_then(Format::parse))
        .ok_or("cannot tell the output format: use --format or a .jpg/.png/.webp/.avif output")?;
    if size.w == 0 && size.h == 0 {
        return Err("--d must be at least 1 in one dimension".into());
    }
    let data = std::fs::read(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let o = Options::from_config(size, fit, format, cfg);
    let opts =
        Options { quality: quality.unwrap_or(o.quality), upscale: upscale || cfg.upscale, reencode_attempts: 0, ..o };
    let out = transform::run(&data, &opts).map_err(|e| format!("{}: {e}", input.display()))?;
    std::fs::write(output, &out.bytes).map_err(|e| format!("{}: {e}", output.display()))?;
    println!(
        "{} -> {} ({}x{} {}, {} bytes)",
        input.display(),
        output.display(),
        out.width,
        out.height,
        format.name(),
        out.bytes.len()
    );
    Ok(())
}

fn invoke(cfg: Config, handler: &str) -> Result<(), String> {
    use edge_resize::cloudfront::Event;
    let ev: Event = serde_json::from_reader(std::io::stdin()).map_err(|e| format!("invalid event: {e}"))?;
    let out = match handler {
        "viewer-request" => serde_json::to_value(edge_resize::edge::viewer_request_event(ev, &cfg)),
        _ => {
            let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
            let cfg = std::sync::Arc::new(cfg);
            let r = rt.block_on(async {
                let region =
                    ev.records.first().and_then(|r| edge_resize::edge::origin::target_region(&r.cf.request, &cfg));
                let client = edge_resize::store::s3_client(region).await;
                let deadline = edge_resize::edge::Deadline::for_config(&cfg);
                edge_resize::edge::origin::origin_response_event_measured(ev, &cfg, deadline, |b, _| {
                    edge_resize::store::S3Store::new(client.clone(), b, cfg.clone())
                })
                .await
            });
            // The EMF line the Lambda would log, on stderr (stdout is the result).
            let (r, measured) = r;
            let emf = measured.emf("origin-response", edge_resize::metrics::now_ms());
            eprintln!("{}", edge_resize::metrics::emf_line(&emf));
            serde_json::to_value(r)
        }
    }
    .map_err(|e| e.to_string())?;
    println!("{out}");
    Ok(())
}
