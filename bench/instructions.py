#!/usr/bin/env python3
"""Instructions per forwarded request, repeatable: hookgate against the bare hyper proxy, under callgrind.

    python3 bench/instructions.py [--requests 2000] [--targets bare-hyper,hookgate-nostore,hookgate]
                                  [--baseline BIN] [--top 25] [--json FILE]

Wall-clock benchmarks move by a few percent from run to run on a shared machine; instruction counts do
not. Each target runs under `valgrind --tool=callgrind` (every thread counted), with the sink from bench/
as its upstream outside valgrind. After a warm-up the counters are zeroed (`callgrind_control -z`),
REQUESTS distinct Stripe-signed ~1 KB deliveries are sent one after another on one keep-alive
connection, and the counters are dumped: the total divided by REQUESTS is the cost of one request,
start-up and warm-up excluded. The same body, signatures and order for every target.

It prints instructions per request per target, the ratio to the bare proxy, and for hookgate targets a
breakdown by step (inclusive counts of the functions that mark each step; see STEPS), from
`callgrind_annotate`. valgrind emulates no SHA instructions, so hashing weighs far more here than on
the CPU; `perf` (see BENCHMARKS.md) gives the real weights, this gives a repeatable total.

Needs valgrind (`apt-get install valgrind`). Bounded: a few seconds per target plus the build.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (the load benchmark's body, secret and helpers)

ROOT = bench.ROOT

# A request's steps, each found by the functions whose inclusive cost is that step's. A function that
# appears under several steps is counted in the first that matches.
STEPS = [
    ("verify: HMAC-SHA256 of the body", r"sha2::sha256::|hmac::"),
    ("verify: the rest (parse header, compare, window)", r"hookgate::verify::"),
    ("event id and type from the JSON body", r"hookgate::verify::json::|serde_json::"),
    ("dedupe (memory and store)", r"hookgate::replay::|hookgate::store::"),
    ("envelope", r"hookgate::envelope::"),
    ("upstream request (hyper client, pool)", r"hyper_util::client::legacy::|hyper::client::|hookgate::forward::"),
    ("server: HTTP/1 parse and write (hyper)", r"hyper::proto::h1::|httparse::"),
    ("metrics", r"prometheus_client::|hookgate::metrics::"),
    ("logging (tracing)", r"tracing_subscriber::|tracing_core::|tracing::"),
    ("inspector tally (recent outcomes)", r"hookgate::recent::"),
    ("allocation (mimalloc)", r"mi_|_mi_"),
    ("runtime: tasks, timers, I/O driver (tokio)", r"tokio::runtime::|tokio::time::|mio::"),
    ("system calls", r"^(__libc_|__GI_|epoll_|writev|__send|__recv|read|write|syscall)"),
]


def sign(body, ts):
    return hmac.new(bench.SECRET.encode(), f"{ts}.{body}".encode(), hashlib.sha256).hexdigest()


def deliveries(prefix, count):
    ts = str(int(time.time()))
    tail = bench.BODY_TAIL.replace('"created":' + bench.TS, '"created":' + ts, 1)
    for i in range(count):
        body = bench.BODY_HEAD + prefix + str(i) + tail
        yield body.encode(), f"t={ts},v1={sign(body, ts)}"


def send(port, path, prefix, count):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for body, sig in deliveries(prefix, count):
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json", "Stripe-Signature": sig})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise SystemExit(f"port {port}: {resp.status} for a delivery")
    conn.close()


def wait_http(port, timeout=120):
    """Under valgrind the process takes seconds to start: wait until it answers."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/healthz")
            c.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing answers on port {port}")


def measure(name, cmd, port, path, work, requests):
    out = work / f"{name}.callgrind"
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--quiet", f"--callgrind-out-file={out}.%p",
                             "--dump-instr=no", "--collect-jumps=no", *cmd],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(port)
        send(port, path, f"evt_{name}_warm_", 300)
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True)
        send(port, path, f"evt_{name}_", requests)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    # Dump 1 is the one taken after the requests (the file without a number holds the shutdown).
    dump = work / f"{name}.callgrind.{proc.pid}.1"
    if not dump.exists():
        raise SystemExit(f"{name}: callgrind wrote no dump {dump}")
    return totals(dump) / requests, dump


