"""Benchmark of study heartbeats: the tool under gunicorn -w 2 on PostgreSQL.

A benchmark, not a test: it prints figures. From the repository root:

    .venv/bin/python bench/heartbeat.py
    .venv/bin/python bench/heartbeat.py --database-url \
        postgresql+psycopg://postgres@127.0.0.1:5432/test --levels 8,32

Each simulated learner has a launch session and studies PSS readings on a
timeline of its own: heartbeat k claims 30 s of activity at base + 30 s * k, one
heartbeat per request as the page sends them, so the tool measures the time,
credits a ledger line every five minutes of study and moves on to the next
reading after twenty. A learner's heartbeats go one after another; different
learners run in parallel. Per concurrency level it prints requests and
heartbeats per second, p50/p99 latency, server and client CPU per request, and
how busy the machine was; the target is 1,000 heartbeats/s with p99 < 50 ms.
Rows it adds are deleted afterwards; bench/results/ keeps a JSON copy.

Reading the figures: CPU per request is split into the tool (gunicorn master
and workers, from /proc), PostgreSQL (every `postgres` process, so other
databases' work counts too) and the load generator. "other %" is the machine's
CPU used by none of these: another test run on the same machine, and with it
disturbed latencies. The test suite drops the `test` database's schema when it
starts on PostgreSQL, so do not run both at once (or pass another database).
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import multiprocessing
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
WORKERS = 2
TARGET_BEATS_PER_S = 1000.0
TARGET_P99_MS = 50.0
BEAT_SECONDS = 30
BEATS_PER_ACTIVITY = 40
# Bounds, so a typo cannot turn the bench into a long-running load source.
MAX_TOTAL_SECONDS = 180.0
MAX_CONCURRENCY = 128
MAX_BEATS_PER_LEVEL = 25  # per learner; also spaces the levels' timelines
REQUEST_TIMEOUT = 30


class BenchFailed(RuntimeError):
    """A request failed or the server would not start: the figures are void."""


# --- Set-up: learners with launch sessions, removed afterwards ----------------


@dataclass(frozen=True)
class Learners:
    issuer: str
    tokens: tuple[str, ...]
    activities: tuple[str, ...]


def prepare(database_url: str, count: int) -> Learners:
    """Migrate, then add a registration, a course, a link and `count` learners."""
    from sqlalchemy.orm import Session

    from lti_tool import migrate
    from lti_tool.catalog import load_app_catalog
    from lti_tool.db import make_engine
    from lti_tool.launches import token_digest
    from lti_tool.models import (
        Context,
        Deployment,
        LaunchSession,
        Membership,
        Registration,
        ResourceLink,
        StudyClock,
        User,
    )
    from lti_tool.settings import load_settings

    migrate.upgrade(database_url)
    issuer = f"https://bench-heartbeat-{secrets.token_hex(4)}.invalid"
    tokens = [secrets.token_urlsafe(24) for _ in range(count)]
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            registration = Registration(
                issuer=issuer,
                client_id="bench",
                auth_login_url=issuer + "/auth",
                auth_token_url=issuer + "/token",
                key_set_url=issuer + "/jwks",
            )
            deployment = Deployment(deployment_id="bench")
            registration.deployments.append(deployment)
            session.add(registration)
            session.flush()
            course = Context(deployment_pk=deployment.id, context_id="bench-course")
            session.add(course)
            session.flush()
            link = ResourceLink(
                context_pk=course.id, resource_link_id="bench-link", target="pss"
            )
            users = [User(issuer=issuer, sub=f"learner-{n}") for n in range(count)]
            session.add_all([link, *users])
            session.flush()
            expires = datetime.now(UTC) + timedelta(hours=1)
            # The tool credits no more study than the time it saw pass: each
            # learner "opened the page" an hour ago, so the bench's backlog of
            # heartbeats (spaced 30 s apart over that hour) is all creditable.
            opened = datetime.now(UTC) - timedelta(minutes=59)
            for user, token in zip(users, tokens, strict=True):
                session.add(
                    StudyClock(
                        user_id=user.id,
                        last_heartbeat_at=opened,
                        counted_until=opened,
                    )
                )
                session.add(
                    Membership(user_id=user.id, context_pk=course.id, role="learner")
                )
                session.add(
                    LaunchSession(
                        id=token_digest(token),
                        user_id=user.id,
                        context_pk=course.id,
                        resource_link_pk=link.id,
                        role="learner",
                        claims={},
                        expires_at=expires,
                    )
                )
            session.commit()
    finally:
        engine.dispose()

    catalog = load_app_catalog(load_settings().content_dir)
    readings = tuple(
        a.id for a in catalog.program("pss").activities() if a.kind == "reading"
    )
    return Learners(issuer, tuple(tokens), readings)


def remove(database_url: str, issuer: str) -> None:
    """Delete every row the run added: its learners' rows, course and platform."""
    from sqlalchemy import delete, select
    from sqlalchemy.orm import Session

    from lti_tool.db import make_engine
    from lti_tool.models import Base, Context, Deployment, Registration, User

    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            users = select(User.id).where(User.issuer == issuer)
            courses = (
                select(Context.id)
                .join(Deployment, Deployment.id == Context.deployment_pk)
                .join(Registration, Registration.id == Deployment.registration_id)
                .where(Registration.issuer == issuer)
            )
            # Ledger lines and whatever else points at the learners restrict their
            # deletion, so those go first, table by table.
            for table in reversed(Base.metadata.sorted_tables):
                if table.name in {"lti_user", "context"}:
                    continue
                if "user_id" in table.c:
                    session.execute(delete(table).where(table.c.user_id.in_(users)))
                elif "context_pk" in table.c:
                    session.execute(
                        delete(table).where(table.c.context_pk.in_(courses))
                    )
            session.execute(delete(User).where(User.issuer == issuer))
            session.execute(delete(Context).where(Context.id.in_(courses)))
            session.execute(delete(Registration).where(Registration.issuer == issuer))
            session.commit()
    finally:
        engine.dispose()


