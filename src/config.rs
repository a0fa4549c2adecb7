//! The one typed configuration of edge-resize.
//!
//! Lambda@Edge functions get no environment variables, so the configuration is a JSON
//! file bundled next to the binary (`edge-resize.json`); every field has a default so an
//! empty `{}` is a valid configuration.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::spec::{Fit, Format, Size};

/// What the viewer-request does with a size that is not on the allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Unlisted {
    /// Snap to the nearest allowed size that is not larger (default).
    #[default]
    Snap,
    /// Answer 400.
    Reject,
}

/// Output quality per lossy format (1..=100).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Quality {
    /// Default 80 (sharp's default for JPEG).
    pub jpeg: u8,
    /// Default 80 (sharp's default for WebP).
    pub webp: u8,
    /// Default 60 (AVIF at 60 looks like JPEG at 80).
    pub avif: u8,
}

impl Default for Quality {
    fn default() -> Self {
        Quality { jpeg: 80, webp: 80, avif: 60 }
    }
}

impl Quality {
    pub fn for_format(&self, f: Format) -> u8 {
        match f {
            Format::Jpeg => self.jpeg,
            Format::Webp => self.webp,
            Format::Avif => self.avif,
            Format::Png => 100,
        }
    }
}

/// The whole configuration. Field docs state the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// URI prefix under which originals live and variants are made. Default `/image/`.
    pub prefix: String,
    /// The size allow-list. `WxH`; `Wx0` / `0xH` keep the aspect ratio.
    /// Default the boxes 100x100, 200x200, 300x300, 640x480, 1280x720, and each of
    /// [`SRCSET_WIDTHS`] as a width (`640x0`) and as a height (`0x640`).
    pub sizes: Vec<Size>,
    /// Sizes not on the list: snap (default) or reject.
    pub unlisted: Unlisted,
    /// Fit used when the request names none. Default cover.
    pub fit: Fit,
    /// Fits a request may ask for. Default all three.
    pub fits: Vec<Fit>,
    /// Default quality per format.
    pub quality: Quality,
    /// Extra quality levels a request may ask for with `q=` (snapped down). Default 50, 65.
    pub qualities: Vec<u8>,
    /// Output formats allowed. Default jpeg, png, webp, avif. The same in every binary (the
    /// viewer-request, which picks the format, is built without codecs); a build that makes
    /// variants refuses a list its encoders cannot serve (see [`Config::check_encoders`]).
    pub formats: Vec<Format>,
    /// Refuse originals above this many pixels, checked from the header. Default 50 MP.
    pub max_pixels: u64,
    /// Refuse originals above this many bytes. Default 50 MB.
    pub max_input_bytes: u64,
    /// An animated GIF or WebP made into WebP stays animated up to this many frames; with
    /// more it becomes a still of the first frame (imgproxy's `MAX_ANIMATION_FRAMES`; 1
    /// turns animation off). Default 200.
    pub max_animation_frames: u32,
    /// ... and up to this many decoded pixels, all frames together (canvas x frames), which
    /// bounds the time and memory a miss takes (README, "Animation"). Default 25 MP.
    pub max_animation_pixels: u64,
    /// Allow output larger than the original. Default false.
    pub upscale: bool,
    /// Seconds a browser may use a variant without asking again (`max-age`). Default
    /// 3,600 (one hour). Invalidations never reach browsers, so this is how long a returning
    /// visitor can keep an old image after its original changed; after it, the browser
    /// revalidates with the ETag and CloudFront answers 304 from its cache.
    pub browser_max_age_s: u32,
    /// Seconds CloudFront may keep a variant (`s-maxage`). Default 2,592,000 (30 days). The
    /// janitor invalidates what changes, so this only bounds how long a variant stays stale
    /// when an invalidation is skipped (daily budget spent). CloudFront honours it up to the
    /// cache policy's maximum TTL (a year by default):
    /// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/Expiration.html>.
    pub cdn_max_age_s: u32,
    /// Cache-Control of a 404 for a missing original. Default 60 s.
    pub not_found_cache_control: String,
    /// Cache-Control of a 415 for an original in a format this build does not decode
    /// (AVIF, HEIC). Default 60 s: short, since a build that decodes it may be deployed.
    pub unsupported_cache_control: String,
    /// Byte budget of a generated origin response (headers + base64 body).
    /// Default 1,000,000 (Lambda@Edge's 1 MB for origin triggers, less headroom).
    pub response_budget: usize,
    /// How many times an over-budget encode is retried at lower quality. Default 3.
    pub reencode_attempts: u8,
    /// Threads one decode may use: a baseline JPEG with restart markers at MCU-row starts is
    /// decoded in that many bands at once (`transform::restart`), with the same pixels.
    /// Default 1. Lambda gives a function more than one vCPU from 1,769 MB of memory
    /// (<https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html>); set 2
    /// there. In `serve`, the default transform slots are the cores divided by it. 1..=16.
    pub decode_threads: u8,
    /// Milliseconds the origin-response handler may spend on one miss, S3 retries included,
    /// before it answers 504. Keep it under the trigger's timeout (at most 30 s for origin
    /// triggers); in Lambda the invocation's own deadline also applies. Default 25,000.
    pub origin_timeout_ms: u64,
    /// Bucket override; default: the bucket named in the event's `origin.s3`.
    pub bucket: Option<String>,
    /// Region override; default: the event origin's region.
    pub region: Option<String>,
    /// Buckets a CloudFront event may name. Empty: only `bucket`, when set.
    pub allowed_buckets: Vec<String>,
    /// CloudFront distribution the janitor invalidates (env `EDGE_RESIZE_DISTRIBUTION_ID` wins).
    pub distribution_id: Option<String>,
    /// At most this many invalidation paths per UTC day (a wildcard counts as one, as
    /// CloudFront bills it). Default 1,000: at most 31,000 paths ($150) a month. CloudFront
    /// bills paths beyond the first 1,000 a month at $0.005 each:
    /// <https://aws.amazon.com/cloudfront/pricing/>. Paths over the budget are skipped and
    /// reported, and stay cached for at most `cdn_max_age_s`.
    pub invalidation_paths_per_day: u32,
    /// At most this many `.purge` (whole-prefix) invalidations per UTC day. Default 3.
    pub purges_per_day: u32,
    /// Opt-in, off by default: more than this many paths under one directory in one batch
    /// become one `/{dir}/*` wildcard (billed as one path). A wildcard also evicts every
    /// other image's cached variants in that directory, in every edge location, so they
    /// all come back to S3; use it only when paths, not origin load, are what costs.
    pub wildcard_after: Option<usize>,
    /// How many HeadObject requests the janitor has in flight at once while it looks for an
    /// original's stored variants. Default 16.
    pub head_concurrency: usize,
    /// Object (outside the prefix) where the janitor counts its daily invalidations.
    /// Default `_edge-resize/invalidation-ledger.json`.
    pub ledger_key: String,
    /// `serve` only: transforms that run at once; more misses wait. Default 0, meaning the
    /// number of cores divided by `decode_threads` (at least 1): a transform is CPU-bound,
    /// so more at once only adds memory and latency. (Lambda runs one invocation per
    /// environment and needs no limit.)
    pub transform_concurrency: usize,
    /// `serve` only: MiB of transform memory at once, as estimated from each original's
    /// header before decoding (`transform::memory`). Default 1,024: above the estimate of
    /// the largest original `max_pixels` admits (a 50 MP progressive 4:4:4 JPEG made into
    /// a 3840-wide variant, about 800 MiB), so the clamp below never applies by default.
    /// An original estimated above the whole budget waits for all of it and runs alone.
    pub transform_memory_mib: u32,
    /// `serve` only: milliseconds a miss waits for a transform slot and its memory before it
    /// is answered 503 with `Retry-After` (the wait in seconds, at least 1) and
    /// `Cache-Control: no-store`. Default 2,000: a queue that does not drain in two
    /// seconds is overload, and a fast 503 lets a client or a CDN retry elsewhere.
    pub transform_wait_ms: u64,
    /// Derived variants (README, "Derived variants"): make a variant from a larger stored
    /// variant of the same original, when one exists and was made from the original as it
    /// is now, instead of from the original. It reads fewer bytes and decodes fewer pixels,
    /// but resamples and encodes twice, which costs SSIMULACRA2 points (up to 3.2 measured);
    /// and a miss with candidates first spends a HeadObject of the original beside the first
    /// candidate's GetObject, and a second GetObject if that one is not usable. Only S3
    /// records what a variant was made from, so the directory store never derives, and
    /// neither does a configuration with `upscale` (a candidate may be an enlargement).
    /// Default false: measured, it costs quality.
    pub derive_from_variants: bool,
    /// With `derive_from_variants`: a stored variant is a source only when it is at least
    /// this many times the target in both dimensions (1.0..=16.0), so the second resize
    /// still shrinks enough to filter what the first left. Default 2.0.
    pub derive_min_ratio: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            prefix: "/image/".into(),
            sizes: default_sizes(),
            unlisted: Unlisted::Snap,
            fit: Fit::Cover,
            fits: vec![Fit::Cover, Fit::Inside, Fit::Fill],
            quality: Quality::default(),
            qualities: vec![50, 65],
            formats: default_formats(),
            max_pixels: 50_000_000,
            max_input_bytes: 50_000_000,
            max_animation_frames: 200,
            max_animation_pixels: 25_000_000,
            upscale: false,
            browser_max_age_s: 3_600,
            cdn_max_age_s: 2_592_000,
            not_found_cache_control: "public, max-age=60".into(),
            unsupported_cache_control: "public, max-age=60".into(),
            response_budget: 1_000_000,
            reencode_attempts: 3,
            decode_threads: 1,
            origin_timeout_ms: 25_000,
            bucket: None,
            region: None,
            allowed_buckets: Vec::new(),
            distribution_id: None,
            invalidation_paths_per_day: 1_000,
            purges_per_day: 3,
            wildcard_after: None,
            head_concurrency: 16,
            ledger_key: "_edge-resize/invalidation-ledger.json".into(),
            transform_concurrency: 0,
            transform_memory_mib: 1_024,
            transform_wait_ms: 2_000,
            derive_from_variants: false,
            derive_min_ratio: 2.0,
        }
    }
}

