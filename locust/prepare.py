#!/usr/bin/env python3
"""The load tests' setup step: N passengers with fresh tokens, prepared once, before a test.

Registers passengers through the public API (POST /api/auth/register) the first time, keeps
them in a JSON file, and logs each one in (POST /api/auth/login) when its tokens are missing
or older than --max-age, so a load test starts with ready access tokens instead of making
thousands of logins (argon2id: about 135 a second on the 2-core development machine) while it
is being measured. A rerun reuses the file: only missing passengers are registered and only
stale tokens are renewed (a passenger the stack no longer knows, after its databases were
recreated, is registered again under a new identity).

    python3 locust/prepare.py [--auth URL] [--users N] [--file PATH] [--tokens-out PATH]
                              [--max-age SECONDS] [--concurrency N]

The file (default .local/loadtest/passengers.json, git-ignored, mode 0600) holds, per
passenger: name, email, phone, password, user_id, access_token, refresh_token, expires_at
(epoch seconds) and issued_at. Access tokens last 15 minutes (auth-service's default
jwt.access_ttl_secs); the locustfile refreshes them through POST /api/auth/refresh while it
runs, and bench/breakpoint.sh reruns this step between measurements. --tokens-out writes the
first N access tokens one per line (the format of the wrk scripts in bench/).

Only the standard library is used, so the wrk benchmarks need no virtualenv.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import secrets
import sys
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_FILE = os.path.join(ROOT, ".local", "loadtest", "passengers.json")
PASSWORD_BYTES = 12
RETRIES = 8


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code


def call(base: str, path: str, body: dict, timeout: float = 30.0) -> tuple[int, dict]:
    """POST JSON; returns (status, parsed body). Retries 429 (after Retry-After), 502/503/504
    and connection failures with a growing pause; raises ApiError for other 4xx/5xx."""
    data = json.dumps(body).encode()
    pause = 0.5
    for attempt in range(RETRIES):
        request = urllib.request.Request(
            base.rstrip("/") + path,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else {}
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                error = json.loads(raw).get("error", {})
            except ValueError:
                error = {}
            code, message = error.get("code", "?"), error.get("message", raw[:200].decode("utf-8", "replace"))
            if e.code == 429 or e.code >= 502:
                if attempt + 1 == RETRIES:
                    raise ApiError(e.code, code, message) from None
                wait = float(e.headers.get("Retry-After") or pause)
                time.sleep(min(wait, 30.0))
                pause = min(pause * 2, 10.0)
                continue
            raise ApiError(e.code, code, message) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            if attempt + 1 == RETRIES:
                raise ApiError(0, "connection_failed", str(e)) from None
            time.sleep(pause)
            pause = min(pause * 2, 10.0)
    raise ApiError(0, "retries_exhausted", path)


def new_identity(tag: str, index: int) -> dict:
    # Random digits make collisions with other runs' passengers unlikely; a collision is
    # handled anyway (register answers 409 already_registered and a new identity is drawn).
    phone = "+8801" + str(3 + secrets.randbelow(7)) + "".join(str(secrets.randbelow(10)) for _ in range(8))
    return {
        "index": index,
        "name": f"Load Passenger {index}",
        "email": f"load-{tag}-{index}-{secrets.token_hex(3)}@example.com",
        "phone": phone,
        "password": secrets.token_urlsafe(PASSWORD_BYTES),
    }


def login(base: str, p: dict) -> None:
    _, tokens = call(base, "/api/auth/login", {"login": p["email"], "password": p["password"]})
    now = time.time()
    p["access_token"] = tokens["access_token"]
    p["refresh_token"] = tokens["refresh_token"]
    p["issued_at"] = now
    p["expires_at"] = now + float(tokens.get("expires_in", 900))


def renew(base: str, tag: str, p: dict) -> dict:
    """Logs p in; registers it anew (a new identity in its place) when the stack no longer
    knows it, e.g. after its databases were recreated."""
    try:
        login(base, p)
        return p
    except ApiError as e:
        if e.status != 401:
            raise
    return register(base, tag, new_identity(tag, p["index"]))


def register(base: str, tag: str, p: dict) -> dict:
    """Registers p (drawing a new identity when the phone or email is taken) and logs it in."""
    for _ in range(5):
        try:
            _, body = call(
                base,
                "/api/auth/register",
                {"name": p["name"], "email": p["email"], "phone": p["phone"], "password": p["password"]},
            )
            p["user_id"] = body.get("user", {}).get("id")
            login(base, p)
            return p
        except ApiError as e:
            if e.status != 409:
                raise
            # Registered by an interrupted earlier run with this same identity? Then the
            # password works; otherwise somebody else has the phone or email: draw again.
            try:
                login(base, p)
                return p
            except ApiError:
                p = new_identity(tag, p["index"])
    raise ApiError(409, "already_registered", "five identities in a row were taken")


def save(path: str, doc: dict) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--auth", default=os.environ.get("RR_AUTH_URL", "http://127.0.0.1:8081"),
                    help="base URL that serves /api/auth (auth-service directly, or the gateway "
                         "with RAILRUSH_GATEWAY_PROFILE=load); default %(default)s")
    ap.add_argument("--users", type=int, default=int(os.environ.get("RR_USERS", "1000")),
                    help="passengers wanted (default %(default)s)")
    ap.add_argument("--file", default=os.environ.get("RR_PASSENGERS", DEFAULT_FILE),
                    help="the passengers file (default %(default)s)")
    ap.add_argument("--tokens-out", help="also write the first N access tokens here, one per line")
    ap.add_argument("--max-age", type=float, default=300.0,
                    help="log in again when a passenger's tokens are older than this many seconds "
                         "(default %(default)s; access tokens last 900)")
    ap.add_argument("--concurrency", type=int, default=16, help="requests at once (default %(default)s)")
    args = ap.parse_args()
    if args.users < 1:
        ap.error("--users must be at least 1")

    doc = {"version": 1, "tag": secrets.token_hex(3), "passengers": []}
    if os.path.exists(args.file):
        with open(args.file) as f:
            doc = json.load(f)
    doc["auth"] = args.auth.rstrip("/")  # where they were last prepared (for people reading it)
    passengers: list[dict] = doc["passengers"]
    tag = doc["tag"]

    started = time.time()
    missing = [new_identity(tag, i) for i in range(len(passengers), args.users)]
    stale = [p for p in passengers[: args.users]
             if not p.get("access_token") or started - float(p.get("issued_at", 0)) > args.max_age]
    lock = threading.Lock()
    done = 0

    def progress(total: int, what: str) -> None:
        nonlocal done
        with lock:
            done += 1
            if done % 250 == 0 or done == total:
                print(f"prepare: {what} {done}/{total} ({time.time() - started:.0f} s)", flush=True)

    failures: list[str] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        if missing:
            print(f"prepare: registering {len(missing)} passengers through {args.auth}", flush=True)
            futures = {pool.submit(register, args.auth, tag, p): p for p in missing}
            for fut in concurrent.futures.as_completed(futures):
                try:
                    passengers.append(fut.result())
                except ApiError as e:
                    failures.append(f"register {futures[fut]['email']}: {e}")
                progress(len(missing), "registered")
            passengers.sort(key=lambda p: p["index"])
            save(args.file, doc)  # keep what was registered even if the logins fail below
        if stale:
            done = 0
            print(f"prepare: logging in {len(stale)} passengers (tokens missing or older than "
                  f"{args.max_age:.0f} s)", flush=True)
            position = {id(p): i for i, p in enumerate(passengers)}
            futures = {pool.submit(renew, args.auth, tag, p): p for p in stale}
            for fut in concurrent.futures.as_completed(futures):
                try:
                    fresh = fut.result()
                    passengers[position[id(futures[fut])]] = fresh
                except ApiError as e:
                    failures.append(f"login {futures[fut]['email']}: {e}")
                progress(len(stale), "logged in")
    save(args.file, doc)

    ready = [p for p in passengers[: args.users] if p.get("access_token")]
    if args.tokens_out:
        with open(args.tokens_out, "w") as f:
            f.writelines(p["access_token"] + "\n" for p in ready)
    for line in failures[:10]:
        print(f"prepare: {line}", file=sys.stderr)
    oldest = min((float(p["issued_at"]) for p in ready), default=started)
    print(f"prepare: {len(ready)} passengers ready in {args.file} "
          f"(oldest token issued {time.time() - oldest:.0f} s ago; {len(failures)} failures)")
    return 0 if len(ready) >= args.users and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
