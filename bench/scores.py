"""Benchmark of score delivery: N score updates sent to the sandbox by W workers.

A benchmark, not a test: it prints figures. From the repository root:

    .venv/bin/python bench/scores.py
    .venv/bin/python bench/scores.py --database-url \
        postgresql+psycopg://postgres@127.0.0.1:5432/postgres

One run: a fresh database (a temp SQLite file, or a new PostgreSQL database made
on the given server and dropped afterwards), the tool (for its JWKS) and the
sandbox LMS on loopback in this process, one resource link in one course and
N learners each credited once, so N outbox rows are due. Then W real
`lti-tool worker` processes deliver them. Printed: end-to-end time (from
starting the workers), the steady delivery rate (first to last score the
sandbox accepted), token requests and line items created at the sandbox.
Targets: at least 200 scores/s; one token request per registration and scope
set (here one of each).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from procstat import free_port
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from lti_tool import create_app, migrate
from lti_tool.devserver import register_sandbox
from lti_tool.hours.ledger import Participant, credit_activity
from lti_tool.hours.rules import CreditRules, Source
from lti_tool.lti.keys import KeyRing
from lti_tool.models import (
    Context,
    LaunchSession,
    Membership,
    Registration,
    ResourceLink,
    ScoreOutbox,
    User,
)
from lti_tool.sandbox import SandboxConfig, create_sandbox_app
from lti_tool.sandbox.demo import find_course
from lti_tool.sandbox.roster import roster_sub

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"
COURSE = "pss-cohort"
TARGETS = {"scores_per_second_min": 200.0, "token_requests_max": 1}
# Hard bounds, so a typo cannot turn the bench into a long-running load source.
MAX_UPDATES = 5000
MAX_WORKERS = 8
MAX_SECONDS = 180.0


@contextmanager
def serving(app: Any, port: int) -> Iterator[None]:
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        thread.join(timeout=5)


@contextmanager
def fresh_database(server_url: str | None, workdir: Path) -> Iterator[str]:
    """A new SQLite file, or a new PostgreSQL database dropped at the end."""
    if not server_url:
        yield f"sqlite:///{workdir / 'bench.sqlite3'}"
        return
    name = f"bench_scores_{os.getpid()}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield (
            make_url(server_url)
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed(database_url: str, sandbox: SandboxConfig, tool: Any, learners: int) -> None:
    """One course, one PSS link with the sandbox's AGS claim, N credited learners."""
    register_sandbox(database_url, sandbox)
    engine = create_engine(database_url)
    program = tool.extensions["catalog"].program("pss")
    activity = next(program.activities())
    course = find_course(COURSE)
    assert course is not None
    with Session(engine) as session:
        registration = session.scalars(
            select(Registration).where(Registration.issuer == sandbox.issuer)
        ).one()
        context = Context(
            deployment_pk=registration.deployments[0].id,
            context_id=course.context_id,
            title=course.title,
        )
        session.add(context)
        session.flush()
        link = ResourceLink(
            context_pk=context.id,
            resource_link_id=course.links[0].resource_link_id,
            title="PSS",
            target="pss",
        )
        session.add(link)
        session.flush()
        _launch_session(session, sandbox, context, link)
        for number in range(1, learners + 1):
            user = User(
                issuer=sandbox.issuer,
                sub=roster_sub(sandbox, COURSE, number),
                name=f"Learner {number:04d}",
            )
            session.add(user)
            session.flush()
            session.add(
                Membership(user_id=user.id, context_pk=context.id, role="learner")
            )
            credit_activity(
                session,
                CreditRules(daily_cap_minutes=10_000),
                Participant(user.id, context.id),
                program,
                activity,
                activity.minutes,
                Source.TRACKED_STUDY,
            )
            if number % 200 == 0:
                session.commit()
        session.commit()
    engine.dispose()


def _launch_session(
    session: Session, sandbox: SandboxConfig, context: Context, link: ResourceLink
) -> None:
    # What the first launch of the link would have left: its AGS claim.
    user = User(issuer=sandbox.issuer, sub="bench-coordinator", name="Coordinator")
    session.add(user)
    session.flush()
    scopes = [
        "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
        "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
        "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
        "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    ]
    session.add(
        LaunchSession(
            id=uuid.uuid4().hex,
            user_id=user.id,
            context_pk=context.id,
            resource_link_pk=link.id,
            role="coordinator",
            claims={
                "ags": {
                    "scope": scopes,
                    "lineitems": sandbox.url(f"/api/courses/{COURSE}/lineitems"),
                }
            },
            expires_at=datetime.now(UTC) + timedelta(hours=1),
        )
    )


def start_workers(
    database_url: str, keys_dir: Path, args: argparse.Namespace, logs: Path
) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LTI_TOOL_DATABASE_URL": database_url,
        "REDIS_URL": "",
        "LTI_TOOL_REDIS_URL": "",
        "LTI_TOOL_KEYS_DIR": str(keys_dir),
        # Per-score INFO lines would measure the terminal, not the delivery.
        "LTI_TOOL_LOG_LEVEL": "WARNING",
        # The sandbox platform listens on 127.0.0.1, a private address that the
        # worker refuses to call unless told this is a development set-up.
        "LTI_TOOL_REGISTRATION_ALLOW_PRIVATE": "1",
    }
    command = [
        sys.executable,
        "-m",
        "lti_tool.cli",
        "worker",
        "--batch-size",
        str(args.batch_size),
        "--concurrency",
        str(args.concurrency),
        "--idle-seconds",
        "0.1",
    ]
    return [
        subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(logs / f"worker-{n}.log").open("wb"),
        )
        for n in range(args.workers)
    ]


