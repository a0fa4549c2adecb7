#!/usr/bin/env bash
# Run a command with moto (S3 + CloudFront API emulator) listening on 127.0.0.1:$1.
# The tests find it through AWS_ENDPOINT_URL; they never talk to AWS.
set -euo pipefail
port=$1; shift
log=$(mktemp)
"${PYTHON:-python3}" -m moto.server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  if curl -fs "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 || curl -s -o /dev/null "http://127.0.0.1:$port/"; then break; fi
  kill -0 $pid 2>/dev/null || { cat "$log"; echo "moto did not start" >&2; exit 1; }
  sleep 0.2
done
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
# Dummy credentials: moto accepts any; without them the SDK would try instance metadata.
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_REGION=${AWS_REGION:-us-east-1} AWS_EC2_METADATA_DISABLED=true
"$@"
