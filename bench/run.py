#!/usr/bin/env python3
"""The load benchmark: hookgate against nginx and a bare hyper proxy, in one run.

    python3 bench/run.py [--rounds 3] [--duration 8] [--connections 64]

Builds hookgate and bench/ (sink, bare proxy) in release mode; starts the sink; starts each target
pinned to CPU 0 (`taskset`), with wrk and the sink on CPU 1; replays ~1 KB Stripe-signed deliveries,
each a distinct event (a corpus written here with Python's hmac); checks that the sink received every
forwarded delivery exactly once; and prints one table of medians over interleaved rounds: requests/s,
requests per CPU-second of the target, p50/p99 latency, peak RSS, and ratios to nginx.

nginx is used when installed (`apt-get install nginx-light`); wrk is required (`apt-get install wrk`).
Everything listens on 127.0.0.1 and every process is stopped at the end. Bounded in time: about
rounds x targets x duration seconds, plus a few seconds of setup.
"""

import argparse
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET = "whsec_bench_secret"
TS = str(int(time.time()))
TARGET_CPU, LOAD_CPU = "0", "1"
BODY_HEAD = '{"id":"'
# About 1 KB of Stripe-like event around the id.
BODY_TAIL = ('","object":"event","api_version":"2024-06-20","created":' + TS + ',"type":"invoice.paid",'
             '"livemode":false,"pending_webhooks":1,"request":{"id":"req_9Jx3L0kJ2mVb4T","idempotency_key":null},'
             '"data":{"object":{"id":"in_1Pq2Rs3Tu4Vw5Xy6","object":"invoice","amount_due":4200,"amount_paid":4200,'
             '"currency":"eur","customer":"cus_Q1w2E3r4T5y6U7","customer_email":"billing@example.com",'
             '"hosted_invoice_url":"https://invoice.example.com/i/acct_1/test_YWNjdF8x","lines":{"object":"list",'
             '"data":[{"id":"il_1","amount":4200,"description":"1 x Pro plan (at EUR 42.00 / month)",'
             '"period":{"start":1767225600,"end":1769904000},"plan":{"id":"price_1","interval":"month"}}],'
             '"has_more":false,"total_count":1},"number":"INV-0042","paid":true,"status":"paid",'
             '"subscription":"sub_1AbCdEfGhIjKlMn","metadata":{"order":"ord_7731","region":"eu-west-1",'
             '"note":"padding to reach about one kilobyte, like a typical vendor event with a few nested objects"}}}}')


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port} after {timeout}s")


def http(method, url, body=b""):
    req = urllib.request.Request(url, data=body if method == "POST" else None, method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()


def cpu_seconds(pids):
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def peak_rss_mib(pids):
    peak = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except FileNotFoundError:
            pass
    return peak / 1024


def children(pid):
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]
    except FileNotFoundError:
        return []


def stamp():
    """Signs from now on with the current time: for runs longer than a route's tolerance."""
    global TS, BODY_TAIL
    now = str(int(time.time()))
    BODY_TAIL = BODY_TAIL.replace('"created":' + TS, '"created":' + now, 1)
    TS = now


# Whether event ids are scattered over the key space as random vendor ids are (--scattered-ids): delivery
# i's id ends in (i * 2654435761) mod 2^32 (a bijection, so ids stay distinct) instead of i, so that the
# store's id index takes each insert on a random page rather than next to the last one. wrk.lua computes
# the same.
SCATTER = False


def id_number(i):
    return (i * 2654435761) % 2**32 if SCATTER else i


def corpus(path, prefix, count):
    """One signature per line for deliveries prefix+1 .. prefix+count, as wrk.lua builds them."""
    key = SECRET.encode()
    with open(path, "w") as f:
        for i in range(1, count + 1):
            body = BODY_HEAD + prefix + str(id_number(i)) + BODY_TAIL
            f.write(hmac.new(key, f"{TS}.{body}".encode(), hashlib.sha256).hexdigest() + "\n")


