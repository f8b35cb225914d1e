"""Benchmark of the tool's LTI launch against a floor app, both under gunicorn -w 2.

A benchmark, not a test: it prints figures. From the repository root:

    .venv/bin/python bench/launch.py
    .venv/bin/python bench/launch.py --database-url \
        postgresql+psycopg://postgres@127.0.0.1:5432/test

One run measures, under the same gunicorn settings and the same load generator:
  floor  bench/floor_app.py: one RS256 id_token verified per request (pre-signed)
  tool   the full launch: POST /lti/login (302) then POST /lti/launch (303),
         with the launch's database writes
For each concurrency level: ops/s, p50/p99 latency, and CPU per op read from
/proc for the gunicorn master and its workers (and, on PostgreSQL, the backends
of the bench's scratch database). See bench/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import multiprocessing
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from procstat import (
    child_pids,
    cpu_seconds_of,
    free_port,
    machine_cpu_seconds,
    stat_fields,
    tree_cpu_seconds,
)

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"

CLIENT_ID = "bench-client"
DEPLOYMENT_ID = "bench-deployment"
PLATFORM_KID = "bench-platform-key"
LTI = "https://purl.imsglobal.org/spec/lti/claim/"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"

WORKERS = 2
TARGETS = {"cpu_ratio_max": 2.0, "throughput_ratio_min": 0.60, "p99_ms_max": 100.0}
# Hard bounds so a typo cannot turn the bench into a long-running load source.
MAX_PHASE_SECONDS = 20.0
MAX_LEVELS = 5
MAX_OPS_PER_THREAD = 20_000
REQUEST_TIMEOUT = 30


class BenchFailed(RuntimeError):
    """A launch or request failed, or a server would not start: figures are void."""


# --- The platform: its key, its JWKS, the id_tokens it signs -------------------


@dataclass(frozen=True)
class BenchPlatform:
    """The LMS side of the bench: an issuer with one RSA key."""

    issuer: str
    private_pem: bytes

    @classmethod
    def generate(cls, issuer: str) -> BenchPlatform:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cls(issuer, pem)

    def public_pem(self) -> bytes:
        return (
            _signing_key(self.private_pem)
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
        )

    def jwks(self) -> dict[str, Any]:
        public = _signing_key(self.private_pem).public_key()
        jwk = json.loads(RSAAlgorithm.to_jwk(public))
        jwk.update({"kid": PLATFORM_KID, "alg": "RS256", "use": "sig"})
        return {"keys": [jwk]}


@lru_cache(maxsize=4)
def _signing_key(private_pem: bytes) -> Any:
    # Parsed once per process: key parsing costs far more than one signature.
    return serialization.load_pem_private_key(private_pem, password=None)


def launch_claims(
    issuer: str, tool_base: str, nonce: str, *, lifetime: int = 60
) -> dict[str, Any]:
    """A new learner's resource-link launch into the PSS program."""
    now = int(time.time())
    return {
        "iss": issuer,
        "aud": CLIENT_ID,
        # A new learner per launch: the tool inserts a user and a membership
        # every time (its heaviest regular launch), and threads never race on
        # the first insert of a shared user.
        "sub": "learner-" + uuid.uuid4().hex,
        "iat": now,
        "exp": now + lifetime,
        "nonce": nonce,
        "name": "Bench Learner",
        LTI + "message_type": "LtiResourceLinkRequest",
        LTI + "version": "1.3.0",
        LTI + "deployment_id": DEPLOYMENT_ID,
        LTI + "target_link_uri": tool_base + "/lti/launch",
        LTI + "resource_link": {"id": "bench-link-1", "title": "PSS"},
        LTI + "context": {"id": "bench-course-1", "title": "Bench", "label": "B"},
        LTI + "roles": [LEARNER],
        LTI + "custom": {"target": "pss"},
    }


def sign(private_pem: bytes, claims: dict[str, Any]) -> str:
    return jwt.encode(
        claims,
        _signing_key(private_pem),
        algorithm="RS256",
        headers={"kid": PLATFORM_KID},
    )


# --- The platform's JWKS endpoint, served from this process -------------------


