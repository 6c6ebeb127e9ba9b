#!/usr/bin/env python3
"""Fresh trips for bench/breakpoint.sh: trips of a route from tomorrow on whose seats are all
still available in booking-service's seat map (no hold, no booking), so that every step of
the breakpoint starts a new rush on untouched trains.

    bench/breakpoint_trips.py --train URL --booking URL --need N [--from DHK] [--to CTG]
                              [--days 14] [--exclude ID,ID,...]

Prints up to N lines "trip_id:seats" (seats = the number of seats of the trip, ids 1..seats)
and exits 0 when it found N, 3 when fewer (the caller seeds more trains and asks again).
Standard library only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import urllib.request


def get(url: str):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--booking", required=True)
    ap.add_argument("--need", type=int, required=True)
    ap.add_argument("--from", dest="origin", default="DHK")
    ap.add_argument("--to", dest="destination", default="CTG")
    ap.add_argument("--days", type=int, default=14, help="days after today to look at (default 14)")
    ap.add_argument("--exclude", default="", help="trip ids not to use (already given out)")
    args = ap.parse_args()
    exclude = {int(t) for t in args.exclude.split(",") if t.strip()}

    # The service day is Asia/Dhaka's (UTC+6); today's trains may have left: start tomorrow.
    today = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=6)).date()
    found: list[str] = []
    for offset in range(1, args.days):
        day = today + dt.timedelta(days=offset)
        trips = get(f"{args.train}/api/trains/search?from={args.origin}&to={args.destination}&date={day}")["trips"]
        for trip in trips:
            tid = trip["trip_id"]
            total = sum(c["seats_total"] for c in trip["classes"])
            if tid in exclude or sum(c["seats_available"] for c in trip["classes"]) != total:
                continue
            seats = get(f"{args.booking}/api/bookings/trips/{tid}/seats")["seats"]
            ids = sorted(s["seat_id"] for s in seats)
            if ids != list(range(1, len(ids) + 1)):
                continue  # the wrk script draws seat ids 1..N
            if all(s["status"] == "available" for s in seats):
                found.append(f"{tid}:{len(ids)}")
                if len(found) == args.need:
                    print("\n".join(found))
                    return 0
    if found:
        print("\n".join(found))
    print(f"breakpoint_trips: {len(found)} fresh trips {args.origin}-{args.destination}, {args.need} wanted",
          file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main())
