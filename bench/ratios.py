#!/usr/bin/env python3
"""Verification cost as a ratio to a bare HMAC-SHA256 of the same bytes, over several runs.

    python3 bench/ratios.py [--runs 5]

Runs `cargo bench --bench micro` (divan) several times and, for every verification benchmark, prints
the median over runs of (its median time / the HMAC baseline's median time in the same run, same body
size). A ratio is compared within one run because code layout and the machine move absolute times by
several percent from one build or minute to the next; the baseline moves with them.
"""

import argparse
import re
import statistics
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNITS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
ROW = re.compile(r"^(?P<indent>[│ ]*)[├╰]─ (?P<name>\S+)\s+(?P<cells>.*)$")
TIME = re.compile(r"([\d.]+) (ns|µs|us|ms|s)\b")


def medians(output):
    """{(benchmark path, size): median seconds} from divan's tree."""
    out, path = {}, []
    for line in output.splitlines():
        m = ROW.match(line)
        if not m:
            continue
        depth = len(m.group("indent")) // 3
        path = path[:depth] + [m.group("name")]
        times = TIME.findall(m.group("cells"))
        if len(times) >= 3 and path[-1].isdigit():
            value, unit = times[2]  # fastest, slowest, median, mean
            out[("/".join(path[:-1]), int(path[-1]))] = float(value) * UNITS[unit]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--filter", default="hmac_sha256_baseline|verify::",
                    help="which benchmarks to run (the baseline must be among them)")
    args = ap.parse_args()
    subprocess.run(["cargo", "bench", "--bench", "micro", "--no-run", "-q"], cwd=ROOT, check=True)
    ratios = {}
    for run in range(args.runs):
        text = subprocess.run(["cargo", "bench", "-q", "--bench", "micro", "--", args.filter,
                               "--sample-count", "3000"],
                              cwd=ROOT, check=True, capture_output=True, text=True).stdout
        times = medians(text)
        for (name, size), t in sorted(times.items()):
            base = times.get(("hmac_sha256_baseline", size))
            if base and name != "hmac_sha256_baseline":
                ratios.setdefault((name, size), []).append(t / base)
        print(f"run {run + 1}/{args.runs} done", flush=True)
    print(f"\n| benchmark | body | ratio to HMAC-SHA256 (median of {args.runs}) | range |")
    print("|---|---:|---:|---|")
    for (name, size), rs in sorted(ratios.items()):
        print(f"| {name} | {size} B | {statistics.median(rs):.2f}x | {min(rs):.2f}-{max(rs):.2f} |")


if __name__ == "__main__":
    main()
