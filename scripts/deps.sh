#!/usr/bin/env bash
# What the build and the tests need beyond cargo, brought in if missing (make runs this):
# - nasm: libjpeg-turbo's SIMD. Without it mozjpeg-sys only warns and builds a decoder
#   several times slower, so a build without it is refused rather than silently slow.
# - a project-local Python environment (.venv) with moto (the local S3 + CloudFront API)
#   and Pillow (the reference decoder of the corpus test), from .ci/requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nasm >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "deps: installing nasm (apt-get)"
    apt-get install -y -qq --no-install-recommends nasm >/dev/null 2>&1 ||
      { apt-get update -qq && apt-get install -y -qq --no-install-recommends nasm >/dev/null; }
  else
    echo "deps: nasm is missing: install it (apt-get install nasm / brew install nasm) and run make again" >&2
    exit 1
  fi
fi
[ "${1:-}" = "--build-only" ] && exit 0
if [ ! -f .venv/.ok ] || [ .ci/requirements.txt -nt .venv/.ok ]; then
  echo "deps: Python environment .venv (moto, Pillow)"
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -r .ci/requirements.txt
  touch .venv/.ok
fi
