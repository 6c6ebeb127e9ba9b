#!/usr/bin/env python3
"""Confirms the holds one step of bench/breakpoint.sh won, after the step (outside wrk's
timing), each by the passenger who holds it, with the test card tok_visa; the saga then pays
and tickets them, and the consistency check has real bookings to check.

    bench/breakpoint_confirm.py --booking URL --tokens FILE --holds FILE [--result FILE]
                                [--concurrency 16]

HOLDS has one "user hold_id seats" line per hold (user = line number in TOKENS, from 1), as
bench/breakpoint.lua writes it. Prints, and appends to RESULT, "confirmed=N
confirm_conflict=N confirm_failed=N"; a conflict (409: the hold lapsed, or a seat went to
another booking) is a right answer, a failure is anything else. Standard library only.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import sys
import urllib.error
import urllib.request


def confirm(booking: str, token: str, hold: str, seats: int) -> str:
    body = json.dumps({
        "hold_id": hold,
        "passengers": [{"name": f"Bench Passenger {i + 1}"} for i in range(seats)],
        "payment_token": "tok_visa",
    }).encode()
    request = urllib.request.Request(
        f"{booking}/api/bookings/seats/confirm", data=body, method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return "confirmed" if r.status == 201 else "confirm_failed"
    except urllib.error.HTTPError as e:
        return "confirm_conflict" if e.code == 409 else "confirm_failed"
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return "confirm_failed"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--booking", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--holds", required=True)
    ap.add_argument("--result")
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    with open(args.tokens) as f:
        tokens = [line.strip() for line in f if line.strip()]
    jobs = []
    with open(args.holds) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                jobs.append((tokens[int(parts[0]) - 1], parts[1], int(parts[2])))
    counts = {"confirmed": 0, "confirm_conflict": 0, "confirm_failed": 0}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        for outcome in pool.map(lambda j: confirm(args.booking.rstrip("/"), *j), jobs):
            counts[outcome] += 1
    line = " ".join(f"{k}={v}" for k, v in counts.items())
    if args.result:
        with open(args.result, "a") as f:
            f.write(line + "\n")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
