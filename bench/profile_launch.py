"""Where a launch's CPU goes: cProfile over N in-process launches (Flask test client).

Companion to bench/launch.py, which measures the same launch under gunicorn. Here
there is no HTTP server, so the figures are the app's own cost. From the
repository root:

    .venv/bin/python bench/profile_launch.py [--launches 300] [--database-url URL]

Prints SQL statements and transactions per login and per launch, self time by
library, and the costliest functions. Only the tool's requests are profiled:
signing id_tokens (the platform's work) happens with the profiler off.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import pstats
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from launch import (
    CLIENT_ID,
    DEPLOYMENT_ID,
    BenchPlatform,
    bench_database,
    exit_on_sigterm,
    jwks_server,
    launch_claims,
    prepare_tool,
    sign,
)

TOOL_BASE = "http://localhost"
MAX_LAUNCHES = 5000

# Self time is grouped by where the code lives; first match wins.
AREAS = (
    # The test client builds requests and reads responses: not the server's work.
    ("/werkzeug/test.py", "test client (not server work)"),
    ("/flask/testing.py", "test client (not server work)"),
    ("/sqlalchemy/", "SQLAlchemy"),
    ("sqlite3", "sqlite3 driver"),
    ("/psycopg", "psycopg driver"),
    ("/jwt/", "PyJWT"),
    ("cryptography", "cryptography"),
    ("/pylti1p3/", "pylti1p3"),
    ("/jinja2/", "Jinja2"),
    ("/werkzeug/", "Werkzeug"),
    ("/flask/", "Flask"),
    ("/logging/", "logging"),
    ("/json/", "json"),
    ("/lti_tool/", "lti_tool"),
    ("/requests/", "requests"),
)


@dataclass
class Counts:
    """SQL statements and transactions seen while one request kind ran."""

    statements: Counter[str] = field(default_factory=Counter)
    transactions: int = 0
    # Pool checkouts: with pool_pre_ping (PostgreSQL) each costs a round trip.
    checkouts: int = 0


class SqlCounter:
    """Counts statements (by verb and table) and commits, per phase."""

    def __init__(self) -> None:
        self.phase = "idle"
        self.by_phase: dict[str, Counts] = {"login": Counts(), "launch": Counts()}

    def statement(self, _conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if self.phase in self.by_phase:
            self.by_phase[self.phase].statements[_statement_kind(sql)] += 1

    def commit(self, _conn: Any) -> None:
        if self.phase in self.by_phase:
            self.by_phase[self.phase].transactions += 1

    def checkout(self, *_: Any) -> None:
        if self.phase in self.by_phase:
            self.by_phase[self.phase].checkouts += 1


def _statement_kind(sql: str) -> str:
    words = sql.split()
    verb = words[0].upper() if words else "?"
    upper = [word.upper() for word in words]
    for marker in ("FROM", "INTO", "UPDATE"):
        if marker in upper[: len(upper) - 1]:
            table = words[upper.index(marker) + 1].strip('"')
            return f"{verb} {table}"
    return verb


def make_app(database_url: str, keys_dir: Path) -> Any:
    from lti_tool import create_app

    return create_app(
        {
            "database_url": database_url,
            "keys_dir": keys_dir,
            "base_url": TOOL_BASE,
            "secret_key": "profile-secret",
            "redis_url": "",
            "log_level": "INFO",
        }
    )


def watch_sql(app: Any) -> SqlCounter:
    from sqlalchemy import event

    counter = SqlCounter()
    engine = app.extensions["db_engine"]
    event.listen(engine, "before_cursor_execute", counter.statement)
    event.listen(engine, "commit", counter.commit)
    event.listen(engine.pool, "checkout", counter.checkout)
    return counter


class Driver:
    """Login then launch through the Flask test client, profiling only those."""

    def __init__(self, app: Any, bench_platform: BenchPlatform, sql: SqlCounter):
        self.client = app.test_client(use_cookies=False)
        self.platform = bench_platform
        self.sql = sql
        self.profiling = False
        self.reset()

    def reset(self) -> None:
        self.profile = cProfile.Profile(time.process_time)
        self.seconds = {"login": 0.0, "launch": 0.0}
        self.sql.by_phase = {"login": Counts(), "launch": Counts()}

    def _timed(self, phase: str, call: Any) -> Any:
        self.sql.phase = phase
        started = time.process_time()
        if self.profiling:
            self.profile.enable()
        try:
            return call()
        finally:
            self.profile.disable()
            self.seconds[phase] += time.process_time() - started
            self.sql.phase = "idle"

    def launch_once(self) -> None:
        login = self._timed(
            "login", lambda: self.client.post("/lti/login", data=self._login_params())
        )
        if login.status_code != 302:
            raise SystemExit(f"login answered {login.status_code}: {login.text[:300]}")
        query = parse_qs(urlsplit(login.headers["Location"]).query)
        cookie = "; ".join(
            header.split(";", 1)[0] for header in login.headers.getlist("Set-Cookie")
        )
        claims = launch_claims(self.platform.issuer, TOOL_BASE, query["nonce"][0])
        token = sign(self.platform.private_pem, claims)
        form = {"id_token": token, "state": query["state"][0]}
        launched = self._timed(
            "launch",
            lambda: self.client.post(
                "/lti/launch", data=form, headers={"Cookie": cookie}
            ),
        )
        if launched.status_code != 303:
            raise SystemExit(
                f"launch answered {launched.status_code}: {launched.text[:300]}"
            )

    def _login_params(self) -> dict[str, str]:
        return {
            "iss": self.platform.issuer,
            "client_id": CLIENT_ID,
            "login_hint": "bench-hint",
            "lti_message_hint": '{"cmid":2,"launchid":"bench"}',
            "target_link_uri": TOOL_BASE + "/lti/launch",
            "lti_deployment_id": DEPLOYMENT_ID,
            "new_window": "1",
        }


def area_of(filename: str, function: str) -> str:
    # Built-ins have filename "~"; their name says whose C code it is.
    text = function if filename == "~" else filename
    for marker, area in AREAS:
        if marker in text:
            return area
    if filename == "~":
        return "built-ins (other)"
    return "stdlib/other"


def self_time_by_area(stats: pstats.Stats) -> list[tuple[str, float]]:
    totals: Counter[str] = Counter()
    for (filename, _line, function), row in stats.stats.items():  # type: ignore[attr-defined]
        totals[area_of(filename, function)] += row[2]
    return totals.most_common()


def print_sql(sql: SqlCounter, launches: int) -> None:
    for phase, counts in sql.by_phase.items():
        total = sum(counts.statements.values())
        print(
            f"\n{phase}: {total / launches:.1f} SQL statements, "
            f"{counts.transactions / launches:.1f} commits and "
            f"{counts.checkouts / launches:.1f} pool checkouts per request"
        )
        for kind, count in counts.statements.most_common():
            print(f"  {count / launches:5.2f}  {kind}")


def print_areas(stats: pstats.Stats, total: float) -> None:
    print("\nself time by library (share of profiled time):")
    for area, seconds in self_time_by_area(stats):
        print(f"  {seconds / total:6.1%}  {area}")


def print_plain(driver: Driver, launches: int) -> None:
    login, launch = (driver.seconds[k] * 1000 / launches for k in ("login", "launch"))
    print(
        f"{launches} launches in-process without profiler, CPU per request "
        f"(test client included): login {login:.2f} ms, launch {launch:.2f} ms, "
        f"total {login + launch:.2f} ms"
    )


def print_report(driver: Driver, launches: int, log_lines: int) -> None:
    per_login = driver.seconds["login"] * 1000 / launches
    per_launch = driver.seconds["launch"] * 1000 / launches
    print(
        f"{launches} launches in-process, CPU under cProfile: login {per_login:.2f} ms,"
        f" launch {per_launch:.2f} ms (profiling inflates these, shares hold)"
    )
    print(f"log lines per launch: {log_lines / launches:.1f}")
    print_sql(driver.sql, launches)
    stats = pstats.Stats(driver.profile)
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    print_areas(stats, total)
    print("\ncostliest functions by cumulative time (lti_tool only):")
    stats.sort_stats("cumulative").print_stats(r"lti_tool", 25)
    print("costliest functions by self time:")
    stats.sort_stats("tottime").print_stats(20)


class CountingHandler(logging.Handler):
    """Counts log records; the tool's own handler still formats and writes them."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def quiet_tool_log(devnull: Any) -> CountingHandler:
    """Keep the tool's log handler (filter, formatting, write) but aim it at
    /dev/null, so the log costs what it costs and stderr stays readable."""
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(devnull)
    counter = CountingHandler()
    root.addHandler(counter)
    return counter


