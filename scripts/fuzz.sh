#!/usr/bin/env bash
# Bounded cargo-fuzz pass: every target for SECONDS, seeded from the fixtures.
# usage: scripts/fuzz.sh [SECONDS] [TARGET...]
# cargo fuzz needs nightly-only rustc flags (sanitizers, coverage); this machine has one
# stable toolchain, so RUSTC_BOOTSTRAP=1 lets it accept them.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(request event decode)
export RUSTC_BOOTSTRAP=1

command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz@0.13.2

# Seeds: the bundled fixtures, and queries from the hostile-input tests' families.
corpus=fuzz/corpus
mkdir -p "$corpus"/{request,event,decode}
cp fixtures/events/*.json "$corpus/event/"
i=0
# Small fixtures only: a 60 KB photo costs ~30 ms an execution under ASan, a 1 KB one ~1 ms,
# and the header and marker parsing the fuzzer is after is all in the first bytes.
for f in $(find fixtures/image -maxdepth 1 -type f -size -20k | sort); do
  # The decode target's first byte picks the output format and fit.
  { printf "\\x$(printf %02x $((i % 9)))"; cat "$f"; } >"$corpus/decode/$(basename "$f")"
  i=$((i + 1))
done
# Restart-marker seeds with the first byte's top bit set: decoded in bands on two threads,
# which the target checks against the whole-file decode.
for f in $(find fixtures/restart -maxdepth 1 -type f -size -20k | sort); do
  { printf "\\x$(printf %02x $((128 + i % 9)))"; cat "$f"; } >"$corpus/decode/$(basename "$f")"
  i=$((i + 1))
done
n=0
while IFS= read -r line; do
  printf '%b' "$line" >"$corpus/request/seed-$n"
  n=$((n + 1))
done <<'SEEDS'
/image/coffee.jpg\nd=100\nimage/webp,*/*
/image/coffee.jpg\nw=640&h=480&fit=inside&q=65\nimage/avif,image/webp
/image/100x100/coffee.jpg\n\n*/*
/image/640x480-inside-q50/webp/coffee.jpg\n\n
/image/a/%2e%2e/b.png\nd=99999999&d=1\n
/image/x.jpg\nformat=png&w=abc\nimage/png
/image/coffee.jpg\nw=320&dpr=1.5&fit=inside\nimage/avif,image/webp
SEEDS

# One build for all targets (the crate without its `aws` feature: no SDK to compile).
cargo fuzz build --fuzz-dir fuzz -O 2>&1 | tail -n 1
for t in "${targets[@]}"; do
  echo "== fuzz $t for ${seconds}s"
  # -rss_limit_mb: the transform is bounded (4 MP, 1 MB inputs), so more is a finding.
  cargo fuzz run --fuzz-dir fuzz -O "$t" "$corpus/$t" -- \
    -max_total_time="$seconds" -max_len=20000 -rss_limit_mb=1024 -timeout=20 -print_final_stats=1 2>&1 |
    grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|thread '|Done|INFO: Running with entropic)" || true
  # A crash leaves an artifact and a non-zero exit: fail the pass.
  if compgen -G "fuzz/artifacts/$t/*" >/dev/null; then
    echo "fuzz $t: crashing inputs in fuzz/artifacts/$t" >&2
    exit 1
  fi
done
