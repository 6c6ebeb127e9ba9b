"""RailRush load tests (Locust). Pick the scenario by user class name:

  JourneyUser     the passenger journey in a rush: log in (some), search the hot day, look at a
                  trip and its seat map, select free seats (trying again when they are taken),
                  confirm with the test card, poll until paid; others only browse.
  SearchUser      trip search over the next 14 days (half of it on the hot day), and trip details.
  SeatSelectUser  the seat-selection rush: random free seats of the hot trips, as fast as
                  possible, every hold confirmed; the breakpoint test runs it with the step
                  shape of locust/breakpoint.py.

Passengers and their tokens come from the setup step (python3 locust/prepare.py, which
locust/run.sh runs first), never from logins at the start of the test. For example:

  locust -f locust/locustfile.py --headless --host http://localhost:8080 -u 200 -r 20 -t 2m \\
      --csv locust/results/journey --html locust/results/journey.html JourneyUser

Seat selection counts every answer under '/api/bookings/seats/select [answer]':
held (201), taken (409 seat_unavailable), limit (409 seat_limit_reached) and rate_limited
(429) are right answers, not failures; 5xx, connection errors, timeouts and other 4xx are
failures. Settings: common.py, the classes below, and the "Load tests" section of README.md.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time

from locust import between, events, tag, task
from locust.contrib.fasthttp import FastHttpUser

import common
from common import BOARD, TALLY, Passengers, base_url, confirm_hold, env_float, error_code, select_seats

log = logging.getLogger("railrush")
REQUEST_TIMEOUT_S = env_float("RR_TIMEOUT", 10.0)


class RailRushUser(FastHttpUser):
    """A passenger with prepared tokens; the services reached through --host unless
    RR_AUTH_URL / RR_TRAIN_URL / RR_BOOKING_URL name them."""

    abstract = True
    network_timeout = REQUEST_TIMEOUT_S
    connection_timeout = REQUEST_TIMEOUT_S
    # Locust's default (10) would queue requests of many users on one pooled connection.
    concurrency = 1

    def on_start(self) -> None:
        runner = self.environment.runner
        self.passenger = Passengers.take(getattr(runner, "worker_index", 0) or 0)
        self.auth = base_url("auth", self.host)
        self.train = base_url("train", self.host)
        self.booking = base_url("booking", self.host)


class JourneyUser(RailRushUser):
    """The rush, weighted: most passengers go for the hot day's trains and try to buy; some
    only look (search, seat map); a few check their bookings or log in again."""

    wait_time = between(env_float("RR_WAIT_MIN", 1.0), env_float("RR_WAIT_MAX", 3.0))
    login_ratio = env_float("RR_LOGIN_RATIO", 0.1)
    paid_timeout_s = env_float("RR_PAID_TIMEOUT", 60.0)
    poll_every_s = env_float("RR_POLL_EVERY", 1.0)

    def search(self, day: str) -> list[dict]:
        with self.client.get(f"{self.train}/api/trains/search?from={common.ROUTE_FROM}&to={common.ROUTE_TO}&date={day}",
                             name="/api/trains/search", catch_response=True) as r:
            if r.status_code == 200:
                return r.json()["trips"]
            r.failure(f"search: {r.status_code} {error_code(r)}")
            return []

    def seat_map(self, trip: int) -> list[int]:
        """Free seats of a trip, from its seat map (and its details, as the page loads both)."""
        self.client.get(f"{self.train}/api/trains/trips/{trip}", name="/api/trains/trips/[id]")
        with self.client.get(f"{self.booking}/api/bookings/trips/{trip}/seats",
                             name="/api/bookings/trips/[id]/seats", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"seat map: {r.status_code} {error_code(r)}")
                return []
            return [s["seat_id"] for s in r.json()["seats"] if s["status"] == "available"]

    @tag("journey")
    @task(6)
    def buy(self) -> None:
        if random.random() < self.login_ratio:
            self.passenger.login(self.client, self.auth)
        trips = self.search(common.hot_date())
        open_trips = [t for t in trips if sum(c["seats_available"] for c in t["classes"]) > 0]
        if not open_trips:
            TALLY["journey: sold out at search"] += 1
            return
        trip = random.choice(open_trips)["trip_id"]
        hold = None
        for _attempt in range(3):
            free = self.seat_map(trip)
            if not free:
                TALLY["journey: sold out at the seat map"] += 1
                return
            # Most passengers book 1 or 2 seats, families up to 4 (the limit).
            n = min(len(free), random.choices((1, 2, 3, 4), weights=(45, 35, 12, 8))[0])
            answer, body = select_seats(self, self.booking, trip, random.sample(free, n))
            if answer == "held":
                hold = body
                break
            if answer != "taken":
                TALLY[f"journey: select {answer}"] += 1
                return
            # Taken first by someone else: look at the map again and pick other seats.
        if hold is None:
            TALLY["journey: seats taken three times"] += 1
            return
        booking = confirm_hold(self, self.booking, hold)
        if booking is None:
            TALLY["journey: not confirmed"] += 1
            return
        self.wait_until_paid(booking["booking_id"])

    def wait_until_paid(self, booking_id: str) -> None:
        """Poll the booking until the saga ends; its time from confirm to paid is recorded as
        'SAGA confirm to paid' (a failure when it is not paid in RR_PAID_TIMEOUT seconds)."""
        started = time.perf_counter()
        status = "confirmed"
        pause = 0.25  # then doubling up to RR_POLL_EVERY: the saga takes about a second here
        while time.perf_counter() - started < self.paid_timeout_s:
            time.sleep(pause)
            pause = min(pause * 2, self.poll_every_s)
            with self.client.get(f"{self.booking}/api/bookings/{booking_id}",
                                 headers=self.passenger.headers(self.client, self.auth),
                                 name="/api/bookings/[id]", catch_response=True) as r:
                if r.status_code != 200:
                    r.failure(f"booking: {r.status_code} {error_code(r)}")
                    continue
                status = r.json()["status"]
            if status != "confirmed":
                break
        elapsed_ms = (time.perf_counter() - started) * 1000
        TALLY[f"journey: {status}"] += 1
        events.request.fire(
            request_type="SAGA", name="confirm to paid", response_time=elapsed_ms, response_length=0,
            exception=None if status == "paid" else RuntimeError(f"booking {status} after {elapsed_ms / 1000:.0f} s"),
            context={},
        )

    @tag("journey")
    @task(3)
    def browse(self) -> None:
        day = common.hot_date() if random.random() < 0.7 else self.any_day()
        trips = self.search(day)
        if trips:
            self.seat_map(random.choice(trips)["trip_id"])

    @tag("journey")
    @task(1)
    def my_bookings(self) -> None:
        self.client.get(f"{self.booking}/api/bookings", headers=self.passenger.headers(self.client, self.auth),
                        name="/api/bookings")

    @staticmethod
    def any_day() -> str:
        return (dt.date.fromisoformat(common.hot_date()) + dt.timedelta(days=random.randint(-1, 12))).isoformat()


class SearchUser(RailRushUser):
    """Trip search: the hot day half of the time, any of the next 14 days otherwise; a third
    of the searches open a trip's details."""

    wait_time = between(env_float("RR_SEARCH_WAIT_MIN", 0.2), env_float("RR_SEARCH_WAIT_MAX", 1.0))

    @tag("search")
    @task
    def search(self) -> None:
        day = common.hot_date() if random.random() < 0.5 else JourneyUser.any_day()
        with self.client.get(f"{self.train}/api/trains/search?from={common.ROUTE_FROM}&to={common.ROUTE_TO}&date={day}",
                             name="/api/trains/search", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"search: {r.status_code} {error_code(r)}")
                return
            trips = r.json()["trips"]
        if trips and random.random() < 1 / 3:
            self.client.get(f"{self.train}/api/trains/trips/{random.choice(trips)['trip_id']}",
                            name="/api/trains/trips/[id]")