def run_wrk(port, path, corpus_file, prefix, duration, connections, bad=False):
    if not bad:
        return run_wrk_many([port], path, [(corpus_file, prefix)], duration, connections)
    env = dict(os.environ, CORPUS=str(corpus_file), PREFIX=prefix, TS=TS, BAD="1" if bad else "0",
               SCATTER="1" if SCATTER else "0",
               TARGET_PATH=path, BODY_HEAD=BODY_HEAD, BODY_TAIL=BODY_TAIL)
    cmd = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency",
           "-s", str(ROOT / "bench" / "wrk.lua"), f"http://127.0.0.1:{port}"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=duration + 60).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    p50, p99, p999 = (int(x) for x in re.search(r"LAT (\d+) (\d+) (\d+)", out).groups())
    return {"requests": requests, "non2xx": non2xx, "errors": errors, "p50_us": p50, "p99_us": p99,
            "p999_us": p999}


def run_wrk_many(ports, path, corpora, duration, connections):
    """wrk against several replicas at once, the connections shared among them; requests and errors are
    summed, latency percentiles are the worst replica's."""
    env = dict(os.environ, TS=TS, BAD="0", TARGET_PATH=path, BODY_HEAD=BODY_HEAD, BODY_TAIL=BODY_TAIL,
               SCATTER="1" if SCATTER else "0")
    procs = []
    for port, (cfile, prefix) in zip(ports, corpora):
        cmd = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{connections // len(ports)}", f"-d{duration}s",
               "--latency", "-s", str(ROOT / "bench" / "wrk.lua"), f"http://127.0.0.1:{port}"]
        procs.append(subprocess.Popen(cmd, env=dict(env, CORPUS=str(cfile), PREFIX=prefix),
                                      stdout=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=duration + 60)[0] for p in procs]
    rows = []
    for out in outs:
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
        errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
        p50, p99, p999 = (int(x) for x in re.search(r"LAT (\d+) (\d+) (\d+)", out).groups())
        rows.append({"requests": requests, "non2xx": non2xx, "errors": errors, "p50_us": p50, "p99_us": p99,
                     "p999_us": p999})
    return {k: (sum(r[k] for r in rows) if k in ("requests", "non2xx", "errors") else max(r[k] for r in rows))
            for k in rows[0]}


def metric_sum(admin_ports, name):
    return sum(metric(a, name) for a in admin_ports)


def metric(admin_port, name):
    text = http("GET", f"http://127.0.0.1:{admin_port}/metrics").decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total


def watch(t, work, release):
    """Attaches what an operator watches with to `t`: the inspector page open in headless chromium
    (live stream, overview refreshed as events happen) and `hookgate tail`, both on the load CPU."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        raise SystemExit("hookgate-queued+watch needs chromium (apt-get install chromium)")
    page = subprocess.Popen(["taskset", "-c", LOAD_CPU, chromium, "--headless", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--remote-debugging-port=0",
                             f"--user-data-dir={work / 'chromium'}", f"http://127.0.0.1:{t.admin}/ui/"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tail = subprocess.Popen(["taskset", "-c", LOAD_CPU, str(release / "hookgate"), "tail", "--admin",
                             f"127.0.0.1:{t.admin}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t.helpers += [page, tail]
    # Both hold a stream open: wait until the gateway has them (the page also fetches the overview).
    deadline = time.time() + 30
    while time.time() < deadline:
        if streams(t.admin) >= 2:
            return
        time.sleep(0.2)
    raise SystemExit(f"the inspector page and tail did not connect to 127.0.0.1:{t.admin}")


def streams(admin_port):
    """Open /api/stream connections, from the gateway's own count."""
    return int(metric(admin_port, "hookgate_stream_readers"))


