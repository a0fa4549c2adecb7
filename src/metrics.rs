//! What one handler invocation measured, and how it is reported: a CloudWatch embedded
//! metric format (EMF) line, a `Server-Timing` header, and (in `serve`) Prometheus.
//!
//! Pure: handlers fill an [`Invocation`] (or a [`JanitorRun`]); the Lambda binaries print its
//! EMF line on stdout, which Lambda sends to CloudWatch Logs, which extracts the metrics
//! without any API call. The format:
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::spec::Format;

/// The CloudWatch namespace every metric is published under (the dashboard reads it).
pub const NAMESPACE: &str = "EdgeResize";

/// What an origin-response invocation answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outcome {
    /// S3 had the object (or the key is not a variant): CloudFront's response, untouched.
    #[default]
    PassThrough,
    /// A variant was made and returned inline.
    Generated,
    /// A variant was made and stored, but was over the response budget: 302 to itself.
    Redirect,
    /// 4xx: a missing original (404), an undecodable format (415), a bad key (400).
    ClientError,
    /// 5xx: a corrupt original, S3 trouble, a timeout, or (in `serve`) too busy.
    ServerError,
}

impl Outcome {
    /// The `Result` dimension's value, and the `result` label in Prometheus.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::PassThrough => "pass-through",
            Outcome::Generated => "generated",
            Outcome::Redirect => "redirect",
            Outcome::ClientError => "4xx",
            Outcome::ServerError => "5xx",
        }
    }

    pub const ALL: [Outcome; 5] =
        [Outcome::PassThrough, Outcome::Generated, Outcome::Redirect, Outcome::ClientError, Outcome::ServerError];
}

/// How long each stage of a miss took; `None` for a stage that did not run. For an
/// animation, `decode` covers decoding and resizing every frame and `resize` is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stages {
    pub s3_get: Option<Duration>,
    pub decode: Option<Duration>,
    pub resize: Option<Duration>,
    pub encode: Option<Duration>,
    pub s3_put: Option<Duration>,
}

