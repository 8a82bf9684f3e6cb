#!/usr/bin/env python3
"""Soak: sustained load of distinct signed events through hookgate to a sink, for a bounded time.

    python3 bench/soak.py [--mode queued|direct] [--store embedded|redis] [--duration 240] [--segments 8]

Builds hookgate and the sink (release), runs hookgate with a small dedupe memory (--capacity events),
short windows (tolerance and dedupe_ttl of one minute, retention of 20 s) so that everything it keeps
reaches its steady state within the run, and drives load with wrk in segments, each replaying events
never sent before (so deduplication never short-circuits). After every segment it records hookgate's
resident memory, the store's size (the embedded file, or Redis's used_memory, from a redis-server this
script starts on an ephemeral port), its accepted or forwarded counter, the sink's counts and wrk's
latencies. At the end (queued: once the queue has drained) it reports: every acknowledged event at the
sink (direct: exactly once; queued: at least once, repeats counted), zero unexpected statuses, p50/p99
per segment, and RSS and store size, which must plateau once the windows have turned over rather than
grow with time. Exits non-zero when a check fails.
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


def redis_used_memory(port):
    """Redis's used_memory, in bytes, from INFO memory over a plain socket."""
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"INFO memory\r\n")
        data = b""
        while b"used_memory:" not in data or not data.endswith(b"\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    for line in data.decode().splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["queued", "direct"], default="queued", help="the route's delivery")
    ap.add_argument("--store", choices=["embedded", "redis"], default="embedded")
    ap.add_argument("--duration", type=int, default=240, help="seconds of load in all")
    ap.add_argument("--segments", type=int, default=8)
    ap.add_argument("--capacity", type=int, default=300_000, help="server.dedupe_capacity")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--per-second", type=int, default=60_000, help="corpus sized for at most this rate")
    args = ap.parse_args()
    seg = max(1, args.duration // args.segments)
    subprocess.run(["cargo", "build", "--profile", "profiling", "--locked", "-p", "hookgate", "-p", "hookgate-bench"],
                   cwd=bench.ROOT, check=True)
    release = bench.ROOT / "target" / "profiling"
    work = Path(tempfile.mkdtemp(prefix="hookgate-soak-"))
    procs = []
    try:
        sink_port = bench.free_port()
        procs.append(subprocess.Popen(["taskset", "-c", bench.LOAD_CPU, str(release / "sink"),
                                       f"127.0.0.1:{sink_port}"]))
        bench.wait_port(sink_port)
        redis_port = None
        if args.store == "redis":
            redis_port = bench.free_port()
            procs.append(subprocess.Popen(["taskset", "-c", bench.LOAD_CPU, "redis-server", "--port", str(redis_port),
                                           "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
                                           "--appendfsync", "always", "--dir", str(work)],
                                          stdout=subprocess.DEVNULL))
            bench.wait_port(redis_port)
            store = f'kind = "redis"\nurl = "redis://127.0.0.1:{redis_port}"\ndurability = "fsync"\nlease = "20s"'
        else:
            store = f'path = "{work / "data"}"'
        store += '\nretention = "20s"\ndead_retention = "20s"'
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

[store]
{store}

[routes.stripe]
provider = "stripe"
secrets = ["{bench.SECRET}"]
tolerance = "1m"
dedupe_ttl = "1m"
retry_horizon = "0s"
upstream = "http://127.0.0.1:{sink_port}/events"
delivery = "{args.mode}"
""")
        gw = subprocess.Popen(["taskset", "-c", bench.TARGET_CPU, str(release / "hookgate"), "serve",
                               "--config", str(conf)], stderr=open(work / "hookgate.log", "w"))
        procs.append(gw)
        bench.wait_port(port)
        bench.wait_port(admin)
        stat = lambda: json.loads(bench.http("GET", f"http://127.0.0.1:{sink_port}/stats"))
        m = lambda name: bench.metric(admin, name)
        outcome = "accepted" if args.mode == "queued" else "forwarded"
        counter = f'hookgate_requests_total{{route="stripe",outcome="{outcome}"}}'

        def store_mib():
            if redis_port:
                return redis_used_memory(redis_port) / 2**20
            return m("hookgate_store_file_bytes") / 2**20

        rows = [{"segment": 0, "t": 0, "rss_mib": rss_mib(gw.pid), "store_mib": store_mib(), "entries": 0,
                 "evictions": 0, "forwarded": 0, "sink": 0, "distinct": 0}]
        totals = {"requests": 0, "non2xx": 0, "errors": 0}
        started = time.time()
        for i in range(1, args.segments + 1):
            prefix = f"evt_soak_{i}_"
            corpus = work / "corpus.txt"
            bench.stamp()  # the route's tolerance is a minute
            bench.corpus(corpus, prefix, args.per_second * seg)
            w = bench.run_wrk(port, "/webhooks/stripe", corpus, prefix, seg, args.connections)
            time.sleep(0.5)
            s = stat()
            row = {
                "segment": i,
                "t": round(time.time() - started),
                "rss_mib": rss_mib(gw.pid),
                "store_mib": store_mib(),
                "entries": m("hookgate_dedupe_entries"),
                "evictions": m("hookgate_dedupe_evictions_total"),
                "forwarded": m(counter),
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
                  f"store {row['store_mib']:.0f} MiB, dedupe {row['entries']:.0f} entries, "
                  f"{row['evictions']:.0f} evicted", file=sys.stderr)

        last = rows[-1]
        if args.mode == "queued":
            # Acknowledged is not delivered yet: wait (bounded) for the queue to drain.
            deadline = time.time() + 180
            while stat()["distinct"] < last["forwarded"] and time.time() < deadline:
                time.sleep(0.5)
            time.sleep(0.5)
            s = stat()
            last["sink"], last["distinct"] = s["total"], s["distinct"]
        ok = totals["requests"] - totals["non2xx"]
        if args.mode == "queued":
            delivered = ("every accepted event reached the sink (at least once; "
                         f"{last['sink'] - last['distinct']} repeats)", last["distinct"] == last["forwarded"])
        else:
            delivered = ("sink received each forwarded event exactly once",
                         last["sink"] == last["distinct"] == last["forwarded"])
        checks = {
            delivered[0]: delivered[1],
            f"every 2xx answer was {outcome} (in-flight margin at each segment end)":
                ok <= last["forwarded"] <= ok + args.connections * args.segments,
            "no unexpected status (all 2xx), no socket errors": totals["non2xx"] == 0 and totals["errors"] == 0,
            "dedupe memory within its capacity": last["entries"] <= args.capacity * 1.05,
        }
        mid = rows[len(rows) // 2]
        # Once dedupe_ttl (60 s) and retention (20 s) have turned over, nothing may keep growing.
        steady = [r for r in rows[1:] if r["t"] >= 100]
        for what, key in [("RSS", "rss_mib"), ("store size", "store_mib")]:
            checks[f"{what} plateaus once the windows have turned over (end within 10% + 5 MiB of t >= 100 s)"] = (
                len(steady) < 2 or steady[-1][key] <= steady[0][key] * 1.10 + 5)

        print()
        print(f"soak: {args.mode} delivery, {args.store} store, {args.segments} segments x {seg}s, "
              f"{args.connections} connections, dedupe_capacity {args.capacity}")
        print()
        print(f"| segment | t (s) | req/s | p50 ms | p99 ms | RSS MiB | store MiB | dedupe entries | evicted | {outcome} | sink | not yet delivered |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['segment']} | {r['t']} | {r.get('rps', 0):,.0f} | {r.get('p50_ms', 0):.2f} | "
                  f"{r.get('p99_ms', 0):.2f} | {r['rss_mib']:.0f} | {r['store_mib']:.1f} | {r['entries']:,.0f} | "
                  f"{r['evictions']:,.0f} | {r['forwarded']:,.0f} | {r['sink']:,} | {r['forwarded'] - r['distinct']:,.0f} |")
        print()
        print(f"store start {rows[0]['store_mib']:.1f} MiB, middle {mid['store_mib']:.1f} MiB, "
              f"end {last['store_mib']:.1f} MiB")
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
