#!/usr/bin/env python3
"""The bookkeeping of bench/breakpoint.sh.

  breakpoint_report.py row CSV RESULT --target T --connections C [--machine M] [--date D]
                           [--max-p99-ms 50] [--max-error-ratio 0.01] [--max-rate-limited-ratio 0.01]
      Appends one step to CSV (written with a header when new) from RESULT, the key=value line
      of bench/breakpoint.lua, with the step's verdict; prints the step in one line.

  breakpoint_report.py chart PNG CSV... [--title TEXT]
      Draws selects/s and p99 against concurrent connections, one line per target (each CSV
      is one target's run), marks each target's last good step, writes PNG, and prints the
      steps as a markdown table for BENCHMARKS.md. Needs matplotlib (bench/requirements.txt);
      `row` needs only the standard library.

Errors (the error ratio's numerator) are 5xx, other 4xx and wrk's socket errors (connect,
read, write, timeout), over all selects; 409 (taken, limit) is a right answer and 429 is
counted apart (rate_limited). The confirms after the step (bench/breakpoint_confirm.py) are
not timed; a failed one (not 201, not 409) puts the step over.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys

COLUMNS = [
    "date", "machine", "target", "connections", "seconds", "requests", "requests_per_s", "selects",
    "selects_per_s", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "held", "taken", "limit",
    "departed", "rate_limited", "other_4xx", "http_5xx", "confirmed", "confirm_conflict",
    "confirm_failed", "socket_connect", "socket_read", "socket_write", "socket_timeout", "errors",
    "error_ratio", "double_holds", "verdict",
]
SELECT_ANSWERS = ["held", "taken", "limit", "departed", "rate_limited", "other_4xx", "http_5xx"]


def parse_result(path: str) -> dict[str, float]:
    with open(path) as f:
        pairs = f.read().split()
    out: dict[str, float] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        out[key] = float(value)
    return out


def row(args) -> int:
    r = parse_result(args.result)
    n = {k: int(r.get(k, 0)) for k in SELECT_ANSWERS + ["confirmed", "confirm_conflict", "confirm_failed",
                                                        "socket_connect", "socket_read", "socket_write",
                                                        "socket_timeout", "double_holds"]}
    requests = int(r["requests"])
    seconds = r["seconds"]
    selects = sum(n[k] for k in SELECT_ANSWERS)
    socket = n["socket_connect"] + n["socket_read"] + n["socket_write"] + n["socket_timeout"]
    errors = n["http_5xx"] + n["other_4xx"] + socket
    error_ratio = errors / max(1, requests)
    limited_ratio = n["rate_limited"] / max(1, selects)
    problems = []
    if error_ratio > args.max_error_ratio:
        problems.append(f"errors {error_ratio:.2%}")
    if limited_ratio > args.max_rate_limited_ratio:
        problems.append(f"rate-limited {limited_ratio:.1%}")
    if r["p99_ms"] > args.max_p99_ms:
        problems.append(f"p99 {r['p99_ms']:.0f} ms")
    if n["double_holds"]:
        problems.append(f"{n['double_holds']} seats held twice")
    if n["confirm_failed"]:
        problems.append(f"{n['confirm_failed']} confirms failed")
    if selects == 0:
        problems.append("no answers")
    values = {
        "date": args.date, "machine": args.machine, "target": args.target, "connections": args.connections,
        "seconds": f"{seconds:.1f}", "requests": requests, "requests_per_s": f"{r['requests_per_s']:.0f}",
        "selects": selects, "selects_per_s": f"{selects / seconds:.0f}" if seconds else "0",
        **{k: f"{r[k]:.2f}" for k in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms")},
        **n, "errors": errors, "error_ratio": f"{error_ratio:.5f}",
        "verdict": "ok" if not problems else "over: " + ", ".join(problems),
    }
    new = not os.path.exists(args.csv) or os.path.getsize(args.csv) == 0
    with open(args.csv, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        if new:
            w.writeheader()
        w.writerow(values)
    print(f"{args.target} c={args.connections}: {values['selects_per_s']} selects/s "
          f"({values['requests_per_s']} requests/s), p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms; "
          f"held {n['held']}, taken {n['taken']}, limit {n['limit']}, 429 {n['rate_limited']}, "
          f"5xx {n['http_5xx']}, other 4xx {n['other_4xx']}, socket errors {socket}, confirmed {n['confirmed']}, "
          f"seats held twice {n['double_holds']}: {values['verdict']}", flush=True)
    return 0


def read_rows(paths: list[str]) -> list[dict]:
    rows = []
    for path in paths:
        with open(path, newline="") as f:
            rows.extend(csv.DictReader(f))
    return rows


def last_good(rows: list[dict]) -> dict | None:
    """The highest concurrency whose step, and every step below it, met the limits."""
    best = None
    for r in sorted(rows, key=lambda r: int(r["connections"])):
        if r["verdict"] != "ok":
            break
        best = r
    return best


def chart(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    rows = read_rows(args.csv)
    targets: dict[str, list[dict]] = {}
    for r in rows:
        targets.setdefault(r["target"], []).append(r)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
    for target, steps in targets.items():
        steps.sort(key=lambda r: int(r["connections"]))
        x = [int(r["connections"]) for r in steps]
        (line,) = ax1.plot(x, [float(r["selects_per_s"]) for r in steps], marker="o", label=target)
        ax2.plot(x, [float(r["p99_ms"]) for r in steps], marker="o", label=target, color=line.get_color())
        good = last_good(steps)
        if good:
            gx = int(good["connections"])
            ax1.plot([gx], [float(good["selects_per_s"])], marker="*", markersize=16, color=line.get_color(),
                     linestyle="none", label=f"{target}: last good step")
            ax2.plot([gx], [float(good["p99_ms"])], marker="*", markersize=16, color=line.get_color(),
                     linestyle="none")
    if args.max_p99_ms:
        ax2.axhline(args.max_p99_ms, color="grey", linestyle="--", linewidth=1, label=f"p99 limit {args.max_p99_ms:g} ms")
    for ax in (ax1, ax2):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent connections (wrk, log scale)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        xs = sorted({int(r["connections"]) for r in rows})
        ax.set_xticks(xs)
        ax.set_xticklabels([str(v) for v in xs])
    ax1.set_ylabel("seat selections per second")
    ax1.set_ylim(bottom=0)
    ax1.set_title("throughput")
    ax2.set_ylabel("client p99 latency (ms, log scale)")
    ax2.set_yscale("log")
    ax2.yaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax2.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax2.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax2.set_title("p99 latency")
    machine = rows[0]["machine"] if rows else ""
    date = rows[0]["date"] if rows else ""
    fig.suptitle(args.title or f"Seat selection breakpoint (wrk, 2 threads, on the same machine) — {machine}, {date}")
    os.makedirs(os.path.dirname(os.path.abspath(args.png)), exist_ok=True)
    fig.savefig(args.png, dpi=110)
    print(f"chart: {args.png}")

    print()
    print("| target | connections | selects/s | requests/s | p50 | p99 | held | taken (409) | limit (409) "
          "| 429 | 5xx | socket errors | seats held twice | verdict |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for target, steps in targets.items():
        for r in steps:
            socket = sum(int(r[k]) for k in ("socket_connect", "socket_read", "socket_write", "socket_timeout"))
            print(f"| {target} | {int(r['connections']):,} | {int(r['selects_per_s']):,} | {int(r['requests_per_s']):,} "
                  f"| {float(r['p50_ms']):.2f} ms | {float(r['p99_ms']):.2f} ms | {int(r['held']):,} | {int(r['taken']):,} "
                  f"| {int(r['limit']):,} | {int(r['rate_limited']):,} | {int(r['http_5xx']):,} | {socket:,} "
                  f"| {int(r['double_holds'])} | {r['verdict']} |")
    print()
    for target, steps in targets.items():
        good = last_good(steps)
        if good:
            print(f"- {target}: last good step {int(good['connections']):,} connections, "
                  f"{int(good['selects_per_s']):,} selects/s, p99 {float(good['p99_ms']):.2f} ms")
        else:
            print(f"- {target}: no step met the limits")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("row")
    r.add_argument("csv")
    r.add_argument("result")
    r.add_argument("--target", required=True)
    r.add_argument("--connections", type=int, required=True)
    r.add_argument("--machine", default="")
    r.add_argument("--date", default="")
    r.add_argument("--max-p99-ms", type=float, default=50.0)
    r.add_argument("--max-error-ratio", type=float, default=0.01)
    r.add_argument("--max-rate-limited-ratio", type=float, default=0.01)
    c = sub.add_parser("chart")
    c.add_argument("png")
    c.add_argument("csv", nargs="+")
    c.add_argument("--title", default="")
    c.add_argument("--max-p99-ms", type=float, default=0.0, help="draw this limit on the p99 panel")
    args = ap.parse_args()
    if args.command == "row":
        return row(args)
    return chart(args)


if __name__ == "__main__":
    sys.exit(main())
