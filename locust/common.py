"""Shared pieces of the RailRush locustfiles: settings from the environment, the prepared
passengers and their tokens, the hot trips and a shared view of their free seats, and how
each answer of seat selection is counted.

Settings (environment; all optional):
  RR_PASSENGERS     passengers file made by locust/prepare.py (.local/loadtest/passengers.json)
  RR_AUTH_URL       base URL of /api/auth     (default: the --host of the run)
  RR_TRAIN_URL      base URL of /api/trains   (default: the --host of the run)
  RR_BOOKING_URL    base URL of /api/bookings (default: the --host of the run)
  RR_FROM, RR_TO    the hot route (DHK, CTG)
  RR_HOT_DATE       the hot day, YYYY-MM-DD (default: tomorrow in Asia/Dhaka, the service day)
  RR_HOT_TRIPS      comma list of trip ids to use instead of searching the hot day
  RR_PAYMENT_TOKEN  the payment token confirms use (tok_visa: the test gateway charges it)
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import os
import random
import time
import urllib.request
from collections import Counter

import gevent.lock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
log = logging.getLogger("railrush")


def env_str(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


PASSENGERS_FILE = env_str("RR_PASSENGERS", os.path.join(ROOT, ".local", "loadtest", "passengers.json"))
ROUTE_FROM = env_str("RR_FROM", "DHK")
ROUTE_TO = env_str("RR_TO", "CTG")
PAYMENT_TOKEN = env_str("RR_PAYMENT_TOKEN", "tok_visa")
# Renew an access token when it has less than this left.
RENEW_BEFORE_S = 60.0

SELECT_PATH = "/api/bookings/seats/select"
CONFIRM_PATH = "/api/bookings/seats/confirm"
# Seat-selection answers are recorded under "<path> [<answer>]" so the statistics, the
# CSV and the HTML report show the answer mix; the breakpoint shape sums these entries.
SELECT_NAME = SELECT_PATH
# Answers that are right answers in a rush, not errors: the seat was taken first, the
# passenger's 4-seat limit, the gateway's rate limit (counted separately by the breakpoint).
EXPECTED = ("held", "taken", "limit", "rate_limited")

# Outcomes of whole journeys and other tallies, printed when the test stops (per process).
TALLY: Counter[str] = Counter()


def hot_date() -> str:
    explicit = os.environ.get("RR_HOT_DATE", "").strip()
    if explicit:
        return explicit
    dhaka = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=6)
    return (dhaka.date() + dt.timedelta(days=1)).isoformat()


def base_url(kind: str, host: str) -> str:
    """'' when the service is reached through the run's --host, else its absolute base URL."""
    value = os.environ.get(f"RR_{kind.upper()}_URL", "").strip().rstrip("/")
    return "" if not value or value == (host or "").rstrip("/") else value


def error_code(response) -> str:
    try:
        return str(response.json().get("error", {}).get("code", ""))
    except Exception:  # not JSON (a proxy's page, a cut connection)
        return ""


# ---- Passengers -------------------------------------------------------------------------


class Passenger:
    """A prepared passenger. Shared by the simulated users of this process that draw it (when
    there are more users than passengers), so renewing its token happens once, under a lock."""

    def __init__(self, record: dict):
        self.name = record.get("name") or "Load Passenger"
        self.email = record["email"]
        self.password = record["password"]
        self.access_token = record.get("access_token", "")
        self.refresh_token = record.get("refresh_token", "")
        self.expires_at = float(record.get("expires_at", 0))
        self.lock = gevent.lock.Semaphore()

    def _store(self, tokens: dict) -> None:
        self.access_token = tokens["access_token"]
        self.refresh_token = tokens["refresh_token"]
        self.expires_at = time.time() + float(tokens.get("expires_in", 900))

    def login(self, client, auth: str) -> bool:
        """A password login (POST /api/auth/login): counted in the statistics."""
        with client.post(auth + "/api/auth/login", json={"login": self.email, "password": self.password},
                         name="/api/auth/login", catch_response=True) as r:
            if r.status_code == 200:
                self._store(r.json())
                return True
            r.failure(f"login: {r.status_code} {error_code(r)}")
            return False

    def headers(self, client, auth: str) -> dict:
        """Authorization header with a token valid for at least a minute: refreshed through
        POST /api/auth/refresh (a rotating refresh token), or a new login when that fails."""
        if self.expires_at - time.time() < RENEW_BEFORE_S:
            with self.lock:
                if self.expires_at - time.time() < RENEW_BEFORE_S:
                    renewed = False
                    if self.refresh_token:
                        with client.post(auth + "/api/auth/refresh", json={"refresh_token": self.refresh_token},
                                         name="/api/auth/refresh", catch_response=True) as r:
                            if r.status_code == 200:
                                self._store(r.json())
                                renewed = True
                            else:
                                # Rotated by another run, or expired: fall back to a login.
                                r.success()
                                TALLY["refresh fell back to login"] += 1
                    if not renewed:
                        self.login(client, auth)
        return {"Authorization": f"Bearer {self.access_token}"}


