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

# Where each instruction goes: every function's own (exclusive) cost is given to the first step whose
# pattern matches its full name (with its file), so the steps add up to the total.
STEPS = [
    ("SHA-256 (emulated without SHA instructions)", r"sha2::|sha256"),
    ("HMAC and signature check", r"hmac::|hookgate::verify::(check|mac|request|spec|template)|constant_time"),
    ("JSON scan (event id, type, time)", r"hookgate::verify::json|serde_json::"),
    ("verify: other", r"hookgate::verify::"),
    ("dedupe memory", r"hookgate::replay::"),
    ("store (redb, writer thread)", r"redb::|hookgate::store::"),
    ("envelope", r"hookgate::envelope::"),
    ("HTTP/1 (hyper: server and client)", r"hyper::proto::|httparse::|hyper::(body|common|headers)"),
    ("upstream client and pool (hyper-util)", r"hyper_util::client::|hookgate::forward::|hyper::client::"),
    ("server connection (hyper-util)", r"hyper_util::server::|hyper::server::|hookgate::server::"),
    ("pipeline and outcome", r"hookgate::(pipeline|outcome|admission|client_ip|routes)::"),
    ("metrics", r"prometheus_client::|hookgate::metrics::"),
    ("logging (tracing)", r"tracing_subscriber::|tracing_core::|tracing::"),
    ("inspector tally", r"hookgate::recent::"),
    ("headers and URIs (http)", r"\bhttp::"),
    ("allocation (mimalloc)", r"\bmi_|_mi_|mimalloc"),
    ("tokio: tasks, timers, I/O driver", r"tokio::|mio::|tokio_util::"),
    ("memcpy, memmove and other libc", r"libc\.so|ld-linux"),
    ("std, core, alloc", r"\b(core|alloc|std)::"),
    ("hookgate: other", r"hookgate::"),
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
        if not 200 <= resp.status < 300:
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
    # Every target gets ids of the same length (so bodies of the same size, hashed in as many SHA-256
    # blocks), distinct across targets.
    global MEASURED
    MEASURED += 1
    tag = f"{MEASURED:02d}"
    out = work / f"{name}.callgrind"
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--quiet", f"--callgrind-out-file={out}.%p",
                             "--dump-instr=no", "--collect-jumps=no", *cmd],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(port)
        send(port, path, f"evt_w{tag}_", 300)
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True)
        send(port, path, f"evt_m{tag}_", requests)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    # Dump 1 is the one taken after the requests (the file without a number holds the shutdown).
    dump = work / f"{name}.callgrind.{proc.pid}.1"
    if not dump.exists():
        raise SystemExit(f"{name}: callgrind wrote no dump {dump}")
    return totals(dump) / requests, dump


MEASURED = 0


def totals(dump):
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith("summary:") or line.startswith("totals:"):
            return int(line.split()[1])
    raise SystemExit(f"{dump}: no totals")


def self_costs(dump):
    """Each function's own instructions, read from the callgrind file itself (the format is documented
    in valgrind's manual, "Callgrind Format Specification"): cost lines under `fn=`, except the one
    after each `calls=`, which is the inclusive cost of that call. Keyed by (object, function)."""
    names, objects = {}, {}
    costs = {}
    fn, ob, skip = "?", "?", False

    def name(table, value):
        value = value.strip()
        if value.startswith("("):
            ident, _, rest = value[1:].partition(")")
            if rest.strip():
                table[ident] = rest.strip()
            return table.get(ident, "?")
        return value

    with open(dump, errors="replace") as f:
        for line in f:
            if line.startswith("fn="):
                fn = name(names, line[3:])
            elif line.startswith("cfn="):
                name(names, line[4:])
            elif line.startswith("ob="):
                ob = name(objects, line[3:])
            elif line.startswith("cob="):
                name(objects, line[4:])
            elif line.startswith("calls="):
                skip = True
            elif line[:1] in "0123456789+-*":
                parts = line.split()
                if skip:
                    skip = False
                elif len(parts) > 1:
                    key = (ob, fn)
                    costs[key] = costs.get(key, 0) + int(parts[1])
    return costs


def breakdown(dump, per):
    rows = sorted(((ir, f"{fn} [{Path(ob).name}]") for (ob, fn), ir in self_costs(dump).items()), reverse=True)
    steps = {label: 0 for label, _ in STEPS}
    steps["unattributed"] = 0
    for ir, fn in rows:
        label = next((label for label, pattern in STEPS if re.search(pattern, fn)), "unattributed")
        steps[label] += ir
    return [(label, ir / per) for label, ir in steps.items() if ir], rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--targets", default="bare-hyper,hookgate-nostore,hookgate")
    ap.add_argument("--baseline", type=Path, metavar="BIN", help="also measure this hookgate binary")
    ap.add_argument("--top", type=int, default=0, help="also print the N costliest functions (inclusive)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--profile", "profiling", "--locked", "-p", "hookgate", "-p", "hookgate-bench"],
                   cwd=ROOT, check=True)
    release = ROOT / "target" / "profiling"
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
    # One table, a column per target: where each one's instructions go.
    columns = {}
    for name, r in results.items():
        steps, rows = breakdown(Path(r["dump"]), args.requests)
        columns[name] = dict(steps)
        r["steps"] = columns[name]
        r["top"] = [(ir / args.requests, fn) for ir, fn in rows[:50]]
    labels = [label for label, _ in STEPS] + ["unattributed"]
    print("\nby step: each function's own instructions per request, given to the first step whose "
          "pattern (STEPS) matches its name\n")
    print("| step | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for label in labels:
        if any(c.get(label) for c in columns.values()):
            print(f"| {label} | " + " | ".join(f"{c.get(label, 0):,.0f}" for c in columns.values()) + " |")
    print("| **total** | " + " | ".join(f"**{r['per_request']:,.0f}**" for r in results.values()) + " |")
    if args.top:
        for name, r in results.items():
            print(f"\n{name}: costliest functions (own instructions), per request\n")
            for ir, fn in r["top"][: args.top]:
                print(f"{ir:>12,.0f}  {fn[:140]}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
