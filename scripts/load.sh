#!/usr/bin/env bash
# Bounded load pass against `edge-resize serve` on 127.0.0.1 with wrk:
#  1. 64 connections ask for one missing variant for 3 s: it must be transformed once.
#  2. 32 connections mix hits and misses over 16 variants + 2 originals for DURATION s:
#     no socket error, no non-2xx answer, 16 transforms in all, peak RSS under the cap.
# usage: scripts/load.sh [DURATION_SECONDS]   (needs target/release/edge-resize and wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
port=${LOAD_PORT:-18080}
rss_cap_mib=${LOAD_RSS_CAP_MIB:-512}
bin=target/release/edge-resize
url="http://127.0.0.1:$port"

dir=$(mktemp -d)
mkdir -p "$dir/image"
cp fixtures/image/coffee.jpg fixtures/image/chelsea.jpg "$dir/image/"
"$bin" serve --dir "$dir" --listen "127.0.0.1:$port" --cache-mib 64 >"$dir/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do
  curl -fs "$url/_edge/stats" >/dev/null 2>&1 && break
  sleep 0.1
done

fail=0
stat() { curl -fs "$url/_edge/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
check() { # name, actual, expected
  if [ "$2" != "$3" ]; then echo "FAIL: $1 is $2, expected $3" >&2; fail=1; else echo "ok: $1 = $2"; fi
}
result() { grep '^RESULT ' | sed 's/^RESULT //'; }
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])['$2'])" "$1"; }

echo "== single flight: 64 connections, one missing variant, 3 s"
r=$(LOAD_ONE=1 wrk -t2 -c64 -d3s --timeout 10s -s scripts/load.lua "$url" | result)
echo "$r"
check "transforms after phase 1" "$(stat transforms)" 1
check "socket errors" "$(field "$r" socket_errors)" 0
check "non-2xx answers" "$(field "$r" bad_status)" 0

echo "== mixed hits and misses: 32 connections, 18 paths, ${duration} s"
r=$(wrk -t2 -c32 -d"${duration}s" --timeout 10s -s scripts/load.lua "$url" | result)
echo "$r"
check "socket errors" "$(field "$r" socket_errors)" 0
check "non-2xx answers" "$(field "$r" bad_status)" 0
check "transforms in all (one per distinct variant)" "$(stat transforms)" 16
check "handler errors" "$(stat errors)" 0
rss_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
rss_mib=$((rss_kib / 1024))
rps=$(python3 -c "import json,sys; r=json.loads(sys.argv[1]); print(round(r['requests']/r['seconds']))" "$r")
echo "load: ${rps} req/s, p50 $(field "$r" p50_ms) ms, p99 $(field "$r" p99_ms) ms, peak RSS ${rss_mib} MiB"
if [ "$rss_mib" -ge "$rss_cap_mib" ]; then echo "FAIL: peak RSS ${rss_mib} MiB >= ${rss_cap_mib} MiB" >&2; fail=1; fi
exit $fail