/// The widths responsive pages ask for: Next.js's default `imageSizes` (16-384) and
/// `deviceSizes` (640-3840), which cover the usual `srcset` `w` descriptors.
/// <https://nextjs.org/docs/app/api-reference/components/image#devicesizes>
pub const SRCSET_WIDTHS: [u32; 16] = [16, 32, 48, 64, 96, 128, 256, 384, 640, 750, 828, 1080, 1200, 1920, 2048, 3840];

fn default_sizes() -> Vec<Size> {
    let boxes = [(100, 100), (200, 200), (300, 300), (640, 480), (1280, 720)].map(|(w, h)| Size::new(w, h));
    let widths = SRCSET_WIDTHS.map(|w| Size::new(w, 0));
    let heights = SRCSET_WIDTHS.map(|h| Size::new(0, h));
    boxes.into_iter().chain(widths).chain(heights).collect()
}

fn default_formats() -> Vec<Format> {
    vec![Format::Jpeg, Format::Png, Format::Webp, Format::Avif]
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid config {path}: {source}")]
    Parse { path: String, source: serde_json::Error },
    #[error("invalid config: {0}")]
    Invalid(String),
}

/// File name of the bundled configuration, looked up next to the executable.
pub const CONFIG_FILE: &str = "edge-resize.json";