class Target:
    """One target: a process, or several replicas (`cmds`, `ports`, `admins` of the same length)."""

    def __init__(self, name, cmd, port, path, work, admin=None, replicas=None):
        self.name, self.cmd, self.port, self.path, self.admin = name, cmd, port, path, admin
        replicas = replicas or [(cmd, port, admin)]
        self.ports = [r[1] for r in replicas]
        self.admins = [r[2] for r in replicas if r[2]]
        self.procs = []
        for i, (c, p, a) in enumerate(replicas):
            self.procs.append(subprocess.Popen(["taskset", "-c", TARGET_CPU] + c, env=dict(os.environ),
                                               stdout=subprocess.DEVNULL, stderr=open(work / f"{name}-{i}.log", "w")))
            wait_port(p)
            if a:
                wait_port(a)
        self.proc = self.procs[0]
        self.helpers = []  # processes that watch it (inspector page, tail), stopped with it

    def pids(self):
        return [p for proc in self.procs for p in [proc.pid] + children(proc.pid)]

    def stop(self):
        for proc in self.helpers + self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.helpers + self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--per-round", type=int, default=700_000,
                    help="distinct deliveries prepared per hookgate run (must exceed what one run sends)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--targets", default="nginx,bare-hyper,hookgate,hookgate-queued,hookgate+log",
                    help="which targets to run (comma-separated): nginx, bare-hyper, hookgate (direct delivery, "
                         "embedded store), hookgate-queued (queued delivery, fsynced), hookgate-nostore (direct, "
                         "memory store), hookgate+log (direct, access log on)")
    ap.add_argument("--baseline", type=Path, metavar="BIN",
                    help="also run this hookgate binary (another build, e.g. of the previous commit) beside each "
                         "hookgate target, as NAME@baseline configured the same, to measure a change in one run")
    ap.add_argument("--scattered-ids", action="store_true",
                    help="event ids spread over the key space as random vendor ids are, instead of consecutive "
                         "numbers (which the store's id index appends nearly in order)")
    args = ap.parse_args()
    global SCATTER
    SCATTER = args.scattered_ids
    for tool in ["wrk", "taskset"]:
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is required (apt-get install {'wrk' if tool == 'wrk' else 'util-linux'})")
    print("building (release)...", file=sys.stderr)
    subprocess.run(["cargo", "build", "--profile", "profiling", "--locked", "-p", "hookgate", "-p", "hookgate-bench"],
                   cwd=ROOT, check=True)
    release = ROOT / "target" / "profiling"
    work = Path(tempfile.mkdtemp(prefix="hookgate-bench-"))
    started = []
    try:
        sink_port = free_port()
        sink = subprocess.Popen(["taskset", "-c", LOAD_CPU, str(release / "sink"), f"127.0.0.1:{sink_port}"])
        started.append(sink)
        wait_port(sink_port)
        upstream = f"http://127.0.0.1:{sink_port}/events"

        targets = []
        wanted = set(args.targets.split(","))
        if "nginx" not in wanted:
            pass
        elif shutil.which("nginx") or Path("/usr/sbin/nginx").exists():
            port = free_port()
            conf = work / "nginx.conf"
            conf.write_text(f"""
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_buffer_size 64k;
    upstream sink {{ server 127.0.0.1:{sink_port}; keepalive 128; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://sink/events;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
""")
            nginx = shutil.which("nginx") or "/usr/sbin/nginx"
            targets.append(Target("nginx", [nginx, "-c", str(conf), "-p", str(work)], port, "/webhooks/stripe", work))
            started += targets[-1].procs
        else:
            print("nginx is not installed; comparing with the bare hyper proxy only", file=sys.stderr)

        port = free_port()
        if "bare-hyper" in wanted:
            targets.append(Target("bare-hyper", [str(release / "bare-proxy"), f"127.0.0.1:{port}", upstream],
                                  port, "/webhooks/stripe", work))
            started += targets[-1].procs

        # name, access log, delivery, store, replicas, watched (an inspector page and a tail attached)
        variants = [("hookgate", "false", "direct", "embedded", 1, False),
                    ("hookgate-queued", "false", "queued", "embedded", 1, False),
                    ("hookgate-queued+watch", "false", "queued", "embedded", 1, True),
                    ("hookgate-redis", "false", "queued", "redis", 2, False),
                    ("hookgate-nostore", "false", "direct", "memory", 1, False),
                    ("hookgate+log", "true", "direct", "embedded", 1, False)]
        builds = [(*v, release / "hookgate") for v in variants if v[0] in wanted]
        if args.baseline:
            builds += [(n + "@baseline", *rest[:-1], args.baseline.resolve()) for n, *rest in builds]
        redis = None
        if any(b[3] == "redis" for b in builds):
            if not shutil.which("redis-server"):
                raise SystemExit("hookgate-redis needs redis-server (apt-get install redis-server)")
            redis_port = free_port()
            # As durable as the embedded store: every write is fsynced before Redis answers.
            redis = subprocess.Popen(["taskset", "-c", LOAD_CPU, "redis-server", "--port", str(redis_port),
                                      "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
                                      "--appendfsync", "always", "--dir", str(work)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            started.append(redis)
            wait_port(redis_port)
        for name, log, delivery, kind, replicas, watched, binary in builds:
            reps = []
            for i in range(replicas):
                port, admin = free_port(), free_port()
                conf = work / f"{name}-{i}.toml"
                store = {"embedded": f'path = "{work / (name + "-data")}"', "memory": 'kind = "memory"',
                         "redis": f'kind = "redis"\nurl = "redis://127.0.0.1:{redis_port if redis else 0}"\n'
                                  f'durability = "fsync"\nprefix = "{name}"'}[kind]
                conf.write_text(f"""
[server]
listen = "127.0.0.1:{port}"
workers = 1
access_log = {log}
dedupe_capacity = 4000000

[admin]
listen = "127.0.0.1:{admin}"

[store]
{store}

[routes.stripe]
provider = "stripe"
secrets = ["{SECRET}"]
tolerance = "1h"
upstream = "{upstream}"
delivery = "{delivery}"
""")
                reps.append(([str(binary), "serve", "--config", str(conf)], port, admin))
            t = Target(name, None, reps[0][1], "/webhooks/stripe", work, admin=reps[0][2], replicas=reps)
            t.queued = delivery == "queued"
            if watched:
                watch(t, work, release)
            targets.append(t)
            started += t.procs + t.helpers

        results = {t.name: [] for t in targets}
        forge = any(t.name == "hookgate" for t in targets)
        if forge:
            results["hookgate, forged"] = []
        checks = []
        for r in range(args.rounds):
            for t in targets:
                prefix = f"evt_{t.name.replace('+', '_').replace('@', '_')}_{r}_"
                cfile = work / "corpus.txt"
                corpus(cfile, prefix, args.per_round)
                corpora = [(cfile, prefix)]
                for i in range(1, len(t.ports)):
                    corpora.append((work / f"corpus-{i}.txt", f"{prefix}{i}_"))
                    corpus(*corpora[-1], args.per_round)
                queued = getattr(t, "queued", False)
                outcome = "accepted" if queued else "forwarded"
                counter = f'hookgate_requests_total{{route="stripe",outcome="{outcome}"}}'
                before_sink = json.loads(http("GET", f"http://127.0.0.1:{sink_port}/stats"))
                before_fwd = metric_sum(t.admins, counter)
                before_commits = metric_sum(t.admins, "hookgate_store_writes_per_commit_count")
                before_writes = metric_sum(t.admins, "hookgate_store_writes_per_commit_sum")
                cpu0 = cpu_seconds(t.pids())
                redis_cpu0 = cpu_seconds([redis.pid]) if redis else 0
                w = run_wrk_many(t.ports, t.path, corpora, args.duration, args.connections)
                if queued:
                    # Accepted events per CPU-second, their delivery included: wait for the requests wrk
                    # left in flight to be answered (the counter stops moving), then for the queue to drain.
                    settled, accepted = None, metric_sum(t.admins, counter) - before_fwd
                    while accepted != settled:
                        time.sleep(0.3)
                        settled, accepted = accepted, metric_sum(t.admins, counter) - before_fwd
                    deadline = time.time() + 120
                    while time.time() < deadline:
                        got = json.loads(http("GET", f"http://127.0.0.1:{sink_port}/stats"))
                        if got["distinct"] - before_sink["distinct"] >= accepted:
                            break
                        time.sleep(0.2)
                cpu = cpu_seconds(t.pids()) - cpu0
                redis_cpu = (cpu_seconds([redis.pid]) - redis_cpu0) if redis and "redis" in t.name else 0
                time.sleep(0.5)
                after_sink = json.loads(http("GET", f"http://127.0.0.1:{sink_port}/stats"))
                delivered = after_sink["total"] - before_sink["total"]
                distinct = after_sink["distinct"] - before_sink["distinct"]
                ok = w["requests"] - w["non2xx"]
                row = dict(w, cpu_s=cpu, rps=w["requests"] / args.duration,
                           per_cpu_s=ok / cpu if cpu else float("nan"), rss_mib=peak_rss_mib(t.pids()),
                           delivered=delivered, distinct=distinct)
                if redis_cpu:
                    row["redis_cpu_s"] = redis_cpu
                    row["per_cpu_s_with_redis"] = ok / (cpu + redis_cpu)
                if t.admins:
                    forwarded = metric_sum(t.admins, counter) - before_fwd
                    row["forwarded"] = forwarded
                    commits = metric_sum(t.admins, "hookgate_store_writes_per_commit_count") - before_commits
                    writes = metric_sum(t.admins, "hookgate_store_writes_per_commit_sum") - before_writes
                    row["commits_per_s"] = commits / args.duration
                    row["writes_per_commit"] = writes / commits if commits else 0
                    if queued:
                        # At least once: every accepted event reached the sink; repeats are counted.
                        row["repeats"] = delivered - distinct
                        checks.append((t.name, r, distinct == forwarded and w["non2xx"] == 0
                                       and ok <= forwarded <= ok + args.connections, row))
                    else:
                        checks.append((t.name, r, delivered == forwarded == distinct and w["non2xx"] == 0
                                       and ok <= forwarded <= ok + args.connections, row))
                    if ok > args.per_round:
                        print(f"warning: {t.name} sent more than --per-round deliveries", file=sys.stderr)
                results[t.name].append(row)
                print(f"round {r + 1} {t.name}: {row['rps']:.0f} req/s, {row['per_cpu_s']:.0f} req/CPU-s, "
                      f"p99 {row['p99_us'] / 1000:.2f} ms", file=sys.stderr)
            # The forgery flood: wrong signatures against hookgate, which must touch neither the upstream
            # nor the dedupe memory.
            if not forge:
                continue
            t = next(t for t in targets if t.name == "hookgate")
            before_sink = json.loads(http("GET", f"http://127.0.0.1:{sink_port}/stats"))
            entries = metric(t.admin, "hookgate_dedupe_entries")
            cpu0 = cpu_seconds(t.pids())
            w = run_wrk(t.port, t.path, work / "corpus.txt", f"evt_forged_{r}_", args.duration, args.connections, bad=True)
            cpu = cpu_seconds(t.pids()) - cpu0
            after_sink = json.loads(http("GET", f"http://127.0.0.1:{sink_port}/stats"))
            row = dict(w, cpu_s=cpu, rps=w["requests"] / args.duration, per_cpu_s=w["non2xx"] / cpu if cpu else 0,
                       rss_mib=peak_rss_mib(t.pids()), delivered=after_sink["total"] - before_sink["total"])
            row["untouched"] = row["delivered"] == 0 and metric(t.admin, "hookgate_dedupe_entries") == entries \
                and w["non2xx"] == w["requests"]
            results["hookgate, forged"].append(row)
            print(f"round {r + 1} forged: {row['rps']:.0f} req/s answered 401, {row['per_cpu_s']:.0f} per CPU-s",
                  file=sys.stderr)

        report(results, checks, args)
        if args.json:
            args.json.write_text(json.dumps({"results": results, "args": vars(args) | {"json": str(args.json)}},
                                            indent=2, default=str))
    finally:
        for p in started:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in started:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


def report(results, checks, args):
    med = lambda name, key: statistics.median(r[key] for r in results[name])
    base = next(n for n in ["nginx", "bare-hyper", *results] if n in results)
    print()
    print(f"{args.rounds} rounds x {args.duration}s, {args.connections} connections, ~1 KB Stripe-signed events; "
          f"targets on CPU {TARGET_CPU}, wrk and sink on CPU {LOAD_CPU}; medians")
    print()
    print(f"| target | req/s | req per CPU-s | vs {base} (per CPU-s) | p50 ms | p99 ms | peak RSS MiB | commits/s | writes per commit |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in results:
        commits = med(name, "commits_per_s") if all("commits_per_s" in r for r in results[name]) else 0
        per = med(name, "writes_per_commit") if commits else 0
        print(f"| {name} | {med(name, 'rps'):,.0f} | {med(name, 'per_cpu_s'):,.0f} | "
              f"{med(name, 'per_cpu_s') / med(base, 'per_cpu_s'):.2f}x | {med(name, 'p50_us') / 1000:.2f} | "
              f"{med(name, 'p99_us') / 1000:.2f} | {max(r['rss_mib'] for r in results[name]):.0f} | "
              f"{commits:,.0f} | {per:.1f} |")
    if "hookgate-queued" in results and "hookgate" in results:
        print(f"\nqueued against direct (both with the embedded store): "
              f"{med('hookgate-queued', 'per_cpu_s') / med('hookgate', 'per_cpu_s'):.2f}x per CPU-s; "
              f"repeats at the sink (at least once): {sum(r.get('repeats', 0) for r in results['hookgate-queued'])}")
    if "hookgate-redis" in results and "hookgate-queued" in results:
        rr = results["hookgate-redis"]
        print(f"\ntwo replicas on Redis against one on the embedded store (both queued, fsynced): "
              f"{med('hookgate-redis', 'per_cpu_s') / med('hookgate-queued', 'per_cpu_s'):.2f}x per CPU-s of the "
              f"hookgate processes, {statistics.median(r['per_cpu_s_with_redis'] for r in rr) / med('hookgate-queued', 'per_cpu_s'):.2f}x "
              f"counting Redis's CPU too ({statistics.median(r['redis_cpu_s'] for r in rr):.1f} CPU-s of Redis per round, "
              f"{statistics.median(r['per_cpu_s_with_redis'] for r in rr):,.0f} events per CPU-s all told); "
              f"repeats at the sink: {sum(r.get('repeats', 0) for r in rr)}")
    if "hookgate-queued+watch" in results and "hookgate-queued" in results:
        rounds = [a["per_cpu_s"] / b["per_cpu_s"]
                  for a, b in zip(results["hookgate-queued+watch"], results["hookgate-queued"])]
        print(f"\nwith an inspector page and a tail attached: {statistics.median(rounds):.3f}x the requests per "
              f"CPU-s of the same gateway unwatched (rounds: {', '.join(f'{x:.3f}' for x in rounds)})")
    print()
    bad = [c for c in checks if not c[2]]
    print(f"exactly-once check: {len(checks) - len(bad)}/{len(checks)} hookgate runs delivered every forwarded "
          f"event to the sink exactly once with no non-2xx answer")
    for name, r, _, row in bad:
        print(f"  FAILED {name} round {r + 1}: {row}")
    for name in [n for n in results if n + "@baseline" in results]:
        rounds = [a["per_cpu_s"] / b["per_cpu_s"] for a, b in zip(results[name], results[name + "@baseline"])]
        print(f"{name}, this build against the baseline build: {statistics.median(rounds):.3f}x requests per "
              f"CPU-s (rounds: {', '.join(f'{x:.3f}' for x in rounds)})")
    forged = results.get("hookgate, forged")
    if not forged:
        return
    print(f"forgery flood: {'upstream and dedupe memory untouched' if all(r['untouched'] for r in forged) else 'TOUCHED'}; "
          f"{med('hookgate, forged', 'per_cpu_s') / med('hookgate', 'per_cpu_s'):.2f}x the forwarding rate per CPU-s")


if __name__ == "__main__":
    main()
