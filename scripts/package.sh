#!/usr/bin/env bash
# make package: dist/viewer-request.zip, dist/origin-response.zip (Node.js bridge + Rust
# bootstrap + bundled config) and dist/janitor.zip (provided.al2023 bootstrap).
# Fails when a zip is over its Lambda@Edge limit, a binary needs a newer glibc than the
# Lambda Node.js 20 runtime (Amazon Linux 2023, glibc 2.34), or libjpeg-turbo was built
# without SIMD.
set -euo pipefail
cd "$(dirname "$0")/.."
BUCKET=${BUCKET:-}
MAX_GLIBC=2.34

# The viewer needs no AWS SDK (no I/O): the `lambda` feature alone builds it faster.
cargo build --locked --profile edge-small --no-default-features --features lambda --bin viewer-request
cargo build --locked --release --bin origin-response --bin janitor

# libjpeg-turbo without its SIMD kernels (mozjpeg-sys built without nasm only warns) decodes
# several times slower: refuse to package such a binary. The AVX2 colour converter is one
# of those kernels; its symbol is there before `strip` removes the table.
# (grep -c reads all of nm's output: with -q, nm dies of SIGPIPE and pipefail fails the check.)
if [ "$(nm target/release/origin-response | grep -c 'jsimd_ycc_rgb_convert_avx2')" = 0 ]; then
  echo "package: origin-response has no libjpeg-turbo SIMD (AVX2) kernels: install nasm, then cargo clean -p mozjpeg-sys and build again" >&2
  exit 1
fi

rm -rf dist && mkdir -p dist/stage
if [ -n "$BUCKET" ]; then config="{\"bucket\": \"$BUCKET\"}"; else config='{}'; fi

stage() { # name binary with-bridge
  local d=dist/stage/$1
  mkdir -p "$d"
  cp "$2" "$d/bootstrap"
  strip "$d/bootstrap"
  chmod 755 "$d/bootstrap"
  echo "$config" >"$d/edge-resize.json"
  if [ "$3" = bridge ]; then cp infra/edge-bridge/index.mjs infra/edge-bridge/package.json "$d/"; fi
  (cd "$d" && zip -q -9 -X -r "../../$1.zip" .)
  local glibc
  glibc=$(objdump -T "$d/bootstrap" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
  if [ "$(printf '%s\n%s\n' "$glibc" "$MAX_GLIBC" | sort -V | tail -1)" != "$MAX_GLIBC" ]; then
    echo "package: $1 needs glibc $glibc, the Lambda runtime has $MAX_GLIBC" >&2; exit 1
  fi
}

stage viewer-request target/edge-small/viewer-request bridge
stage origin-response target/release/origin-response bridge
stage janitor target/release/janitor none

check() { # name limit-bytes
  local size; size=$(stat -c %s "dist/$1.zip")
  printf '%-18s %9d bytes zipped (limit %d)\n' "$1.zip" "$size" "$2"
  if [ "$size" -gt "$2" ]; then echo "package: $1.zip is over its limit" >&2; exit 1; fi
}
check viewer-request 1048576     # Lambda@Edge viewer trigger: 1 MB
check origin-response 52428800   # Lambda@Edge origin trigger: 50 MB
check janitor 52428800           # Lambda direct upload: 50 MB