impl Stages {
    /// The stages in the order they run, by the names `Server-Timing` and Prometheus use.
    pub fn named(&self) -> [(&'static str, Option<Duration>); 5] {
        [
            ("s3-get", self.s3_get),
            ("decode", self.decode),
            ("resize", self.resize),
            ("encode", self.encode),
            ("s3-put", self.s3_put),
        ]
    }

    /// Decode + resize + encode, when the transform ran.
    pub fn transform(&self) -> Option<Duration> {
        let parts = [self.decode, self.resize, self.encode];
        parts.iter().any(Option::is_some).then(|| parts.iter().flatten().sum())
    }

    /// The `Server-Timing` header value (W3C Server Timing,
    /// <https://www.w3.org/TR/server-timing/>), durations in milliseconds:
    /// `s3-get;dur=12.3, decode;dur=40.1, ...`. `None` when nothing was timed.
    pub fn server_timing(&self) -> Option<String> {
        let parts: Vec<String> =
            self.named().iter().filter_map(|(n, d)| d.map(|d| format!("{n};dur={:.1}", ms(d)))).collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    /// The longest `Server-Timing` value: every stage at its widest (to size the response budget).
    pub fn widest_server_timing() -> String {
        let d = Some(Duration::from_secs(99_999));
        Stages { s3_get: d, decode: d, resize: d, encode: d, s3_put: d }.server_timing().unwrap_or_default()
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One origin-response invocation: its result, stage timings and sizes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Invocation {
    pub outcome: Outcome,
    /// The HTTP status answered.
    pub status: u16,
    pub stages: Stages,
    /// The original's size, bytes, and its pixels (width x height from the header).
    pub input_bytes: Option<u64>,
    pub input_pixels: Option<u64>,
    /// The encoded variant's size, bytes, and its pixels.
    pub output_bytes: Option<u64>,
    pub output_pixels: Option<u64>,
    pub format: Option<Format>,
    /// Lower-quality re-encodes made to fit the response budget.
    pub quality_retries: Option<u8>,
    /// `serve` only: refused by the transform limits (a 503 with `Retry-After`).
    pub overloaded: bool,
    /// Made from a larger stored variant instead of the original (`edge::derive`); the input
    /// bytes and pixels are then the stored variant's.
    pub derived: bool,
}

impl Invocation {
    /// An invocation that only answered `status` (no transform ran).
    pub fn answered(status: u16) -> Self {
        let outcome = match status {
            400..=499 => Outcome::ClientError,
            500..=599 => Outcome::ServerError,
            _ => Outcome::PassThrough,
        };
        Invocation { outcome, status, ..Default::default() }
    }

    /// The metrics as (EMF name, unit, value), only those measured.
    pub fn metrics(&self) -> Vec<(&'static str, Unit, f64)> {
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        let mut m = vec![
            ("Requests", Unit::Count, 1.0),
            ("Misses", Unit::Count, flag(self.outcome != Outcome::PassThrough)),
            ("Generated", Unit::Count, flag(self.outcome == Outcome::Generated)),
            ("Errors4xx", Unit::Count, flag(self.outcome == Outcome::ClientError)),
            ("Errors5xx", Unit::Count, flag(self.outcome == Outcome::ServerError)),
        ];
        let s = &self.stages;
        let times = [
            ("S3GetTime", s.s3_get),
            ("DecodeTime", s.decode),
            ("ResizeTime", s.resize),
            ("EncodeTime", s.encode),
            ("S3PutTime", s.s3_put),
            ("TransformTime", s.transform()),
        ];
        m.extend(times.into_iter().filter_map(|(n, d)| Some((n, Unit::Milliseconds, ms(d?)))));
        let sizes = [
            ("InputBytes", Unit::Bytes, self.input_bytes),
            ("OutputBytes", Unit::Bytes, self.output_bytes),
            ("InputPixels", Unit::Count, self.input_pixels),
            ("OutputPixels", Unit::Count, self.output_pixels),
            ("QualityRetries", Unit::Count, self.quality_retries.map(u64::from)),
        ];
        m.extend(sizes.into_iter().filter_map(|(n, u, v)| Some((n, u, v? as f64))));
        m
    }

    /// The EMF document of this invocation by `function` at `timestamp_ms` (epoch ms).
    /// Dimensions: `Function`, and `Function` x `Result`; the format, status and the
    /// overload and derived flags are properties (searchable in Logs Insights, not metrics).
    pub fn emf(&self, function: &str, timestamp_ms: u64) -> Value {
        let mut props = Map::new();
        props.insert("Function".into(), function.into());
        props.insert("Result".into(), self.outcome.name().into());
        props.insert("Status".into(), self.status.into());
        if let Some(f) = self.format {
            props.insert("Format".into(), f.name().into());
        }
        if self.overloaded {
            props.insert("Overloaded".into(), true.into());
        }
        if self.derived {
            props.insert("Derived".into(), true.into());
        }
        document(timestamp_ms, &[&["Function"], &["Function", "Result"]], &self.metrics(), props)
    }
}

/// What a janitor run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JanitorRun {
    /// Stale variants deleted from S3.
    pub objects_deleted: u64,
    /// Paths sent in a CloudFront invalidation (a wildcard is one).
    pub paths_invalidated: u64,
    /// Invalidation paths left in today's budget, when the ledger was read.
    pub budget_left: Option<u64>,
    /// The run failed (the event will be retried).
    pub failed: bool,
}

impl JanitorRun {
    pub fn metrics(&self) -> Vec<(&'static str, Unit, f64)> {
        let mut m = vec![
            ("Runs", Unit::Count, 1.0),
            ("ObjectsDeleted", Unit::Count, self.objects_deleted as f64),
            ("PathsInvalidated", Unit::Count, self.paths_invalidated as f64),
            ("Failures", Unit::Count, if self.failed { 1.0 } else { 0.0 }),
        ];
        if let Some(b) = self.budget_left {
            m.push(("InvalidationBudgetLeft", Unit::Count, b as f64));
        }
        m
    }

    pub fn emf(&self, function: &str, timestamp_ms: u64) -> Value {
        let mut props = Map::new();
        props.insert("Function".into(), function.into());
        document(timestamp_ms, &[&["Function"]], &self.metrics(), props)
    }
}

/// EMF units (the spec's `Unit` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Bytes,
}

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Bytes => "Bytes",
        }
    }
}

/// An EMF document: `_aws` metadata naming the metrics and dimension sets, then every
/// dimension and metric as a top-level member (the spec requires each named one present).
fn document(
    timestamp_ms: u64,
    dimensions: &[&[&str]],
    metrics: &[(&str, Unit, f64)],
    mut props: Map<String, Value>,
) -> Value {
    let defs: Vec<Value> = metrics.iter().map(|(n, u, _)| json!({"Name": n, "Unit": u.name()})).collect();
    for (n, _, v) in metrics {
        props.insert((*n).into(), json!(round(*v)));
    }
    props.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{ "Namespace": NAMESPACE, "Dimensions": dimensions, "Metrics": defs }],
        }),
    );
    Value::Object(props)
}

/// Three decimals: microseconds for times, and whole numbers stay whole.
fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// One EMF document as one log line: compact JSON never contains a raw newline, so Lambda's
/// log capture (line by line from stdout) keeps it one log event, which CloudWatch parses.
pub fn emf_line(doc: &Value) -> String {
    doc.to_string()
}