impl Config {
    /// Parse and validate a JSON configuration.
    pub fn from_json(text: &str, path: &str) -> Result<Self, ConfigError> {
        let cfg: Config =
            serde_json::from_str(text).map_err(|source| ConfigError::Parse { path: path.into(), source })?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: p.clone(), source })?;
        Self::from_json(&text, &p)
    }

    /// The bundled file next to the running executable (Lambda: `/var/task`), then
    /// `EDGE_RESIZE_CONFIG`, else the defaults.
    pub fn load_bundled() -> Result<Self, ConfigError> {
        if let Ok(p) = std::env::var("EDGE_RESIZE_CONFIG") {
            return Self::from_file(Path::new(&p));
        }
        if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
            let p = dir.join(CONFIG_FILE);
            if p.exists() {
                return Self::from_file(&p);
            }
        }
        Ok(Config::default())
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.into()));
        if !self.prefix.starts_with('/') || !self.prefix.ends_with('/') {
            return bad("prefix must start and end with '/'");
        }
        if self.sizes.is_empty() {
            return bad("sizes must not be empty");
        }
        if self.sizes.iter().any(|s| (s.w == 0 && s.h == 0) || s.w > 16384 || s.h > 16384) {
            return bad("each size needs 1..=16384 in at least one dimension");
        }
        if self.formats.is_empty() || !self.fits.contains(&self.fit) {
            return bad("formats must not be empty and fits must contain fit");
        }
        let q = self.quality;
        if [q.jpeg, q.webp, q.avif].iter().chain(&self.qualities).any(|&v| v == 0 || v > 100) {
            return bad("qualities must be 1..=100");
        }
        if self.response_budget < 1024 {
            return bad("response_budget too small");
        }
        if !(500..=60_000).contains(&self.origin_timeout_ms) {
            return bad("origin_timeout_ms must be 500..=60000");
        }
        if self.browser_max_age_s > self.cdn_max_age_s {
            return bad("browser_max_age_s must not exceed cdn_max_age_s");
        }
        if !(1..=16).contains(&self.decode_threads) {
            return bad("decode_threads must be 1..=16");
        }
        if !(1..=256).contains(&self.head_concurrency) {
            return bad("head_concurrency must be 1..=256");
        }
        if !(1.0..=16.0).contains(&self.derive_min_ratio) {
            return bad("derive_min_ratio must be 1.0..=16.0");
        }
        if self.wildcard_after == Some(0) {
            return bad("wildcard_after must be at least 1 (or absent: no wildcards)");
        }
        Ok(())
    }

    /// Cache-Control of a stored or generated variant: a short browser lifetime and a long
    /// CDN one (`s-maxage` applies to shared caches only, RFC 9111 §5.2.2.10). Browsers
    /// revalidate with the ETag when it runs out; CloudFront answers that with a 304.
    pub fn variant_cache_control(&self) -> String {
        format!("public, max-age={}, s-maxage={}", self.browser_max_age_s, self.cdn_max_age_s)
    }

    /// For the binaries that encode (origin-response, `serve`, the CLI): every allowed format
    /// has an encoder in this build. AVIF needs the `avif` cargo feature (on by default).
    pub fn check_encoders(&self) -> Result<(), ConfigError> {
        if self.formats.contains(&Format::Avif) && !cfg!(feature = "avif") {
            return Err(ConfigError::Invalid(
                "formats lists avif but this build has no AVIF encoder: build with the `avif` feature \
                 or remove avif from formats"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Is this bucket one the handlers may touch?
    pub fn bucket_allowed(&self, bucket: &str) -> bool {
        if self.allowed_buckets.is_empty() {
            return self.bucket.as_deref().is_none_or(|b| b == bucket);
        }
        self.allowed_buckets.iter().any(|b| b == bucket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_lifetimes_are_split_by_audience() {
        let cfg = Config::default();
        assert_eq!(cfg.variant_cache_control(), "public, max-age=3600, s-maxage=2592000");
        let c = Config::from_json(r#"{"browser_max_age_s": 60, "cdn_max_age_s": 86400}"#, "t").unwrap();
        assert_eq!(c.variant_cache_control(), "public, max-age=60, s-maxage=86400");
        // A browser lifetime longer than the CDN's would outlive every invalidation.
        assert!(Config::from_json(r#"{"browser_max_age_s": 90000, "cdn_max_age_s": 86400}"#, "t").is_err());
    }

    #[test]
    fn janitor_settings_are_checked() {
        let cfg = Config::default();
        assert_eq!((cfg.wildcard_after, cfg.invalidation_paths_per_day, cfg.head_concurrency), (None, 1_000, 16));
        assert_eq!(Config::from_json(r#"{"wildcard_after": 10}"#, "t").unwrap().wildcard_after, Some(10));
        assert!(Config::from_json(r#"{"wildcard_after": 0}"#, "t").is_err());
        assert!(Config::from_json(r#"{"head_concurrency": 0}"#, "t").is_err());
        // Removed settings are refused, not silently ignored.
        assert!(Config::from_json(r#"{"cache_control": "public, max-age=31536000, immutable"}"#, "t").is_err());
    }

    #[test]
    fn derivation_is_off_by_default_and_its_ratio_is_bounded() {
        let c = Config::default();
        assert_eq!((c.derive_from_variants, c.derive_min_ratio), (false, 2.0));
        let on = Config::from_json(r#"{"derive_from_variants": true, "derive_min_ratio": 3}"#, "t").unwrap();
        assert_eq!((on.derive_from_variants, on.derive_min_ratio), (true, 3.0));
        for bad in ["0.5", "17", "-1"] {
            assert!(Config::from_json(&format!(r#"{{"derive_min_ratio": {bad}}}"#), "t").is_err(), "{bad}");
        }
    }

    #[test]
    fn default_sizes_are_boxes_then_srcset_widths_and_heights() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.sizes.len(), 5 + 2 * SRCSET_WIDTHS.len());
        assert!(c.sizes.contains(&Size::new(640, 0)) && c.sizes.contains(&Size::new(0, 3840)));
        let unique: std::collections::HashSet<_> = c.sizes.iter().collect();
        assert_eq!(unique.len(), c.sizes.len());
    }

    #[test]
    fn avif_is_a_default_format_this_build_can_encode() {
        let c = Config::default();
        assert!(c.formats.contains(&Format::Avif));
        assert_eq!(c.check_encoders().is_ok(), cfg!(feature = "avif"));
        let no_avif = Config { formats: vec![Format::Jpeg], ..Config::default() };
        assert!(no_avif.check_encoders().is_ok());
    }

    /// The template's IAM grants writes and deletes per size segment; a default size it
    /// does not list would be made but never stored (and never cleaned up).
    #[test]
    fn template_grants_every_default_size() {
        let t = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/infra/template.yaml")).unwrap();
        for s in Config::default().sizes {
            let pattern = format!("${{Prefix}}*{s}*/*");
            assert_eq!(t.matches(&pattern).count(), 2, "{pattern}: PutObject and DeleteObject");
        }
    }
}