def watch(book: Any, expected: int, deadline: float) -> tuple[float, float]:
    """Times of the first and the last accepted score, read as they happen."""
    first = last = 0.0
    while time.monotonic() < deadline:
        accepted = book.counters["scores_accepted"]
        now = time.monotonic()
        if accepted and not first:
            first = now
        if accepted >= expected:
            last = now
            break
        time.sleep(0.01)
    return first, last


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-scores-") as temp:
        workdir = Path(temp)
        keys_dir = workdir / "keys"
        KeyRing(keys_dir, timedelta(days=14)).generate()
        with fresh_database(args.database_url, workdir) as database_url:
            migrate.upgrade(database_url)
            tool_port, sandbox_port = free_port(), free_port()
            tool_url = f"http://localhost:{tool_port}"
            sandbox = SandboxConfig(
                base_url=f"http://127.0.0.1:{sandbox_port}",
                tool_url=tool_url,
                key_path=workdir / "sandbox.pem",
                roster_size=args.updates,
            )
            tool = create_app(
                {
                    "database_url": database_url,
                    "keys_dir": keys_dir,
                    "base_url": tool_url,
                    "secret_key": "bench",
                    "redis_url": "",
                    "log_level": "WARNING",
                }
            )
            sandbox_app = create_sandbox_app(sandbox)
            book = sandbox_app.extensions["lti_sandbox"].book
            seeded_at = time.monotonic()
            seed(database_url, sandbox, tool, args.updates)
            seed_seconds = time.monotonic() - seeded_at
            with serving(tool, tool_port), serving(sandbox_app, sandbox_port):
                figures = _deliver(args, database_url, keys_dir, workdir, book)
            figures["seed_seconds"] = round(seed_seconds, 2)
            figures["database"] = make_url(database_url).get_backend_name()
            return figures


def _deliver(
    args: argparse.Namespace,
    database_url: str,
    keys_dir: Path,
    workdir: Path,
    book: Any,
) -> dict[str, Any]:
    started = time.monotonic()
    workers = start_workers(database_url, keys_dir, args, workdir)
    try:
        first, last = watch(book, args.updates, started + args.max_seconds)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
    engine = create_engine(database_url)
    with Session(engine) as session:
        sent = session.scalar(select(func.count()).where(ScoreOutbox.state == "sent"))
    engine.dispose()
    if not last:
        logs = "\n".join(p.read_text()[-2000:] for p in workdir.glob("worker-*.log"))
        raise SystemExit(f"not every score arrived within the time limit\n{logs}")
    steady = last - first
    return {
        "updates": args.updates,
        "workers": args.workers,
        "concurrency_per_worker": args.concurrency,
        "end_to_end_seconds": round(last - started, 3),
        "steady_seconds": round(steady, 3),
        "scores_per_second_end_to_end": round(args.updates / (last - started), 1),
        "scores_per_second_steady": round(args.updates / steady, 1) if steady else None,
        "token_requests": book.counters["token_requests"],
        "line_items_created": book.counters["line_items_created"],
        "scores_accepted": book.counters["scores_accepted"],
        "outbox_rows_sent": sent,
    }


def report(figures: dict[str, Any]) -> None:
    f = figures
    rate = f["scores_per_second_steady"] or 0.0
    minimum = TARGETS["scores_per_second_min"]
    lines = [
        ("database", f["database"]),
        ("score updates", f["updates"]),
        ("workers x concurrency", f"{f['workers']} x {f['concurrency_per_worker']}"),
        ("seeding (not timed)", f"{f['seed_seconds']} s"),
        (
            "end to end",
            f"{f['end_to_end_seconds']} s ({f['scores_per_second_end_to_end']} "
            "scores/s, worker start-up included)",
        ),
        ("steady delivery", f"{f['steady_seconds']} s ({rate} scores/s)"),
        ("token requests", f["token_requests"]),
        ("line items created", f["line_items_created"]),
        ("accepted / rows sent", f"{f['scores_accepted']} / {f['outbox_rows_sent']}"),
        (
            "against the targets",
            f"rate {rate / minimum:.2f}x of {minimum:.0f}/s; token requests "
            f"{f['token_requests']} (target {TARGETS['token_requests_max']})",
        ),
    ]
    for label, value in lines:
        print(f"{label:<26}{value}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL server URL; a new database is made there and dropped",
    )
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args(argv)
    if not 1 <= args.updates <= MAX_UPDATES or not 1 <= args.workers <= MAX_WORKERS:
        parser.error(f"at most {MAX_UPDATES} updates and {MAX_WORKERS} workers")
    if not 0 < args.max_seconds <= MAX_SECONDS:
        parser.error(f"--max-seconds must be at most {MAX_SECONDS}")
    return args


def main(argv: list[str] | None = None) -> None:
    figures = run(parse_args(argv))
    report(figures)
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"scores-{stamp}.json"
    path.write_text(json.dumps(figures, indent=2))
    print(f"written to {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
