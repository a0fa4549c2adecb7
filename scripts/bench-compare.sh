#!/usr/bin/env bash
# edge-resize against sharp on the same tasks, same machine, same run, one thread each.
set -euo pipefail
cd "$(dirname "$0")/.."
(cd bench && npm install --no-audit --no-fund --loglevel=error >/dev/null)
scripts/bench-photos.sh target/bench-photos
cargo bench --bench compare