class _JwksHandler(BaseHTTPRequestHandler):
    body = b""
    fetches: list[float] = []

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        if self.path != "/jwks":
            self.send_error(404)
            return
        self.fetches.append(time.time())
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        # An hour, so the tool caches the set and the bench measures launches,
        # not key fetches.
        self.send_header("Cache-Control", "public, max-age=3600")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the bench prints its own figures."""


@contextmanager
def jwks_server() -> Iterator[tuple[ThreadingHTTPServer, type[_JwksHandler]]]:
    """A JWKS server on 127.0.0.1 in a thread; set handler.body before use."""
    handler = type("JwksHandler", (_JwksHandler,), {"body": b"", "fetches": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- Set-up: database, tool keys, registration --------------------------------


@dataclass(frozen=True)
class ToolSetup:
    database_url: str
    keys_dir: Path
    issuer: str
    key_set_url: str


def prepare_tool(
    database_url: str, workdir: Path, bench_platform: BenchPlatform, key_set_url: str
) -> ToolSetup:
    """Migrate the database, make tool keys, register the bench platform."""
    from datetime import timedelta

    from lti_tool import migrate
    from lti_tool.lti.keys import KeyRing

    migrate.upgrade(database_url)
    keys_dir = workdir / "keys"
    KeyRing(keys_dir, grace=timedelta(days=14)).generate()
    _register(database_url, bench_platform.issuer, key_set_url)
    return ToolSetup(database_url, keys_dir, bench_platform.issuer, key_set_url)


def _register(database_url: str, issuer: str, key_set_url: str) -> None:
    from lti_tool.db import make_engine, session_scope
    from lti_tool.registrations import RegistrationInput, save_registration

    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            save_registration(
                session,
                RegistrationInput(
                    issuer=issuer,
                    client_id=CLIENT_ID,
                    # Never contacted: the bench reads state and nonce from the
                    # redirect's Location instead of following it.
                    auth_login_url=issuer + "/auth",
                    auth_token_url=issuer + "/token",
                    key_set_url=key_set_url,
                    deployment_ids=(DEPLOYMENT_ID,),
                    name="bench platform",
                ),
            )
    finally:
        engine.dispose()


@contextmanager
def bench_database(server_url: str, workdir: Path) -> Iterator[str]:
    """A database for this run only: SQLite in workdir, or a scratch PostgreSQL
    database created on the server of `server_url` and dropped afterwards.

    A database of its own, because the test suite empties (or recreates) the
    shared test database whenever anyone runs it.
    """
    if not server_url:
        yield f"sqlite:///{workdir / 'bench.sqlite3'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(server_url)
    if not base.drivername.startswith("postgresql"):
        raise BenchFailed("--database-url must be a PostgreSQL URL")
    name = f"lti_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                # FORCE: a leftover connection must not keep the scratch database.
                connection.execute(
                    text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                )
    finally:
        admin.dispose()


# --- gunicorn and its CPU time --------------------------------------------------


@dataclass(frozen=True)
class Server:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    # The PostgreSQL database it uses, whose backends' CPU is counted too.
    database_name: str = ""
    # Whether its shared store is Redis, whose server's CPU is counted too.
    uses_redis: bool = False


def database_cpu_seconds(database_name: str) -> float:
    """utime+stime of the PostgreSQL backends serving `database_name`.

    SQLite runs inside the gunicorn workers, so its work is already in their CPU;
    PostgreSQL does part of the work in its own processes.
    """
    if not database_name:
        return 0.0
    marker = f" {database_name} ".encode()
    # A backend's title: "postgres: <cluster>: <user> <database> <client> ..."
    return cpu_seconds_of(
        lambda _name, command: command.startswith(b"postgres: ") and marker in command
    )


def redis_cpu_seconds() -> float:
    """utime+stime of the redis-server processes on this machine.

    Redis is shared with other users of the machine, so its figure is only
    meaningful on a quiet one (the bench waits for quiet before each level).
    """
    # By command name: redis rewrites its command line ("redis-server host:port").
    return cpu_seconds_of(lambda name, _command: name == "redis-server")


@dataclass(frozen=True)
class CpuSnapshot:
    server: float
    database: float
    machine_busy: float
    machine_total: float


def cpu_snapshot(server: Server) -> CpuSnapshot:
    busy, total = machine_cpu_seconds()
    return CpuSnapshot(
        tree_cpu_seconds(server.process.pid),
        database_cpu_seconds(server.database_name)
        + (redis_cpu_seconds() if server.uses_redis else 0.0),
        busy,
        total,
    )


QUIET_BUSY_SHARE = 0.15


def wait_for_quiet(max_wait: float) -> None:
    """Wait (at most max_wait s) for a second in which the machine is nearly idle.

    Test runs of other engineers share these CPUs; starting a level while one is
    running makes its figures worthless. Levels still report `other %`.
    """
    deadline = time.monotonic() + max_wait
    while True:
        busy_before, total_before = machine_cpu_seconds()
        time.sleep(1.0)
        busy_after, total_after = machine_cpu_seconds()
        share = (busy_after - busy_before) / max(total_after - total_before, 1e-9)
        if share < QUIET_BUSY_SHARE or time.monotonic() >= deadline:
            return


def _start_time(pid: int) -> str | None:
    fields = stat_fields(pid)
    return None if fields is None else fields[19]


@contextmanager
def gunicorn(
    name: str,
    app_spec: str,
    port: int,
    env: dict[str, str],
    workdir: Path,
    *extra: str,
    database_name: str = "",
    uses_redis: bool = False,
) -> Iterator[Server]:
    """Run `gunicorn -w 2` on 127.0.0.1:port until the block ends."""
    log_path = workdir / f"{name}-gunicorn.log"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(WORKERS),
        "--bind",
        f"127.0.0.1:{port}",
        # The default control socket is one path per user: another gunicorn
        # started by a test run would collide with ours.
        "--no-control-socket",
        *extra,
        app_spec,
    ]
    with log_path.open("wb") as log:
        # cwd is the temp dir, so no stray ./gunicorn.conf.py changes the settings.
        process = subprocess.Popen(
            command, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    server = Server(name, process, url, log_path, database_name, uses_redis)
    try:
        _wait_until_ready(server)
        yield server
    finally:
        _stop(process)


def _wait_until_ready(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchFailed(f"{server.name} gunicorn exited:\n{log_tail(server)}")
        workers = child_pids(server.process.pid)
        if len(workers) == WORKERS and _answers(server.url):
            return
        time.sleep(0.2)
    raise BenchFailed(f"{server.name} gunicorn not ready in {timeout:.0f} s")


def _answers(url: str) -> bool:
    # Any HTTP answer (even 404) means a worker has loaded the app and listens.
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
    try:
        connection.request("GET", "/")
        connection.getresponse().read()
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
    return True


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop our gunicorn master by PID; kill leftover workers of ours by PID."""
    workers = {pid: _start_time(pid) for pid in child_pids(process.pid)}
    if process.poll() is None:
        process.terminate()  # SIGTERM: the master stops its workers, then exits
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    for pid, started in workers.items():
        # Same PID and same start time: still our worker, not a reused PID.
        if started is not None and _start_time(pid) == started:
            os.kill(pid, signal.SIGKILL)