class Passengers:
    _all: list[Passenger] | None = None
    _next = itertools.count()

    @classmethod
    def take(cls, worker_index: int = 0) -> Passenger:
        if cls._all is None:
            try:
                with open(PASSENGERS_FILE) as f:
                    records = json.load(f)["passengers"]
            except FileNotFoundError:
                raise SystemExit(
                    f"no passengers file {PASSENGERS_FILE}: run the setup step first, "
                    "python3 locust/prepare.py --users N (locust/run.sh does it)"
                ) from None
            cls._all = [Passenger(r) for r in records if r.get("email") and r.get("password")]
            if not cls._all:
                raise SystemExit(f"{PASSENGERS_FILE} holds no passengers")
        # Processes of a distributed run start at different places in the list.
        n = len(cls._all)
        return cls._all[(next(cls._next) + worker_index * (n // 8 + 1)) % n]


# ---- Trips and seats ----------------------------------------------------------------------


def fetch_json(url: str, timeout: float = 30.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


class SeatBoard:
    """The hot trips and which of their seats this process believes are free: loaded once
    from the seat maps, narrowed by every answer (a hold, a 409 naming the taken seats), and
    reloaded (at most every 2 s per trip) when a trip seems full. Shared by the process's users."""

    RELOAD_EVERY_S = 2.0

    def __init__(self):
        self.trips: list[int] = []
        self.all_seats: dict[int, list[int]] = {}
        self.free: dict[int, set[int]] = {}
        self.loaded_at: dict[int, float] = {}
        self._lock = gevent.lock.Semaphore()
        self._ready = False

    def ensure_loaded(self, host: str) -> None:
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            train = base_url("train", host) or host.rstrip("/")
            booking = base_url("booking", host) or host.rstrip("/")
            explicit = os.environ.get("RR_HOT_TRIPS", "").strip()
            if explicit:
                trips = [int(t) for t in explicit.split(",") if t.strip()]
            else:
                day = hot_date()
                found = fetch_json(f"{train}/api/trains/search?from={ROUTE_FROM}&to={ROUTE_TO}&date={day}")
                trips = [t["trip_id"] for t in found["trips"]]
                if not trips:
                    raise SystemExit(f"no trips {ROUTE_FROM}->{ROUTE_TO} on {day}: seed the stack or set RR_HOT_TRIPS")
            for trip in trips:
                seats = fetch_json(f"{booking}/api/bookings/trips/{trip}/seats")["seats"]
                self.all_seats[trip] = [s["seat_id"] for s in seats]
                self.free[trip] = {s["seat_id"] for s in seats if s["status"] == "available"}
                self.loaded_at[trip] = time.time()
            self.trips = trips
            free = sum(len(s) for s in self.free.values())
            log.info("hot trips %s: %d seats, %d free", trips, sum(map(len, self.all_seats.values())), free)
            self._ready = True

    def reload(self, client, booking: str, trip: int) -> None:
        """Reload one trip's seat map through the user's client (counted in the statistics)."""
        if time.time() - self.loaded_at.get(trip, 0) < self.RELOAD_EVERY_S:
            return
        self.loaded_at[trip] = time.time()
        with client.get(f"{booking}/api/bookings/trips/{trip}/seats",
                        name="/api/bookings/trips/[id]/seats", catch_response=True) as r:
            if r.status_code == 200:
                self.free[trip] = {s["seat_id"] for s in r.json()["seats"] if s["status"] == "available"}

    def pick(self, trip: int, n: int) -> list[int]:
        """n random seats believed free; random seats of the trip when none is (in a rush
        people keep pressing on a full train, and get 409)."""
        free = self.free.get(trip) or ()
        pool = list(free) if len(free) >= n else self.all_seats[trip]
        return random.sample(pool, min(n, len(pool)))

    def taken(self, trip: int, seats) -> None:
        self.free.get(trip, set()).difference_update(seats)


BOARD = SeatBoard()


def select_seats(user, booking: str, trip: int, seats: list[int]) -> tuple[str, dict]:
    """POST select, recorded under '/api/bookings/seats/select [answer]'. Returns the
    answer (held, taken, limit, rate_limited, departed, rejected, 5xx, error) and the body."""
    with user.client.post(booking + SELECT_PATH, json={"trip_id": trip, "seat_ids": seats},
                          headers=user.passenger.headers(user.client, user.auth),
                          name=SELECT_NAME, catch_response=True) as r:
        status, code = r.status_code, error_code(r)
        body = {}
        if status == 201:
            answer, body = "held", r.json()
            BOARD.taken(trip, seats)
        elif status == 409 and code == "seat_unavailable":
            answer = "taken"
            try:
                BOARD.taken(trip, r.json()["error"]["details"]["seat_ids"])
            except (KeyError, TypeError, ValueError):
                BOARD.taken(trip, seats)
        elif status == 409 and code == "seat_limit_reached":
            answer = "limit"
        elif status == 429:
            answer = "rate_limited"
        elif status == 409 and code == "trip_departed":
            answer = "departed"
        elif status == 0:
            answer = "error"  # connection refused or reset, or timed out
        elif status >= 500:
            answer = "5xx"
        else:
            answer = "rejected"  # 400/401/404: a fault of the test or of its tokens
        r.request_meta["name"] = f"{SELECT_NAME} [{answer}]"
        if answer in EXPECTED:
            r.success()
        else:
            r.failure(f"select: {status} {code or getattr(r, 'error', '') or ''}".strip())
        return answer, body


def confirm_hold(user, booking: str, hold: dict) -> dict | None:
    """POST confirm of a hold (one passenger name per seat, the test payment token)."""
    names = [{"name": f"{user.passenger.name} {i + 1}"} for i in range(len(hold.get("seat_ids", [])))]
    with user.client.post(booking + CONFIRM_PATH,
                          json={"hold_id": hold["hold_id"], "passengers": names, "payment_token": PAYMENT_TOKEN},
                          headers=user.passenger.headers(user.client, user.auth),
                          name=CONFIRM_PATH, catch_response=True) as r:
        if r.status_code == 201:
            return r.json()
        if r.status_code == 409:
            r.success()  # hold_expired: a right answer, not an error
            TALLY[f"confirm {error_code(r)}"] += 1
            return None
        r.failure(f"confirm: {r.status_code} {error_code(r)}")
        return None