class SeatSelectUser(RailRushUser):
    """The seat-selection rush: each iteration picks a hot trip and 1 or 2 seats believed
    free, selects them, and confirms what it holds (RR_CONFIRM=0 to only hold). The same
    scenario as bench/breakpoint.lua (wrk) and locust/k6-select-breakpoint.js."""

    wait_time = between(env_float("RR_SELECT_WAIT_MIN", 0.0), env_float("RR_SELECT_WAIT_MAX", 0.5))
    confirm = env_float("RR_CONFIRM", 1.0) != 0

    def on_start(self) -> None:
        super().on_start()
        BOARD.ensure_loaded(self.host)

    @tag("select")
    @task
    def select(self) -> None:
        # A simulated user is a place in the crowd, not one person: each try is made by another
        # passenger (as wrk and k6 do), so the 4-seat limit is met as rarely as in a real rush.
        self.passenger = Passengers.take()
        trip = random.choice(BOARD.trips)
        seats = BOARD.pick(trip, 1 if random.random() < 0.5 else 2)
        answer, body = select_seats(self, self.booking, trip, seats)
        if answer == "held" and self.confirm:
            confirm_hold(self, self.booking, body)
        elif answer == "taken" and not BOARD.free.get(trip):
            BOARD.reload(self.client, self.booking, trip)


@events.init.add_listener
def _check_setup(environment, **_kwargs) -> None:
    from locust.runners import MasterRunner

    if not isinstance(environment.runner, MasterRunner):
        Passengers.take()  # fails early, with the command to run, when the setup step is missing


@events.test_stop.add_listener
def _print_tally(environment, **_kwargs) -> None:
    if TALLY:
        log.info("outcomes (this process): %s", ", ".join(f"{k}={v}" for k, v in sorted(TALLY.items())))
