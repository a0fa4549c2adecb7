//! `serve`'s `/metrics`: the numbers the Lambda handlers log as EMF, in Prometheus' text
//! exposition format (<https://prometheus.io/docs/instrumenting/exposition_formats/>).
//! One registry per [`super::Edge`], so two edges in one process (the tests) never mix.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::edge::Limiter;
use crate::metrics::{Invocation, Outcome};

/// Seconds; from a cached small variant (~1 ms) to a large AVIF (seconds).
const BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

pub struct Prom {
    registry: Registry,
    pub requests: IntCounter,
    pub cache_hits: IntCounter,
    origin: IntCounterVec,
    stages: HistogramVec,
    transform: Histogram,
    input_bytes: IntCounter,
    output_bytes: IntCounter,
    input_pixels: IntCounter,
    output_pixels: IntCounter,
    quality_retries: IntCounter,
    overloaded: IntCounter,
    running: IntGauge,
    reserved: IntGauge,
    budget: IntGauge,
    cache_bytes: IntGauge,
}

impl Prom {
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("registered once");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("registered once");
            g
        };
        let origin = IntCounterVec::new(
            Opts::new(
                "edge_resize_origin_responses_total",
                "Cache misses answered by the origin-response handler, by result \
                 (pass-through, generated, redirect, 4xx, 5xx), as the Lambda's Result dimension",
            ),
            &["result"],
        )
        .expect("valid metric");
        registry.register(Box::new(origin.clone())).expect("registered once");
        for o in Outcome::ALL {
            origin.with_label_values(&[o.name()]);
        }
        let stages = HistogramVec::new(
            HistogramOpts::new("edge_resize_stage_seconds", "Duration of each stage of a miss, seconds")
                .buckets(BUCKETS.to_vec()),
            &["stage"],
        )
        .expect("valid metric");
        registry.register(Box::new(stages.clone())).expect("registered once");
        let transform = Histogram::with_opts(
            HistogramOpts::new("edge_resize_transform_seconds", "Decode + resize + encode of a miss, seconds")
                .buckets(BUCKETS.to_vec()),
        )
        .expect("valid metric");
        registry.register(Box::new(transform.clone())).expect("registered once");
        Prom {
            requests: counter("edge_resize_requests_total", "HTTP requests to the edge"),
            cache_hits: counter("edge_resize_cache_hits_total", "Requests answered from the edge's cache"),
            origin,
            stages,
            transform,
            input_bytes: counter("edge_resize_input_bytes_total", "Bytes of originals transformed"),
            output_bytes: counter("edge_resize_output_bytes_total", "Bytes of variants made"),
            input_pixels: counter("edge_resize_input_pixels_total", "Pixels of originals transformed (header size)"),
            output_pixels: counter("edge_resize_output_pixels_total", "Pixels of variants made"),
            quality_retries: counter(
                "edge_resize_quality_retries_total",
                "Lower-quality re-encodes to fit the response budget",
            ),
            overloaded: counter(
                "edge_resize_overloaded_total",
                "Misses refused with 503 + Retry-After: no transform slot or memory within the wait",
            ),
            running: gauge("edge_resize_transforms_running", "Transforms running now"),
            reserved: gauge(
                "edge_resize_transform_memory_reserved_bytes",
                "Estimated memory of the transforms running now",
            ),
            budget: gauge("edge_resize_transform_memory_budget_bytes", "transform_memory_mib, in bytes"),
            cache_bytes: gauge("edge_resize_cache_bytes", "Bytes of responses in the edge's cache"),
            registry,
        }
    }

    /// Count one origin-response invocation.
    pub fn record(&self, inv: &Invocation) {
        self.origin.with_label_values(&[inv.outcome.name()]).inc();
        for (name, d) in inv.stages.named() {
            if let Some(d) = d {
                self.stages.with_label_values(&[name]).observe(d.as_secs_f64());
            }
        }
        if let Some(d) = inv.stages.transform() {
            self.transform.observe(d.as_secs_f64());
        }
        let add = |c: &IntCounter, v: Option<u64>| c.inc_by(v.unwrap_or(0));
        add(&self.input_bytes, inv.input_bytes);
        add(&self.output_bytes, inv.output_bytes);
        add(&self.input_pixels, inv.input_pixels);
        add(&self.output_pixels, inv.output_pixels);
        add(&self.quality_retries, inv.quality_retries.map(u64::from));
        if inv.overloaded {
            self.overloaded.inc();
        }
    }

    /// The text exposition, with the gauges read now.
    pub fn render(&self, limiter: &Limiter, cache_bytes: u64) -> String {
        self.running.set(limiter.running() as i64);
        self.reserved.set(i64::from(limiter.reserved_mib()) << 20);
        self.budget.set(i64::from(limiter.memory_mib()) << 20);
        self.cache_bytes.set(cache_bytes as i64);
        let mut out = Vec::new();
        // Encoding in-memory families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Prom {
    fn default() -> Self {
        Self::new()
    }
}
