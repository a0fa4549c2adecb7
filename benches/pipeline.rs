//! The whole pipeline (decode with shrink-on-load, resize, encode) on the two tasks of
//! `common::TASKS`. `make bench-compare` runs the same tasks through sharp.

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use edge_resize::transform::run;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipeline");
    g.sample_size(20);
    for t in &common::TASKS {
        let input = common::jpeg(t.src_w, t.src_h);
        let o = t.options();
        g.bench_function(t.name, |b| b.iter(|| run(&input, &o).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
