#!/usr/bin/env python3
"""Soak: sustained load of distinct signed events through hookgate to a sink, for a bounded time.

    python3 bench/soak.py [--duration 120] [--segments 6] [--capacity 300000] [--connections 32]

Builds hookgate and the sink (release), runs hookgate with a small dedupe memory (--capacity events)
so that it fills and starts evicting during the run, and drives load with wrk in segments, each
replaying events never sent before (so deduplication never short-circuits). After every segment it
records hookgate's resident memory, its forwarded/dedupe/eviction metrics, the sink's counts and wrk's
latencies. At the end it reports: every forwarded event delivered exactly once (sink count = distinct
ids = hookgate's forwarded counter; wrk's 2xx answers within the in-flight margin), zero unexpected
statuses, p50/p99 per segment, and RSS at the start, middle and end, which must plateau once the dedupe
memory is at capacity rather than grow with time. Exits non-zero when a check fails.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (the load benchmark's helpers)


def rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=120, help="seconds of load in all")
    ap.add_argument("--segments", type=int, default=6)
    ap.add_argument("--capacity", type=int, default=300_000, help="server.dedupe_capacity")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--per-second", type=int, default=60_000, help="corpus sized for at most this rate")
    args = ap.parse_args()
    seg = max(1, args.duration // args.segments)
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "hookgate", "-p", "hookgate-bench"],
                   cwd=bench.ROOT, check=True)
    release = bench.ROOT / "target" / "release"
    work = Path(tempfile.mkdtemp(prefix="hookgate-soak-"))
    procs = []
    try:
        sink_port = bench.free_port()
        procs.append(subprocess.Popen(["taskset", "-c", bench.LOAD_CPU, str(release / "sink"),
                                       f"127.0.0.1:{sink_port}"]))
        bench.wait_port(sink_port)
        port, admin = bench.free_port(), bench.free_port()
        conf = work / "hookgate.toml"
        conf.write_text(f"""
[server]
listen = "127.0.0.1:{port}"
workers = 1
access_log = false
dedupe_capacity = {args.capacity}

[admin]
listen = "127.0.0.1:{admin}"

[routes.stripe]
provider = "stripe"
secrets = ["{bench.SECRET}"]
tolerance = "1h"
upstream = "http://127.0.0.1:{sink_port}/events"
""")
        gw = subprocess.Popen(["taskset", "-c", bench.TARGET_CPU, str(release / "hookgate"), "serve",
                               "--config", str(conf)], stderr=open(work / "hookgate.log", "w"))
        procs.append(gw)
        bench.wait_port(port)
        bench.wait_port(admin)
        stat = lambda: json.loads(bench.http("GET", f"http://127.0.0.1:{sink_port}/stats"))
        m = lambda name: bench.metric(admin, name)
        rows = [{"segment": 0, "t": 0, "rss_mib": rss_mib(gw.pid), "entries": 0, "evictions": 0,
                 "forwarded": 0, "sink": 0, "distinct": 0}]
        totals = {"requests": 0, "non2xx": 0, "errors": 0}
        started = time.time()
        for i in range(1, args.segments + 1):
            prefix = f"evt_soak_{i}_"
            corpus = work / "corpus.txt"
            bench.corpus(corpus, prefix, args.per_second * seg)
            w = bench.run_wrk(port, "/webhooks/stripe", corpus, prefix, seg, args.connections)
            time.sleep(0.5)
            s = stat()
            row = {
                "segment": i,
                "t": round(time.time() - started),
                "rss_mib": rss_mib(gw.pid),
                "entries": m("hookgate_dedupe_entries"),
                "evictions": m("hookgate_dedupe_evictions_total"),
                "forwarded": m('hookgate_requests_total{route="stripe",outcome="forwarded"}'),
                "sink": s["total"],
                "distinct": s["distinct"],
                "rps": w["requests"] / seg,
                "p50_ms": w["p50_us"] / 1000,
                "p99_ms": w["p99_us"] / 1000,
            }
            for k in totals:
                totals[k] += w[k]
            rows.append(row)
            print(f"segment {i}: {row['rps']:.0f} req/s, p99 {row['p99_ms']:.2f} ms, RSS {row['rss_mib']:.0f} MiB, "
                  f"dedupe {row['entries']:.0f} entries, {row['evictions']:.0f} evicted", file=sys.stderr)

        last = rows[-1]
        ok = totals["requests"] - totals["non2xx"]
        checks = {
            "sink received each forwarded event exactly once":
                last["sink"] == last["distinct"] == last["forwarded"],
            "every 2xx answer was forwarded (in-flight margin at each segment end)":
                ok <= last["forwarded"] <= ok + args.connections * args.segments,
            "no unexpected status (all 2xx), no socket errors": totals["non2xx"] == 0 and totals["errors"] == 0,
            "dedupe memory reached its capacity and evicted, as the metrics say":
                last["evictions"] > 0 and last["entries"] <= args.capacity * 1.05,
        }
        mid = rows[len(rows) // 2]
        # Once the dedupe memory is full, memory must not keep growing with time.
        full = [r for r in rows[1:] if r["entries"] >= args.capacity * 0.9]
        plateau = len(full) < 2 or full[-1]["rss_mib"] <= full[0]["rss_mib"] * 1.10 + 5
        checks["RSS plateaus once the dedupe memory is full (end within 10% of the first full segment)"] = plateau

        print()
        print(f"soak: {args.segments} segments x {seg}s, {args.connections} connections, dedupe_capacity {args.capacity}")
        print()
        print("| segment | t (s) | req/s | p50 ms | p99 ms | RSS MiB | dedupe entries | evicted | forwarded | sink |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['segment']} | {r['t']} | {r.get('rps', 0):,.0f} | {r.get('p50_ms', 0):.2f} | "
                  f"{r.get('p99_ms', 0):.2f} | {r['rss_mib']:.0f} | {r['entries']:,.0f} | {r['evictions']:,.0f} | "
                  f"{r['forwarded']:,.0f} | {r['sink']:,} |")
        print()
        print(f"RSS start {rows[0]['rss_mib']:.0f} MiB, middle {mid['rss_mib']:.0f} MiB, end {last['rss_mib']:.0f} MiB; "
              f"{ok:,} answered 2xx, {totals['non2xx']} other, {totals['errors']} socket errors; "
              f"median p99 {statistics.median(r['p99_ms'] for r in rows[1:]):.2f} ms")
        for name, passed in checks.items():
            print(f"{'PASS' if passed else 'FAIL'}: {name}")
        if not all(checks.values()):
            sys.exit(1)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