def run(args: argparse.Namespace, workdir: Path) -> None:
    with (
        jwks_server() as (jwks, handler),
        bench_database(args.database_url, workdir) as database_url,
    ):
        bench_platform = BenchPlatform.generate(
            f"http://127.0.0.1:{jwks.server_address[1]}"
        )
        handler.body = json.dumps(bench_platform.jwks()).encode()
        setup = prepare_tool(
            database_url, workdir, bench_platform, bench_platform.issuer + "/jwks"
        )
        profile_launches(args, database_url, setup.keys_dir, bench_platform)


def profile_launches(
    args: argparse.Namespace,
    database_url: str,
    keys_dir: Path,
    bench_platform: BenchPlatform,
) -> None:
    app = make_app(database_url, keys_dir)
    with open(os.devnull, "w") as devnull:
        lines = quiet_tool_log(devnull)
        driver = Driver(app, bench_platform, watch_sql(app))
        # Unprofiled: the first launches fetch keys and fill SQLAlchemy's caches.
        for _ in range(args.warmup):
            driver.launch_once()
        driver.reset()
        for _ in range(args.launches):
            driver.launch_once()
        print_plain(driver, args.launches)
        driver.reset()
        driver.profiling = True
        lines.count = 0
        for _ in range(args.launches):
            driver.launch_once()
        print_report(driver, args.launches, lines.count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--launches", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args(argv)
    if not 1 <= args.launches <= MAX_LAUNCHES or not 0 <= args.warmup <= 200:
        parser.error(f"--launches in [1, {MAX_LAUNCHES}], --warmup in [0, 200]")
    exit_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="lti-launch-profile-"))
    try:
        run(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