def totals(dump):
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith("summary:") or line.startswith("totals:"):
            return int(line.split()[1])
    raise SystemExit(f"{dump}: no totals")


def breakdown(dump, per):
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(dump)],
                          capture_output=True, text=True, check=True).stdout
    rows = []
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(?:\S+:)?(.*)$", line)
        if m:
            rows.append((int(m.group(1).replace(",", "")), m.group(2).strip()))
    steps = []
    for label, pattern in STEPS:
        # The outermost matching functions' inclusive cost: the largest one, since callers include callees.
        found = [(ir, fn) for ir, fn in rows if re.search(pattern, fn)]
        steps.append((label, max((ir for ir, _ in found), default=0) / per))
    return steps, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--targets", default="bare-hyper,hookgate-nostore,hookgate")
    ap.add_argument("--baseline", type=Path, metavar="BIN", help="also measure this hookgate binary")
    ap.add_argument("--top", type=int, default=0, help="also print the N costliest functions (inclusive)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "hookgate", "-p", "hookgate-bench"],
                   cwd=ROOT, check=True)
    release = ROOT / "target" / "release"
    work = Path(tempfile.mkdtemp(prefix="hookgate-callgrind-"))
    sink_port = bench.free_port()
    sink = subprocess.Popen([str(release / "sink"), f"127.0.0.1:{sink_port}"])
    bench.wait_port(sink_port)
    upstream = f"http://127.0.0.1:{sink_port}/events"
    results = {}
    try:
        wanted = args.targets.split(",")
        binaries = [("", release / "hookgate")]
        if args.baseline:
            binaries.append(("@baseline", args.baseline.resolve()))
        for target in wanted:
            if target == "bare-hyper":
                port = bench.free_port()
                per, dump = measure(target, [str(release / "bare-proxy"), f"127.0.0.1:{port}", upstream],
                                    port, "/webhooks/stripe", work, args.requests)
                results[target] = {"per_request": per, "dump": str(dump)}
                continue
            store = {"hookgate": f'path = "{work}/{{name}}-data"', "hookgate-nostore": 'kind = "memory"',
                     "hookgate-queued": f'path = "{work}/{{name}}-data"'}[target]
            delivery = "queued" if target == "hookgate-queued" else "direct"
            for suffix, binary in binaries:
                name = target + suffix
                port = bench.free_port()
                conf = work / f"{name}.toml"
                conf.write_text(f"""
[server]
listen = "127.0.0.1:{port}"
workers = 1
access_log = false

[store]
{store.format(name=name)}

[routes.stripe]
provider = "stripe"
secrets = ["{bench.SECRET}"]
tolerance = "1h"
upstream = "{upstream}"
delivery = "{delivery}"
""")
                per, dump = measure(name, [str(binary), "serve", "--config", str(conf)], port,
                                    "/webhooks/stripe", work, args.requests)
                results[name] = {"per_request": per, "dump": str(dump)}
    finally:
        sink.terminate()
        sink.wait()

    base = results.get("bare-hyper", {}).get("per_request")
    print(f"\ninstructions per request ({args.requests} requests, one connection, after 300 to warm up)\n")
    print(f"| target | instructions per request | vs bare hyper |")
    print(f"|---|---:|---:|")
    for name, r in results.items():
        ratio = f"{r['per_request'] / base:.2f}x" if base else ""
        print(f"| {name} | {r['per_request']:,.0f} | {ratio} |")
    for name, r in results.items():
        if not name.startswith("hookgate"):
            continue
        steps, rows = breakdown(Path(r["dump"]), args.requests)
        r["steps"] = dict(steps)
        print(f"\n{name}: by step (inclusive instructions per request; steps overlap where one calls another)\n")
        print("| step | instructions | share |")
        print("|---|---:|---:|")
        for label, ir in steps:
            print(f"| {label} | {ir:,.0f} | {ir / r['per_request']:.0%} |")
        if args.top:
            print(f"\n{name}: costliest functions, inclusive, per request\n")
            for ir, fn in rows[: args.top]:
                print(f"{ir / args.requests:>12,.0f}  {fn[:140]}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
