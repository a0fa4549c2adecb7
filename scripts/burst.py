#!/usr/bin/env python3
"""The burst phase of scripts/load.sh: fire every path at once (one thread each) and print
one RESULT line: statuses, p50/p99 latency (ms), 503s and whether each carried Retry-After
and Cache-Control: no-store. Standard library only.

usage: burst.py BASE_URL PATH...
"""
import json
import sys
import threading
import time
import urllib.error
import urllib.request


def lower(headers):
    return {k.lower(): v for k, v in headers.items()}


def fetch(url, out, i, start):
    start.wait()
    t = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            r.read()
            out[i] = (r.status, time.monotonic() - t, lower(r.headers))
    except urllib.error.HTTPError as e:
        e.read()
        out[i] = (e.code, time.monotonic() - t, lower(e.headers))
    except Exception as e:  # socket errors count as errors
        out[i] = (0, time.monotonic() - t, {"error": str(e)})


def main():
    base, paths = sys.argv[1], sys.argv[2:]
    out = [None] * len(paths)
    start = threading.Event()
    threads = [threading.Thread(target=fetch, args=(base + p, out, i, start)) for i, p in enumerate(paths)]
    for t in threads:
        t.start()
    start.set()
    for t in threads:
        t.join()
    ms = sorted(o[1] * 1000 for o in out)
    pct = lambda p: ms[min(len(ms) - 1, int(round(p / 100 * (len(ms) - 1))))]
    busy = [o for o in out if o[0] == 503]
    proper = all(
        o[2].get("retry-after") and o[2].get("cache-control") == "no-store" for o in busy
    )
    print("RESULT " + json.dumps({
        "requests": len(out),
        "ok": sum(o[0] == 200 for o in out),
        "busy_503": len(busy),
        "busy_503_with_retry_after_no_store": proper,
        "other": sum(o[0] not in (200, 503) for o in out),
        "statuses": sorted(set(o[0] for o in out)),
        "p50_ms": round(pct(50), 1),
        "p99_ms": round(pct(99), 1),
    }))


main()