/// Milliseconds since the epoch, for the EMF `Timestamp`.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generated() -> Invocation {
        Invocation {
            outcome: Outcome::Generated,
            status: 200,
            stages: Stages {
                s3_get: Some(Duration::from_micros(12_300)),
                decode: Some(Duration::from_micros(40_100)),
                resize: Some(Duration::from_millis(8)),
                encode: Some(Duration::from_micros(20_500)),
                s3_put: Some(Duration::from_micros(9_900)),
            },
            input_bytes: Some(123_456),
            input_pixels: Some(4_000 * 3_000),
            output_bytes: Some(5_432),
            output_pixels: Some(100 * 100),
            format: Some(Format::Webp),
            quality_retries: Some(0),
            overloaded: false,
            derived: false,
        }
    }

    #[test]
    fn emf_names_every_metric_it_carries_under_the_namespace_and_dimensions() {
        let doc = generated().emf("origin-response", 1_700_000_000_000);
        let line = emf_line(&doc);
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        let cw = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000u64);
        assert_eq!(cw["Namespace"], NAMESPACE);
        assert_eq!(cw["Dimensions"], json!([["Function"], ["Function", "Result"]]));
        for def in cw["Metrics"].as_array().unwrap() {
            let name = def["Name"].as_str().unwrap();
            assert!(v[name].is_number(), "{name} is named but absent");
        }
        assert_eq!((v["Function"].as_str(), v["Result"].as_str()), (Some("origin-response"), Some("generated")));
        assert_eq!(v["Format"], "webp");
        assert_eq!(
            (v["Misses"].as_f64(), v["Generated"].as_f64(), v["Errors5xx"].as_f64()),
            (Some(1.0), Some(1.0), Some(0.0))
        );
        assert_eq!(v["OutputBytes"].as_f64(), Some(5_432.0));
        assert_eq!(v["InputPixels"].as_f64(), Some(12_000_000.0));
        assert_eq!(v["DecodeTime"].as_f64(), Some(40.1));
        assert_eq!(v["TransformTime"].as_f64(), Some(68.6));
        let units: Vec<&str> = cw["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["Name"] == "InputBytes")
            .map(|m| m["Unit"].as_str().unwrap())
            .collect();
        assert_eq!(units, ["Bytes"]);
    }

    #[test]
    fn a_derived_miss_is_flagged_as_a_property_not_a_metric() {
        let plain = generated().emf("origin-response", 0);
        assert!(plain.get("Derived").is_none());
        let v = Invocation { derived: true, ..generated() }.emf("origin-response", 0);
        assert_eq!(v["Derived"], true);
        let named =
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap().iter().any(|m| m["Name"] == "Derived");
        assert!(!named, "a property: the dashboard's metric list is unchanged");
    }

    #[test]
    fn a_pass_through_carries_no_stage_and_is_not_a_miss() {
        let v = Invocation::answered(200).emf("origin-response", 0);
        assert_eq!(v["Result"], "pass-through");
        assert_eq!(v["Misses"].as_f64(), Some(0.0));
        assert!(v.get("DecodeTime").is_none() && v.get("TransformTime").is_none());
        assert_eq!(Invocation::answered(404).outcome, Outcome::ClientError);
        assert_eq!(Invocation::answered(503).outcome, Outcome::ServerError);
    }

    #[test]
    fn server_timing_lists_the_stages_that_ran_in_order() {
        assert_eq!(
            generated().stages.server_timing().unwrap(),
            "s3-get;dur=12.3, decode;dur=40.1, resize;dur=8.0, encode;dur=20.5, s3-put;dur=9.9"
        );
        let anim = Stages { decode: Some(Duration::from_millis(3)), ..Default::default() };
        assert_eq!(anim.server_timing().unwrap(), "decode;dur=3.0");
        assert_eq!(Stages::default().server_timing(), None);
        assert!(Stages::widest_server_timing().len() >= generated().stages.server_timing().unwrap().len());
    }

    #[test]
    fn janitor_emf_has_its_counts_and_budget() {
        let r = JanitorRun { objects_deleted: 3, paths_invalidated: 4, budget_left: Some(996), failed: false };
        let v = r.emf("janitor", 5);
        assert_eq!((v["ObjectsDeleted"].as_f64(), v["PathsInvalidated"].as_f64()), (Some(3.0), Some(4.0)));
        assert_eq!(v["InvalidationBudgetLeft"].as_f64(), Some(996.0));
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Function"]]));
        let none = JanitorRun::default().emf("janitor", 5);
        assert!(none.get("InvalidationBudgetLeft").is_none());
    }
}
