"""The seat-selection breakpoint: a load shape for SeatSelectUser (locust/locustfile.py).

Run it together with the locustfile (a shape in the locustfile itself would apply to every
scenario):

  locust -f locust/locustfile.py,locust/breakpoint.py --headless --host http://127.0.0.1:8083 \\
      --csv locust/results/breakpoint --html locust/results/breakpoint.html SeatSelectUser

Users step up by RR_STEP_USERS every RR_STEP_SECONDS. At the end of each step the shape
measures the step (after its users have started) from the seat-selection answers only:
throughput, p50/p99, the answer mix and the error ratio, where errors are 5xx, timeouts,
connection errors and unexpected 4xx. 409 (seat taken, seat limit) is a right answer, and 429
is counted apart as rate-limited. The test stops at the first step that crosses a threshold,
or after RR_MAX_USERS, and reports the last good step: printed, and written as
<csv prefix>_breakpoint.csv / .json (or RR_BREAKPOINT_OUT.csv / .json).

Thresholds and steps (environment):
  RR_STEP_USERS=50  RR_STEP_SECONDS=30  RR_SPAWN_RATE=50  RR_MAX_USERS=2000
  RR_BREAK_P99_MS=50             a step with select p99 above this is over the limit
  RR_BREAK_ERROR_RATIO=0.01      ... or with more errors than this share of its selects
  RR_BREAK_RATE_LIMITED_RATIO=0.01  ... or with more 429s (the gateway's limit) than this
  RR_BREAK_GENERATOR_CPU=90      ... and the measurement stops when Locust itself is this busy
                                 (its latencies are no longer the service's)
  RR_MIN_STEP_REQUESTS=50        a step with fewer selects is not judged (too few to tell)
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import time

from locust import LoadTestShape, events

from common import SELECT_NAME, env_float, env_int

log = logging.getLogger("railrush.breakpoint")

STEP_USERS = env_int("RR_STEP_USERS", 50)
STEP_SECONDS = env_float("RR_STEP_SECONDS", 30.0)
SPAWN_RATE = env_float("RR_SPAWN_RATE", 50.0)
MAX_USERS = env_int("RR_MAX_USERS", 2000)
BREAK_P99_MS = env_float("RR_BREAK_P99_MS", 50.0)
BREAK_ERROR_RATIO = env_float("RR_BREAK_ERROR_RATIO", 0.01)
BREAK_RATE_LIMITED_RATIO = env_float("RR_BREAK_RATE_LIMITED_RATIO", 0.01)
BREAK_GENERATOR_CPU = env_float("RR_BREAK_GENERATOR_CPU", 90.0)
MIN_STEP_REQUESTS = env_int("RR_MIN_STEP_REQUESTS", 50)

ANSWERS = ("held", "taken", "limit", "rate_limited", "departed", "rejected", "5xx", "error")
COLUMNS = ["step", "users", "seconds", "selects", "selects_per_s", "p50_ms", "p90_ms", "p99_ms", "max_ms",
           *ANSWERS, "error_ratio", "rate_limited_ratio", "generator_cpu", "verdict"]


def snapshot(stats) -> dict:
    """Cumulative counters of the select entries: per answer, and the latency histogram
    (Locust keeps response times rounded, as {ms: count}) over all of them."""
    answers = dict.fromkeys(ANSWERS, 0)
    times: dict[int, int] = {}
    for (name, _method), entry in stats.entries.items():
        if not name.startswith(SELECT_NAME + " ["):
            continue
        answer = name[len(SELECT_NAME) + 2:-1]
        answers[answer] = answers.get(answer, 0) + entry.num_requests
        for ms, n in entry.response_times.items():
            times[ms] = times.get(ms, 0) + n
    return {"at": time.perf_counter(), "answers": answers, "times": times}


def percentile(hist: dict[int, int], q: float) -> float:
    total = sum(hist.values())
    if total == 0:
        return float("nan")
    rank, seen = math.ceil(q * total), 0
    for ms in sorted(hist):
        seen += hist[ms]
        if seen >= rank:
            return float(ms)
    return float(max(hist))


def generator_cpu(runner) -> float:
    """The busiest Locust process: this one, or any worker of a distributed run."""
    cpu = float(getattr(runner, "current_cpu_usage", 0.0) or 0.0)
    workers = getattr(runner, "clients", None)
    for worker in workers.values() if workers is not None else []:
        cpu = max(cpu, float(getattr(worker, "cpu_usage", 0) or 0))
    return cpu


class SeatSelectBreakpoint(LoadTestShape):
    def __init__(self):
        super().__init__()
        self.rows: list[dict] = []
        self.step = 0
        self.start_snap: dict | None = None
        self.max_cpu = 0.0
        self.stopped = False
        self.reason = ""

    def users_of(self, step: int) -> int:
        return min(MAX_USERS, (step + 1) * STEP_USERS)

    def tick(self):
        if self.stopped:
            return None
        run_time = self.get_run_time()
        step = int(run_time // STEP_SECONDS)
        users = self.users_of(self.step)
        ramp_s = min(STEP_SECONDS / 2, max(1.0, STEP_USERS / SPAWN_RATE) + 1.0)
        in_step = run_time - self.step * STEP_SECONDS
        if self.start_snap is None and in_step >= ramp_s:
            self.start_snap = snapshot(self.runner.stats)  # measure once this step's users run
            self.max_cpu = 0.0
        if self.start_snap is not None:
            self.max_cpu = max(self.max_cpu, generator_cpu(self.runner))
        if step != self.step:
            verdict = self.judge(users)
            last = users >= MAX_USERS
            if verdict != "ok" or last:
                self.reason = verdict if verdict != "ok" else f"reached RR_MAX_USERS={MAX_USERS}"
                self.finish()
                return None
            self.step = step
            self.start_snap = None
            users = self.users_of(step)
        return users, SPAWN_RATE

    def judge(self, users: int) -> str:
        if self.start_snap is None:
            return "ok"
        end = snapshot(self.runner.stats)
        seconds = end["at"] - self.start_snap["at"]
        answers = {a: end["answers"].get(a, 0) - self.start_snap["answers"].get(a, 0) for a in ANSWERS}
        hist = {ms: n - self.start_snap["times"].get(ms, 0) for ms, n in end["times"].items()}
        hist = {ms: n for ms, n in hist.items() if n > 0}
        selects = sum(answers.values())
        errors = answers["5xx"] + answers["error"] + answers["rejected"]
        error_ratio = errors / selects if selects else 0.0
        limited_ratio = answers["rate_limited"] / selects if selects else 0.0
        p99 = percentile(hist, 0.99)
        if selects < MIN_STEP_REQUESTS:
            verdict = "ok" if errors == 0 else f"{errors} errors in {selects} selects"
        elif error_ratio > BREAK_ERROR_RATIO:
            verdict = f"error ratio {error_ratio:.3f} > {BREAK_ERROR_RATIO}"
        elif limited_ratio > BREAK_RATE_LIMITED_RATIO:
            verdict = f"rate-limited ratio {limited_ratio:.3f} > {BREAK_RATE_LIMITED_RATIO} (gateway profile?)"
        elif p99 > BREAK_P99_MS:
            verdict = f"p99 {p99:.0f} ms > {BREAK_P99_MS:.0f} ms"
        elif self.max_cpu >= BREAK_GENERATOR_CPU:
            verdict = f"load generator at {self.max_cpu:.0f}% CPU: its numbers stop being the service's"
        else:
            verdict = "ok"
        row = {
            "step": self.step + 1, "users": users, "seconds": round(seconds, 1), "selects": selects,
            "selects_per_s": round(selects / seconds, 1) if seconds > 0 else 0.0,
            "p50_ms": percentile(hist, 0.50), "p90_ms": percentile(hist, 0.90), "p99_ms": p99,
            "max_ms": float(max(hist)) if hist else float("nan"),
            **answers, "error_ratio": round(error_ratio, 4), "rate_limited_ratio": round(limited_ratio, 4),
            "generator_cpu": round(self.max_cpu), "verdict": verdict,
        }
        self.rows.append(row)
        log.info("step %d: %d users, %.0f selects/s, p50 %.0f ms, p99 %.0f ms, answers %s, errors %.2f%%: %s",
                 row["step"], users, row["selects_per_s"], row["p50_ms"], p99,
                 {a: n for a, n in answers.items() if n}, 100 * error_ratio, verdict)
        return verdict

    def finish(self) -> None:
        self.stopped = True
        good = [r for r in self.rows if r["verdict"] == "ok"]
        last_good = good[-1] if good else None
        lines = [
            "",
            f"seat-selection breakpoint ({len(self.rows)} steps of {STEP_SECONDS:.0f} s, +{STEP_USERS} users each; "
            f"limits p99 <= {BREAK_P99_MS:.0f} ms, errors <= {BREAK_ERROR_RATIO:.1%}):",
            f"{'users':>6} {'selects/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'held':>6} {'taken':>8} {'limit':>6} "
            f"{'429':>6} {'errors':>7}  verdict",
        ]
        for r in self.rows:
            lines.append(f"{r['users']:>6} {r['selects_per_s']:>10.0f} {r['p50_ms']:>7.0f} {r['p99_ms']:>7.0f} "
                         f"{r['held']:>6} {r['taken']:>8} {r['limit']:>6} {r['rate_limited']:>6} "
                         f"{r['5xx'] + r['error'] + r['rejected']:>7}  {r['verdict']}")
        if last_good:
            lines.append(f"last good step: {last_good['users']} users, {last_good['selects_per_s']:.0f} selects/s, "
                         f"p99 {last_good['p99_ms']:.0f} ms (stopped: {self.reason})")
        else:
            lines.append(f"no step met the limits (stopped: {self.reason})")
        print("\n".join(lines), flush=True)
        self.write(last_good)

    def write(self, last_good: dict | None) -> None:
        env = self.runner.environment if self.runner else None
        prefix = os.environ.get("RR_BREAKPOINT_OUT", "").strip()
        if not prefix and env and env.parsed_options and getattr(env.parsed_options, "csv_prefix", None):
            prefix = env.parsed_options.csv_prefix
        if not prefix:
            return
        os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
        with open(f"{prefix}_breakpoint.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS)
            w.writeheader()
            w.writerows(self.rows)
        with open(f"{prefix}_breakpoint.json", "w") as f:
            json.dump({"steps": self.rows, "last_good": last_good, "stopped": self.reason,
                       "limits": {"p99_ms": BREAK_P99_MS, "error_ratio": BREAK_ERROR_RATIO,
                                  "rate_limited_ratio": BREAK_RATE_LIMITED_RATIO}}, f, indent=1)
        log.info("breakpoint written to %s_breakpoint.csv and .json", prefix)


@events.quitting.add_listener
def _report_if_interrupted(environment, **_kwargs) -> None:
    """Ctrl-C or --run-time ended the test before the shape did: report what was measured."""
    from locust.runners import WorkerRunner

    shape = environment.shape_class
    if isinstance(environment.runner, WorkerRunner):
        return  # the shape runs on the master (or the only process)
    if isinstance(shape, SeatSelectBreakpoint) and not shape.stopped:
        shape.reason = "interrupted"
        shape.finish()