# --- gunicorn and CPU time from /proc -----------------------------------------


def postgres_cpu_seconds() -> float:
    """utime+stime of every process named postgres (all databases' backends)."""
    return cpu_seconds_of(lambda name, _command: name == "postgres")


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path


@contextmanager
def gunicorn(env: dict[str, str], workdir: Path, threads: int) -> Iterator[Server]:
    """`gunicorn -w 2` serving the tool on 127.0.0.1 (gthread if threads > 1)."""
    port = free_port()
    log_path = workdir / "gunicorn.log"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(WORKERS),
        "--bind",
        f"127.0.0.1:{port}",
        # One control socket per user by default: another gunicorn would collide.
        "--no-control-socket",
        *(
            ["--worker-class", "gthread", "--threads", str(threads)]
            if threads > 1
            else []
        ),
        "lti_tool:create_app()",
    ]
    with log_path.open("wb") as log:
        # cwd is the temp dir so no stray gunicorn.conf.py changes the settings.
        process = subprocess.Popen(
            command, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(process, port, log_path)
    try:
        _wait_until_ready(server)
        yield server
    finally:
        _stop(process)


def _wait_until_ready(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchFailed(f"gunicorn exited:\n{_log_tail(server)}")
        if len(child_pids(server.process.pid)) == WORKERS and _answers(server.port):
            return
        time.sleep(0.2)
    raise BenchFailed(f"gunicorn not ready in {timeout:.0f} s")


def _answers(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/")
        connection.getresponse().read()
        connection.close()
    except OSError:
        return False
    return True


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop our gunicorn by its PID; the master stops its workers."""
    workers = child_pids(process.pid)
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    for pid in workers:
        # Only a worker still parented to our (gone) master is ours to kill.
        fields = stat_fields(pid)
        if fields is not None and int(fields[1]) == process.pid:
            os.kill(pid, signal.SIGKILL)


def _log_tail(server: Server, lines: int = 25) -> str:
    text = server.log_path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


# --- The load generator, in client processes ----------------------------------


@dataclass(frozen=True)
class Job:
    port: int
    tokens: tuple[str, ...]  # the learners this process drives
    activities: tuple[str, ...]
    threads: int
    start_at: float
    duration: float
    base_ms: int  # the learners' timelines start here
    first_beat: int  # this level's first beat number on every timeline
    beats_per_request: int


def beat_body(job: Job, learner: int, beat: int) -> bytes:
    """The next `beats_per_request` heartbeats of one learner, as the page sends."""
    beats = []
    for n in range(beat, beat + job.beats_per_request):
        activity = job.activities[(n // BEATS_PER_ACTIVITY) % len(job.activities)]
        beats.append(
            {
                "activity": activity,
                "page": f"bench-{learner}",
                "seq": n,
                "active": BEAT_SECONDS,
                "at": job.base_ms + (n + 1) * BEAT_SECONDS * 1000,
            }
        )
    return json.dumps({"program": "pss", "beats": beats}).encode()


def send(job: Job, token: str, body: bytes) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", job.port, timeout=30)
    try:
        connection.request(
            "POST",
            f"/study/heartbeat?ls={token}",
            body=body,
            headers={"Content-Type": "application/json"},
        )
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise BenchFailed(f"heartbeat answered {response.status}: {payload[:200]!r}")
    answer: dict[str, Any] = json.loads(payload)
    return answer


def _thread(job: Job, index: int, out: dict[str, Any]) -> None:
    mine = list(range(index, len(job.tokens), job.threads))
    beat = {learner: job.first_beat for learner in mine}
    deadline = job.start_at + job.duration
    latencies: list[float] = []
    accepted = 0
    _sleep_until(job.start_at)
    try:
        while time.time() < deadline:
            for learner in mine:
                if time.time() >= deadline:
                    break
                if beat[learner] - job.first_beat >= MAX_BEATS_PER_LEVEL:
                    raise BenchFailed("a learner ran out of timeline; shorten the run")
                body = beat_body(job, learner, beat[learner])
                started = time.perf_counter()
                answer = send(job, job.tokens[learner], body)
                latencies.append((time.perf_counter() - started) * 1000)
                if answer.get("accepted") != job.beats_per_request:
                    raise BenchFailed(f"heartbeats not counted: {answer}")
                accepted += answer["accepted"]
                beat[learner] += job.beats_per_request
    except (BenchFailed, OSError, ValueError) as error:
        out["failure"] = f"{type(error).__name__}: {error}"[:400]
    out["latencies"] = latencies
    out["accepted"] = accepted
    out["finished_at"] = time.time()


def _sleep_until(moment: float) -> None:
    if moment > time.time():
        time.sleep(moment - time.time())


def run_client(job: Job) -> dict[str, Any]:
    """Run the job's threads; return their latencies, counts and CPU time."""
    outs: list[dict[str, Any]] = [{} for _ in range(job.threads)]
    threads = [
        threading.Thread(target=_thread, args=(job, i, outs[i]))
        for i in range(job.threads)
    ]
    cpu_before = time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "latencies": [ms for out in outs for ms in out["latencies"]],
        "accepted": sum(out["accepted"] for out in outs),
        "failures": [out["failure"] for out in outs if "failure" in out],
        "finished_at": max(out["finished_at"] for out in outs),
        "cpu_seconds": time.process_time() - cpu_before,
    }


def _init_client() -> None:
    # A thread whose answer arrived should not wait 5 ms for the GIL.
    sys.setswitchinterval(0.0005)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _ready(_: int) -> int:
    time.sleep(0.3)
    return os.getpid()


# --- Levels and figures ---------------------------------------------------------


@dataclass(frozen=True)
class Level:
    concurrency: int
    requests: int
    heartbeats: int
    seconds: float
    requests_per_s: float
    heartbeats_per_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms_per_request: float
    postgres_cpu_ms_per_request: float
    client_cpu_ms_per_request: float
    machine_busy_pct: float
    # Used by none of gunicorn, PostgreSQL and the load generator: someone else.
    other_cpu_pct: float


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def split(items: tuple[str, ...], parts: int) -> list[tuple[str, ...]]:
    return [items[n::parts] for n in range(parts)]


def run_level(
    pool: ProcessPoolExecutor,
    server: Server,
    learners: Learners,
    args: argparse.Namespace,
    concurrency: int,
    duration: float,
    first_beat: int,
    base_ms: int,
) -> Level:
    """Drive `concurrency` client threads for `duration` seconds."""
    processes = min(args.client_processes, concurrency)
    start_at = time.time() + 0.3
    jobs = [
        Job(
            port=server.port,
            tokens=tokens,
            activities=learners.activities,
            threads=threads,
            start_at=start_at,
            duration=duration,
            base_ms=base_ms,
            first_beat=first_beat,
            beats_per_request=args.beats_per_request,
        )
        for tokens, threads in zip(
            split(learners.tokens, processes),
            [concurrency // processes + (n < concurrency % processes)
             for n in range(processes)],
            strict=True,
        )
    ]  # fmt: skip
    cpu_before = tree_cpu_seconds(server.process.pid)
    postgres_before = postgres_cpu_seconds()
    busy_before, total_before = machine_cpu_seconds()
    results = [
        future.result(timeout=duration + 120)
        for future in [pool.submit(run_client, job) for job in jobs]
    ]
    server_cpu = tree_cpu_seconds(server.process.pid) - cpu_before
    postgres_cpu = postgres_cpu_seconds() - postgres_before
    busy, total = (
        after - before
        for after, before in zip(
            machine_cpu_seconds(), (busy_before, total_before), strict=True
        )
    )

    failures = [f for result in results for f in result["failures"]]
    if failures:
        raise BenchFailed(
            f"{len(failures)} failure(s) at c={concurrency}; first: {failures[0]}\n"
            f"--- gunicorn log tail:\n{_log_tail(server)}"
        )
    latencies = [ms for result in results for ms in result["latencies"]]
    if not latencies:
        raise BenchFailed(f"no request completed at c={concurrency}")
    seconds = max(result["finished_at"] for result in results) - start_at
    client_cpu = sum(result["cpu_seconds"] for result in results)
    requests = len(latencies)
    beats = sum(result["accepted"] for result in results)
    return Level(
        concurrency=concurrency,
        requests=requests,
        heartbeats=beats,
        seconds=round(seconds, 2),
        requests_per_s=round(requests / seconds, 1),
        heartbeats_per_s=round(beats / seconds, 1),
        p50_ms=round(percentile(latencies, 0.50), 2),
        p99_ms=round(percentile(latencies, 0.99), 2),
        server_cpu_ms_per_request=round(server_cpu * 1000 / requests, 3),
        postgres_cpu_ms_per_request=round(postgres_cpu * 1000 / requests, 3),
        client_cpu_ms_per_request=round(client_cpu * 1000 / requests, 3),
        machine_busy_pct=round(100 * busy / max(total, 1e-9), 1),
        other_cpu_pct=round(
            100
            * max(0.0, busy - server_cpu - postgres_cpu - client_cpu)
            / max(total, 1e-9),
            1,
        ),
    )


HEADER = (
    f"{'c':>4} {'requests':>9} {'req/s':>8} {'beats/s':>8} {'p50 ms':>7} "
    f"{'p99 ms':>7} {'CPU ms/req: tool':>17} {'postgres':>9} {'client':>7} "
    f"{'busy %':>7} {'other %':>8}"
)


def row(level: Level) -> str:
    return (
        f"{level.concurrency:>4} {level.requests:>9} {level.requests_per_s:>8.1f} "
        f"{level.heartbeats_per_s:>8.1f} {level.p50_ms:>7.1f} {level.p99_ms:>7.1f} "
        f"{level.server_cpu_ms_per_request:>17.2f} "
        f"{level.postgres_cpu_ms_per_request:>9.2f} "
        f"{level.client_cpu_ms_per_request:>7.2f} "
        f"{level.machine_busy_pct:>7.1f} {level.other_cpu_pct:>8.1f}"
    )


def verdict(levels: list[Level]) -> list[str]:
    """Whether any level met both targets, and the best throughput within p99."""
    within = [level for level in levels if level.p99_ms < TARGET_P99_MS]
    best = max(within, key=lambda level: level.heartbeats_per_s, default=None)
    lines = []
    if best is None:
        lines.append(f"no level kept p99 under {TARGET_P99_MS:.0f} ms")
    else:
        met = best.heartbeats_per_s >= TARGET_BEATS_PER_S
        lines.append(
            f"best with p99 < {TARGET_P99_MS:.0f} ms: {best.heartbeats_per_s:.0f} "
            f"heartbeats/s at c={best.concurrency} (p99 {best.p99_ms:.1f} ms); "
            f"target >= {TARGET_BEATS_PER_S:.0f}/s {'met' if met else 'MISSED'}"
        )
    top = max(levels, key=lambda level: level.heartbeats_per_s)
    lines.append(
        f"highest throughput: {top.heartbeats_per_s:.0f} heartbeats/s at "
        f"c={top.concurrency} (p99 {top.p99_ms:.1f} ms)"
    )
    return lines


# --- Main -------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE)
    parser.add_argument("--learners", type=int, default=400)
    parser.add_argument("--levels", default="4,16,48")
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument(
        "--beats-per-request",
        type=int,
        default=1,
        help="1 as a page online sends them; more as a page back online does",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads per worker: 1 runs sync workers as config/gunicorn.conf.py",
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    args.levels = [int(n) for n in args.levels.split(",")]
    planned = args.warmup + args.duration * len(args.levels)
    if planned > MAX_TOTAL_SECONDS or max(args.levels) > MAX_CONCURRENCY:
        parser.error(
            f"at most {MAX_TOTAL_SECONDS:.0f} s of load and c <= {MAX_CONCURRENCY}"
        )
    if not 1 <= args.beats_per_request <= 200 or args.learners < max(args.levels):
        parser.error("1-200 beats per request, and a learner per client thread")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"setting up {args.learners} learners on {args.database_url.split('@')[-1]}")
    learners = prepare(args.database_url, args.learners)
    levels: list[Level] = []
    # Timelines start two days back: every heartbeat is in the past (the tool
    # refuses future ones) and within its seven-day window.
    # Timelines start just after the learners opened their pages (see prepare);
    # heartbeats older than an hour would be refused as stale.
    base_ms = int((time.time() - 58 * 60) * 1000)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-heartbeat-") as tmp:
            workdir = Path(tmp)
            env = {
                name: value
                for name, value in os.environ.items()
                if not name.startswith("LTI_TOOL_")
                and name not in {"DATABASE_URL", "REDIS_URL"}
            }
            env.update(
                LTI_TOOL_DATABASE_URL=args.database_url,
                LTI_TOOL_KEYS_DIR=str(workdir / "keys"),
                LTI_TOOL_SECRET_KEY=secrets.token_hex(16),
                LTI_TOOL_LOG_LEVEL=args.log_level,
            )
            context = multiprocessing.get_context("spawn")
            with (
                gunicorn(env, workdir, args.threads) as server,
                ProcessPoolExecutor(
                    args.client_processes, mp_context=context, initializer=_init_client
                ) as pool,
            ):
                list(pool.map(_ready, range(args.client_processes)))
                print(
                    f"gunicorn -w {WORKERS} "
                    f"({f'gthread x{args.threads}' if args.threads > 1 else 'sync'}) "
                    f"on 127.0.0.1:{server.port}; "
                    f"{args.beats_per_request} heartbeat(s) per request; "
                    f"{os.cpu_count()} CPUs shared by server, database and clients"
                )
                print(HEADER)
                first_beat = 0
                for index, concurrency in enumerate([args.levels[0], *args.levels]):
                    warm = index == 0
                    level = run_level(
                        pool, server, learners, args, concurrency,
                        args.warmup if warm else args.duration, first_beat, base_ms,
                    )  # fmt: skip
                    first_beat += MAX_BEATS_PER_LEVEL
                    if not warm:
                        levels.append(level)
                        print(row(level), flush=True)
    finally:
        remove(args.database_url, learners.issuer)

    for line in verdict(levels):
        print(line)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"heartbeat-{stamp}.json"
    report = {"args": vars(args), "levels": [asdict(level) for level in levels]}
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"figures written to {path.relative_to(BENCH_DIR.parent)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchFailed as failure:
        print(f"bench failed: {failure}", file=sys.stderr)
        sys.exit(1)
