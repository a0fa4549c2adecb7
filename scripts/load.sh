#!/usr/bin/env bash
# Bounded load pass against `edge-resize serve` on 127.0.0.1 with wrk:
#  1. 64 connections ask for one missing variant for 3 s: it must be transformed once.
#  2. 32 connections mix hits and misses over 16 variants + 2 originals for DURATION s:
#     no socket error, no non-2xx answer, 16 transforms in all, peak RSS under the cap.
#  3. Burst: 20 concurrent misses on two large originals (18 MP and 8 MP progressive JPEGs,
#     made at run time by upscaling a fixture photo: a memory test, not a quality one) on a
#     fresh `serve` with a transform memory budget of BURST_BUDGET_MIB: peak RSS must stay
#     under the budget plus the process's own baseline (measured before the burst) plus
#     BURST_SLACK_MIB, and every answer is a 200 or the documented 503 (Retry-After, no-store).
# usage: scripts/load.sh [DURATION_SECONDS]   (needs target/release/edge-resize and wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
port=${LOAD_PORT:-18080}
rss_cap_mib=${LOAD_RSS_CAP_MIB:-512}
burst_port=${BURST_PORT:-18081}
burst_budget_mib=${BURST_BUDGET_MIB:-384}
burst_slack_mib=${BURST_SLACK_MIB:-64}
bin=target/release/edge-resize
url="http://127.0.0.1:$port"

dir=$(mktemp -d)
mkdir -p "$dir/image"
cp fixtures/image/coffee.jpg fixtures/image/chelsea.jpg "$dir/image/"
"$bin" serve --dir "$dir" --listen "127.0.0.1:$port" --cache-mib 64 >"$dir/serve.log" 2>&1 &
pid=$!
bpid=
trap 'kill $pid 2>/dev/null || true; [ -n "$bpid" ] && kill $bpid 2>/dev/null; rm -rf "$dir"' EXIT
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

echo "== burst: 20 concurrent misses on an 18 MP and an 8 MP progressive JPEG, budget ${burst_budget_mib} MiB"
bdir="$dir/burst"
mkdir -p "$bdir/image"
"$bin" resize fixtures/image/chelsea.jpg -o "$bdir/image/large18.jpg" --d 5184x3456 --fit fill --upscale
"$bin" resize fixtures/image/coffee.jpg -o "$bdir/image/large8.jpg" --d 3264x2448 --fit fill --upscale
echo "{\"transform_memory_mib\": $burst_budget_mib}" >"$bdir/edge-resize.json"
"$bin" --config "$bdir/edge-resize.json" serve --dir "$bdir" --listen "127.0.0.1:$burst_port" \
  --cache-mib 64 >"$bdir/serve.log" 2>&1 &
bpid=$!
burl="http://127.0.0.1:$burst_port"
for _ in $(seq 1 100); do
  curl -fs "$burl/_edge/stats" >/dev/null 2>&1 && break
  sleep 0.1
done
base_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/$bpid/status")
paths=()
for img in large18 large8; do
  for w in 256 384 640 750 828 1080 1200 1920 2048 3840; do paths+=("/image/$img.jpg?w=$w"); done
done
r=$(python3 scripts/burst.py "$burl" "${paths[@]}" | result)
echo "$r"
peak_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/$bpid/status")
base_mib=$((base_kib / 1024)); peak_mib=$((peak_kib / 1024))
limit_mib=$((burst_budget_mib + base_mib + burst_slack_mib))
busy=$(field "$r" busy_503)
echo "burst: peak RSS ${peak_mib} MiB (baseline ${base_mib} MiB + budget ${burst_budget_mib} MiB + slack ${burst_slack_mib} MiB = ${limit_mib} MiB allowed), p99 $(field "$r" p99_ms) ms, ${busy} of 20 answered 503"
check "burst answers other than 200 or 503" "$(field "$r" other)" 0
check "every 503 carries Retry-After and no-store" "$(field "$r" busy_503_with_retry_after_no_store)" True
m=$(curl -fs "$burl/metrics")
overloaded=$(echo "$m" | awk '/^edge_resize_overloaded_total / {print $2}')
check "edge_resize_overloaded_total equals the 503s seen" "$overloaded" "$busy"
if [ "$peak_mib" -gt "$limit_mib" ]; then echo "FAIL: burst peak RSS ${peak_mib} MiB > ${limit_mib} MiB" >&2; fail=1; fi
exit $fail