def log_tail(server: Server, lines: int = 25) -> str:
    text = server.log_path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def log_problems(server: Server, lines: int = 40) -> str:
    """The server log from its first warning or error on (a traceback follows its
    ERROR line), else its tail: the launch log lines would hide the cause."""
    text = server.log_path.read_text(errors="replace").splitlines()
    first = next(
        (i for i, line in enumerate(text) if " WARNING " in line or " ERROR " in line),
        None,
    )
    return "\n".join(text[-lines:] if first is None else text[first : first + lines])


def server_env(extra: dict[str, str]) -> dict[str, str]:
    """The caller's environment without anything that would redirect the tool."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("LTI_TOOL_")
        and name not in {"DATABASE_URL", "REDIS_URL", "BENCH_FLOOR_PUBLIC_KEY"}
    }
    env.update(extra)
    return env


# --- The load generator (runs in a pool of client processes) -------------------


@dataclass(frozen=True)
class ClientJob:
    kind: str  # "tool" or "floor"
    server_url: str  # where requests go: http://127.0.0.1:<port>
    tool_base: str  # the tool's base_url, which target_link_uri must match
    issuer: str
    private_pem: bytes
    tokens: tuple[str, ...]  # pre-signed, for the floor
    threads: int = 1
    start_at: float = 0.0
    duration: float = 1.0
    client_index: int = 0
    # The floor's operation is POST /login then POST /verify (--floor-login).
    floor_login: bool = False


@dataclass
class ThreadOutcome:
    latencies_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    finished_at: float = 0.0


def post_form(
    url: str, path: str, fields: dict[str, str], cookie: str = ""
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """POST a form on a fresh connection (gunicorn's sync workers close every one).

    Plain http.client rather than requests: the load generator shares the CPUs
    with the servers, and requests costs several times more CPU per request.
    """
    parts = urlsplit(url)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if cookie:
        headers["Cookie"] = cookie
    connection = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port, timeout=REQUEST_TIMEOUT
    )
    try:
        connection.request("POST", path, body=urlencode(fields), headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def tool_launch(job: ClientJob) -> float:
    """One launch; returns seconds spent waiting on the tool (login + launch)."""
    started = time.perf_counter()
    status, headers, body = post_form(
        job.server_url,
        "/lti/login",
        {
            "iss": job.issuer,
            "client_id": CLIENT_ID,
            "login_hint": "bench-hint",
            "lti_message_hint": '{"cmid":2,"launchid":"bench"}',
            "target_link_uri": job.tool_base + "/lti/launch",
            "lti_deployment_id": DEPLOYMENT_ID,
            "new_window": "1",
        },
    )
    waited = time.perf_counter() - started
    if status != 302:
        raise BenchFailed(f"login answered {status}: {body[:300]!r}")
    query = parse_qs(urlsplit(headers["Location"]).query)
    state, nonce = query["state"][0], query["nonce"][0]
    cookie = returned_cookies(headers)

    # Signing is the platform's work, so it is left out of the latency.
    token = sign(job.private_pem, launch_claims(job.issuer, job.tool_base, nonce))
    started = time.perf_counter()
    status, _, body = post_form(
        job.server_url, "/lti/launch", {"id_token": token, "state": state}, cookie
    )
    waited += time.perf_counter() - started
    if status != 303:
        raise BenchFailed(f"launch answered {status}: {body[:300]!r}")
    return waited


def returned_cookies(headers: http.client.HTTPMessage) -> str:
    """The Cookie header a browser would send back after this login.

    The tool marks its cookies Secure on http://localhost (browsers treat
    localhost as a secure origin); the bench sends them back itself, as such a
    browser would. (requests would not: it sends Secure cookies over https only.)
    """
    pairs = [value.split(";", 1)[0] for value in headers.get_all("Set-Cookie", [])]
    if not any(pair.startswith("lti_state_") for pair in pairs):
        raise BenchFailed(f"login set no state cookie: {pairs}")
    return "; ".join(pairs)


def floor_request(token: str, url: str, with_login: bool = False) -> float:
    started = time.perf_counter()
    if with_login:
        status, _, body = post_form(url, "/login", {"login_hint": "bench-hint"})
        if status != 302:
            raise BenchFailed(f"floor login answered {status}: {body[:200]!r}")
    status, _, body = post_form(url, "/verify", {"id_token": token})
    waited = time.perf_counter() - started
    if status != 200:
        raise BenchFailed(f"floor answered {status}: {body[:200]!r}")
    return waited


def _client_thread(job: ClientJob, thread_index: int, outcome: ThreadOutcome) -> None:
    deadline = job.start_at + job.duration
    # Spread the threads over the pre-signed tokens.
    offset = (job.client_index * 131 + thread_index * 17) % max(1, len(job.tokens))
    _sleep_until(job.start_at)
    for count in range(MAX_OPS_PER_THREAD):
        if time.time() >= deadline:
            break
        try:
            if job.kind == "tool":
                waited = tool_launch(job)
            else:
                token = job.tokens[(offset + count) % len(job.tokens)]
                waited = floor_request(token, job.server_url, job.floor_login)
        except (BenchFailed, OSError, http.client.HTTPException, KeyError) as error:
            outcome.failures.append(f"{type(error).__name__}: {error}"[:500])
            break
        outcome.latencies_ms.append(waited * 1000)
    outcome.finished_at = time.time()


def _sleep_until(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)


def run_client(job: ClientJob) -> dict[str, Any]:
    """Run job.threads client threads in this process; return their figures."""
    outcomes = [ThreadOutcome() for _ in range(job.threads)]
    threads = [
        threading.Thread(target=_client_thread, args=(job, index, outcome))
        for index, outcome in enumerate(outcomes)
    ]
    cpu_before = time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "latencies_ms": [ms for o in outcomes for ms in o.latencies_ms],
        "failures": [failure for o in outcomes for failure in o.failures],
        "finished_at": max(o.finished_at for o in outcomes),
        "cpu_seconds": time.process_time() - cpu_before,
    }


def _init_client_process() -> None:
    # A thread whose response has arrived should not wait the default 5 ms for
    # the GIL: that would show up as server latency.
    sys.setswitchinterval(0.0005)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C


def _ready(_: int) -> int:
    # Long enough that every pool process takes one: all are up before timing.
    time.sleep(0.5)
    return os.getpid()


@contextmanager
def client_pool(processes: int) -> Iterator[ProcessPoolExecutor]:
    """Client processes, started and imported before any measurement."""
    pool = ProcessPoolExecutor(
        max_workers=processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_client_process,
    )
    try:
        list(pool.map(_ready, range(processes)))
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# --- Levels and figures ---------------------------------------------------------


@dataclass(frozen=True)
class LevelFigures:
    kind: str
    concurrency: int
    ops: int
    seconds: float
    ops_per_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms_per_op: float
    database_cpu_ms_per_op: float  # PostgreSQL backends; 0 for SQLite (in-process)
    client_cpu_ms_per_op: float
    server_cpu_seconds: float
    database_cpu_seconds: float
    # Shares of the machine's CPU capacity during the level: all processes, and
    # what neither the server nor the load generator used (other processes,
    # kernel work not charged to a process).
    machine_busy_pct: float
    other_cpu_pct: float


def split_threads(concurrency: int, processes: int) -> list[int]:
    """Spread `concurrency` threads as evenly as possible over client processes."""
    used = min(concurrency, processes)
    base, extra = divmod(concurrency, used)
    return [base + (1 if i < extra else 0) for i in range(used)]


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def run_level(
    pool: ProcessPoolExecutor,
    server: Server,
    job: ClientJob,
    concurrency: int,
    duration: float,
    processes: int,
) -> LevelFigures:
    """Drive `concurrency` clients for `duration` seconds; abort on any failure."""
    start_at = time.time() + 0.3  # every client process starts at the same moment
    jobs = [
        replace(job, threads=n, start_at=start_at, duration=duration, client_index=i)
        for i, n in enumerate(split_threads(concurrency, processes))
    ]
    before = cpu_snapshot(server)
    futures = [pool.submit(run_client, each) for each in jobs]
    results = [future.result(timeout=duration + 120) for future in futures]
    after = cpu_snapshot(server)
    _abort_on_failures(server, concurrency, results)
    return _figures(server.name, concurrency, start_at, results, before, after)


def _abort_on_failures(
    server: Server, concurrency: int, results: list[dict[str, Any]]
) -> None:
    failures = [failure for result in results for failure in result["failures"]]
    if failures:
        raise BenchFailed(
            f"{len(failures)} {server.name} failure(s) at c={concurrency}; first: "
            f"{failures[0][:300]}\n--- {server.name} log:\n{log_problems(server)}"
        )
    if not any(result["latencies_ms"] for result in results):
        raise BenchFailed(f"no {server.name} operation completed at c={concurrency}")


def _figures(
    kind: str,
    concurrency: int,
    start_at: float,
    results: list[dict[str, Any]],
    before: CpuSnapshot,
    after: CpuSnapshot,
) -> LevelFigures:
    latencies = [ms for result in results for ms in result["latencies_ms"]]
    ops = len(latencies)
    seconds = max(result["finished_at"] for result in results) - start_at
    server_cpu = after.server - before.server
    database_cpu = after.database - before.database
    client_cpu = sum(result["cpu_seconds"] for result in results)
    machine_total = max(after.machine_total - before.machine_total, 1e-9)
    machine_busy = after.machine_busy - before.machine_busy
    other = max(0.0, machine_busy - server_cpu - database_cpu - client_cpu)
    return LevelFigures(
        kind=kind,
        concurrency=concurrency,
        ops=ops,
        seconds=round(seconds, 3),
        ops_per_s=round(ops / seconds, 1),
        p50_ms=round(percentile(latencies, 0.50), 2),
        p99_ms=round(percentile(latencies, 0.99), 2),
        server_cpu_ms_per_op=round(server_cpu * 1000 / ops, 3),
        database_cpu_ms_per_op=round(database_cpu * 1000 / ops, 3),
        client_cpu_ms_per_op=round(client_cpu * 1000 / ops, 3),
        server_cpu_seconds=round(server_cpu, 2),
        database_cpu_seconds=round(database_cpu, 2),
        machine_busy_pct=round(100 * machine_busy / machine_total, 1),
        other_cpu_pct=round(100 * other / machine_total, 1),
    )


@dataclass(frozen=True)
class Target:
    """A running server and the client job that drives it."""

    server: Server
    job: ClientJob


def warm_up(
    pool: ProcessPoolExecutor, target: Target, args: argparse.Namespace
) -> None:
    """Unrecorded: every worker loads keys, fills caches and connection pools."""
    server, job = target.server, target.job
    try:
        if args.prime:
            # One client first, so the course's context and resource link exist
            # before concurrent launches: concurrent first launches into one
            # course can collide on their inserts (see README).
            run_level(pool, server, job, 1, 0.5, args.client_processes)
        run_level(pool, server, job, 2 * WORKERS, args.warmup, args.client_processes)
    except BenchFailed as error:
        raise BenchFailed(f"during the warm-up: {error}") from None


def measure(
    pool: ProcessPoolExecutor, targets: list[Target], args: argparse.Namespace
) -> dict[str, list[LevelFigures]]:
    """Each level on each server in turn (floor, tool, floor, tool...), so that
    other work on the machine disturbs both sides alike rather than one."""
    for target in targets:
        warm_up(pool, target, args)
    figures: dict[str, list[LevelFigures]] = {t.server.name: [] for t in targets}
    for concurrency in args.levels:
        for target in targets:
            wait_for_quiet(args.quiet_wait)
            level = run_level(
                pool,
                target.server,
                target.job,
                concurrency,
                args.duration,
                args.client_processes,
            )
            print(_row(level), flush=True)
            figures[target.server.name].append(level)
    return figures


# --- The two servers ------------------------------------------------------------


def _thread_options(args: argparse.Namespace) -> tuple[str, ...]:
    """Both servers get the same worker class: sync, or gthread with --threads."""
    if args.threads <= 1:
        return ()
    return ("--worker-class", "gthread", "--threads", str(args.threads))


@contextmanager
def floor_target(
    workdir: Path, bench_platform: BenchPlatform, args: argparse.Namespace
) -> Iterator[Target]:
    key_path = workdir / "platform-public.pem"
    key_path.write_bytes(bench_platform.public_pem())
    env = server_env(
        {
            "BENCH_FLOOR_PUBLIC_KEY": str(key_path),
            "BENCH_FLOOR_ISSUER": bench_platform.issuer,
            "BENCH_FLOOR_AUDIENCE": CLIENT_ID,
        }
    )
    tokens = presign_floor_tokens(bench_platform, args.floor_tokens)
    spec = "floor_app:create_app()"
    path = ("--pythonpath", str(BENCH_DIR))
    threads = _thread_options(args)
    with gunicorn("floor", spec, free_port(), env, workdir, *path, *threads) as server:
        yield Target(
            server,
            ClientJob(
                "floor",
                server.url,
                server.url,
                bench_platform.issuer,
                b"",
                tokens,
                floor_login=args.floor_login,
            ),
        )


def presign_floor_tokens(bench_platform: BenchPlatform, count: int) -> tuple[str, ...]:
    """Tokens signed before the run, valid for its whole length.

    The floor has no replay check, so reusing a token costs it the same work as a
    fresh one; the tokens carry the tool launch's claims, so their size matches.
    """
    base = "http://localhost"
    return tuple(
        sign(
            bench_platform.private_pem,
            launch_claims(
                bench_platform.issuer, base, uuid.uuid4().hex, lifetime=15 * 60
            ),
        )
        for _ in range(count)
    )


@contextmanager
def tool_target(
    workdir: Path,
    bench_platform: BenchPlatform,
    setup: ToolSetup,
    args: argparse.Namespace,
) -> Iterator[Target]:
    port = free_port()
    # The tool's public address: what the platform sees and what target_link_uri
    # must match. Requests go to 127.0.0.1:port, where gunicorn listens.
    tool_base = f"http://localhost:{port}"
    env = server_env(
        {
            "LTI_TOOL_DATABASE_URL": setup.database_url,
            "LTI_TOOL_KEYS_DIR": str(setup.keys_dir),
            "LTI_TOOL_BASE_URL": tool_base,
            "LTI_TOOL_SECRET_KEY": "bench-secret-" + uuid.uuid4().hex,
            "LTI_TOOL_REDIS_URL": args.redis_url,
            "LTI_TOOL_LOG_LEVEL": args.log_level,
        }
    )
    spec = "lti_tool:create_app()"
    database = postgres_database_name(setup.database_url)
    with gunicorn(
        "tool",
        spec,
        port,
        env,
        workdir,
        *_thread_options(args),
        database_name=database,
        uses_redis=bool(args.redis_url),
    ) as server:
        yield Target(
            server,
            ClientJob(
                "tool",
                server.url,
                tool_base,
                setup.issuer,
                bench_platform.private_pem,
                (),
            ),
        )


def postgres_database_name(database_url: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(database_url)
    if not parsed.drivername.startswith("postgresql"):
        return ""
    return parsed.database or ""


# --- Report ---------------------------------------------------------------------


HEADER = (
    f"{'':5} {'c':>3} {'ops':>6} {'ops/s':>7} {'p50 ms':>7} {'p99 ms':>7}"
    f" | CPU ms/op: {'server':>6} {'data':>5} {'client':>6}"
    f" | {'busy %':>6} {'other %':>7}"
)


def _row(level: LevelFigures) -> str:
    return (
        f"{level.kind:5} {level.concurrency:>3} {level.ops:>6} "
        f"{level.ops_per_s:>7.1f} {level.p50_ms:>7.1f} {level.p99_ms:>7.1f}"
        f" | {'':10} {level.server_cpu_ms_per_op:>6.2f}"
        f" {level.database_cpu_ms_per_op:>5.2f} {level.client_cpu_ms_per_op:>6.2f}"
        f" | {level.machine_busy_pct:>6.1f} {level.other_cpu_pct:>7.1f}"
    )


def _op_cpu(level: LevelFigures) -> float:
    return level.server_cpu_ms_per_op + level.database_cpu_ms_per_op


def cpu_per_op(levels: list[LevelFigures]) -> float:
    """Server (+ PostgreSQL) CPU per op over all levels, weighted by ops."""
    spent = sum(x.server_cpu_seconds + x.database_cpu_seconds for x in levels)
    return spent * 1000 / sum(level.ops for level in levels)


def ratios(floor: list[LevelFigures], tool: list[LevelFigures]) -> dict[str, Any]:
    top_floor, top_tool = floor[-1], tool[-1]
    per_level = {
        str(t.concurrency): {
            "cpu_ratio": round(_op_cpu(t) / _op_cpu(f), 2),
            "throughput_ratio": round(t.ops_per_s / f.ops_per_s, 3),
        }
        for f, t in zip(floor, tool, strict=True)
    }
    return {
        "cpu_ratio": round(cpu_per_op(tool) / cpu_per_op(floor), 2),
        "throughput_ratio": round(top_tool.ops_per_s / top_floor.ops_per_s, 3),
        "throughput_ratio_at_c": top_tool.concurrency,
        "tool_p99_ms": top_tool.p99_ms,
        "tool_p99_at_c": top_tool.concurrency,
        "per_level": per_level,
    }


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_summary(summary: dict[str, Any], notes: list[str]) -> None:
    cpu, thr, p99 = (
        summary["cpu_ratio"],
        summary["throughput_ratio"],
        summary["tool_p99_ms"],
    )
    c = summary["tool_p99_at_c"]
    cpu_ok = cpu <= TARGETS["cpu_ratio_max"]
    thr_ok = thr >= TARGETS["throughput_ratio_min"]
    p99_ok = p99 < TARGETS["p99_ms_max"]
    print()
    floor_op = summary["floor_operation"]
    print(
        f"tool CPU per launch / floor CPU per {floor_op}: {cpu:6.2f}x   target <= 2x "
        f"  {_verdict(cpu_ok)}"
    )
    print(
        f"tool throughput / floor throughput (c={c}): {thr:7.1%}   target >= 60% "
        f"  {_verdict(thr_ok)}"
    )
    print(
        f"tool p99 latency at c={c}:                 {p99:6.1f} ms target < 100 ms"
        f" {_verdict(p99_ok)}"
    )
    for concurrency, row in summary["per_level"].items():
        print(
            f"  c={concurrency:>2}: CPU ratio {row['cpu_ratio']:.2f}x, "
            f"throughput ratio {row['throughput_ratio']:.1%}"
        )
    print()
    for note in notes:
        print("note:", note)


def write_json(report: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"launch-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def _client_ms_per_op(levels: list[LevelFigures]) -> float:
    spent = sum(level.client_cpu_ms_per_op * level.ops for level in levels)
    return spent / sum(level.ops for level in levels)


def build_notes(
    args: argparse.Namespace,
    floor: list[LevelFigures],
    tool: list[LevelFigures],
    jwks_fetches: int,
) -> list[str]:
    notes = [
        f"the load generator ({args.client_processes} client processes, threads "
        f"within) shares the {os.cpu_count()} CPUs with gunicorn: it used "
        f"{_client_ms_per_op(tool):.2f} ms CPU per tool launch (2 requests + RS256 "
        f"signing) and {_client_ms_per_op(floor):.2f} ms per floor request; ops/s "
        "are lower bounds for both, CPU per op counts server processes only",
        "latency = login round trip + launch round trip, measured by the client; "
        "it leaves out the client's id_token signing (the platform's work)",
        f"floor tokens: {args.floor_tokens} pre-signed, reused in turn (the floor "
        "has no replay check, so a reused token costs it the same)",
        "tool: every launch is a new learner (user, membership, launch session "
        f"inserted); store: {'Redis' if args.redis_url else 'database'}; "
        f"tool log level {args.log_level}",
        f"the tool fetched the platform JWKS {jwks_fetches} time(s) (max-age=3600; "
        f"at most one per worker ({WORKERS}) expected: both may miss a cold cache)",
        "CPU ms/op from /proc: server = utime+stime(+children) of the gunicorn "
        "master and workers; data = PostgreSQL backends of the bench's database "
        "(SQLite runs inside the workers), plus redis-server when the store is "
        "Redis; the CPU ratio uses server + data; "
        f"{os.sysconf('SC_CLK_TCK')} ticks/s. busy % / other %: the machine's "
        "CPU in use, and the part none of these nor the load generator used "
        "(other processes, PostgreSQL's WAL writer, uncharged kernel work)",
    ]
    disturbed = max(level.other_cpu_pct for level in [*floor, *tool])
    if disturbed > 10:
        notes.append(
            f"WARNING: up to {disturbed:.0f}% of the CPUs went elsewhere during a "
            "level; other work on this machine disturbed the figures, rerun when "
            "it is quiet"
        )
    return notes


# --- Main -----------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL URL: the bench creates a scratch database on that "
        "server and drops it afterwards (default: SQLite in a temp dir)",
    )
    parser.add_argument(
        "--redis-url", default="", help="shared store in Redis (default: database)"
    )
    parser.add_argument("--levels", default="1,4,16", help="concurrency levels")
    parser.add_argument("--duration", type=float, default=8.0, help="s per level")
    parser.add_argument("--warmup", type=float, default=2.0, help="s, unrecorded")
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=10.0,
        help="s to wait, before each level, for other work on the machine to stop",
    )
    parser.add_argument("--floor-tokens", type=int, default=500)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads per worker (gthread) for both servers; 1 = sync workers",
    )
    parser.add_argument(
        "--floor-login",
        action="store_true",
        help="the floor's operation is a bare POST /login (random state, cookie, "
        "redirect) then POST /verify: two requests, like a launch",
    )
    parser.add_argument("--log-level", default="INFO", help="the tool's log level")
    parser.add_argument(
        "--no-prime",
        dest="prime",
        action="store_false",
        help="start the warm-up with concurrent first launches into the course",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args(argv)
    args.levels = [int(level) for level in args.levels.split(",")]
    _check_bounds(parser, args)
    return args


def _check_bounds(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not 0 < args.duration <= MAX_PHASE_SECONDS:
        parser.error(f"--duration must be in (0, {MAX_PHASE_SECONDS:.0f}] s")
    if not 0 <= args.quiet_wait <= MAX_PHASE_SECONDS:
        parser.error(f"--quiet-wait must be in [0, {MAX_PHASE_SECONDS:.0f}] s")
    if not 0 < args.warmup <= MAX_PHASE_SECONDS:
        parser.error(f"--warmup must be in (0, {MAX_PHASE_SECONDS:.0f}] s")
    if not 0 < len(args.levels) <= MAX_LEVELS or min(args.levels) < 1:
        parser.error(f"--levels: 1 to {MAX_LEVELS} positive numbers")
    if max(args.levels) > 64 or not 1 <= args.client_processes <= 8:
        parser.error("at most 64 concurrent clients and 8 client processes")
    if not 1 <= args.floor_tokens <= 5000:
        parser.error("--floor-tokens must be in [1, 5000]")


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with (
        jwks_server() as (jwks, handler),
        bench_database(args.database_url, workdir) as database_url,
    ):
        port = jwks.server_address[1]
        # The issuer is the JWKS server's own address, so nothing in the
        # registration points anywhere but 127.0.0.1.
        bench_platform = BenchPlatform.generate(f"http://127.0.0.1:{port}")
        handler.body = json.dumps(bench_platform.jwks()).encode()
        setup = prepare_tool(
            database_url, workdir, bench_platform, bench_platform.issuer + "/jwks"
        )
        with (
            client_pool(args.client_processes) as pool,
            floor_target(workdir, bench_platform, args) as floor,
            tool_target(workdir, bench_platform, setup, args) as tool,
        ):
            print(_title(args, database_url), flush=True)
            print(HEADER, flush=True)
            figures = measure(pool, [floor, tool], args)
        jwks_fetches = len(handler.fetches)
    return _report(args, database_url, figures["floor"], figures["tool"], jwks_fetches)


def _title(args: argparse.Namespace, database_url: str) -> str:
    database = database_url.split(":", 1)[0]
    return (
        f"launch bench: gunicorn -w {WORKERS} ({_worker_class(args)}) on "
        f"{os.cpu_count()} CPUs, "
        f"database {database}, {args.duration:g} s per level, levels {args.levels}"
    )


def _report(
    args: argparse.Namespace,
    database_url: str,
    floor: list[LevelFigures],
    tool: list[LevelFigures],
    jwks_fetches: int,
) -> dict[str, Any]:
    summary = ratios(floor, tool)
    summary["floor_operation"] = "login+verify" if args.floor_login else "request"
    notes = build_notes(args, floor, tool, jwks_fetches)
    print_summary(summary, notes)
    return {
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "gunicorn_workers": WORKERS,
            "gunicorn_worker_class": _worker_class(args),
        },
        "settings": {
            "database": database_url.split(":", 1)[0],
            "store": "redis" if args.redis_url else "database",
            "levels": args.levels,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "client_processes": args.client_processes,
            "quiet_wait_s": args.quiet_wait,
            "floor_tokens": args.floor_tokens,
            "floor_login": args.floor_login,
            "tool_log_level": args.log_level,
        },
        "code": code_version(),
        "floor": [asdict(level) for level in floor],
        "tool": [asdict(level) for level in tool],
        "ratios": summary,
        "targets": TARGETS,
        "jwks_fetches": jwks_fetches,
        "notes": notes,
    }


def _worker_class(args: argparse.Namespace) -> str:
    return f"gthread, {args.threads} threads" if args.threads > 1 else "sync"


def code_version() -> dict[str, Any]:
    """The commit measured, and whether lti_tool had uncommitted changes: other
    people edit the code while benchmarks run."""

    def git(*arguments: str) -> str:
        done = subprocess.run(
            ["git", *arguments],
            cwd=BENCH_DIR.parent,
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD"),
        "lti_tool_uncommitted_changes": bool(git("status", "--porcelain", "lti_tool")),
    }


def exit_on_sigterm() -> None:
    """Turn SIGTERM (timeout, CI cancel) into SystemExit, so every `finally`
    runs: gunicorn stopped, scratch database dropped, temp dir removed."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="lti-launch-bench-"))
    try:
        report = run(args, workdir)
    except BenchFailed as error:
        print(f"\nbench aborted: {error}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"temp dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nfigures written to {write_json(report).relative_to(BENCH_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
