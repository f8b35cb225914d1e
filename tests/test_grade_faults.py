"""No grade is lost: a failing platform and a worker killed in the middle of a run.

Two real `lti-tool worker` processes deliver scores to the sandbox over HTTP
while hours keep being credited. The sandbox fails every third service request,
alternately with a 500 and with an answer that comes after the client's timeout
(the score is stored, the worker never hears so). One worker is killed by PID
partway through. In the end each participant's latest score is in the grade
book, in one column, once, and no accepted score was older than the one before.
The platform is slow even when it answers, so credits land mid-delivery.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from lti_tool.hours.ledger import Participant, credit_activity
from lti_tool.hours.rules import CreditRules, Source
from lti_tool.models import Membership, ResourceLink, ScoreOutbox, User
from lti_tool.sandbox.roster import roster_sub
from lti_tool.services.scores import compute_score
from lti_tool.services.targets import find_target
from tests.services_live import Person, Services, tool_and_sandbox

pytestmark = pytest.mark.slow

LEARNERS = 24
ROUNDS = 6
# Credits trickle in while scores are in flight, so some land mid-delivery.
CREDIT_PAUSE_SECONDS = 0.02
CLIENT_TIMEOUT_SECONDS = 0.5
# A slow platform, so credits keep landing while scores are being sent.
PLATFORM_LATENCY_SECONDS = 0.15
LEASE_SECONDS = 3
DEADLINE_SECONDS = 120


def start_worker(
    database_url: str, keys_dir: Path, log: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LTI_TOOL_DATABASE_URL": database_url,
        "REDIS_URL": "",
        "LTI_TOOL_REDIS_URL": "",
        "LTI_TOOL_KEYS_DIR": str(keys_dir),
        "LTI_TOOL_HTTP_TIMEOUT_SECONDS": str(CLIENT_TIMEOUT_SECONDS),
        "LTI_TOOL_LOG_LEVEL": "INFO",
        # The sandbox's grade service answers on loopback.
        "LTI_TOOL_REGISTRATION_ALLOW_PRIVATE": "1",
    }
    command = [
        sys.executable,
        "-m",
        "lti_tool.cli",
        "worker",
        "--batch-size",
        "8",
        "--concurrency",
        "3",
        "--lease-seconds",
        str(LEASE_SECONDS),
        "--backoff-base",
        "0.2",
        "--backoff-max",
        "1",
        "--idle-seconds",
        "0.2",
    ]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb")
    )


def enrol_learners(services: Services, engine: Engine) -> tuple[int, list[int]]:
    """The demo learner launches; roster learners join the same course as users."""
    Person(services, "learner").launch("pss-cohort", "pss-program")
    with Session(engine) as session:
        link = session.scalars(select(ResourceLink)).one()
        users = []
        for number in range(1, LEARNERS + 1):
            user = User(
                issuer=services.sandbox.issuer,
                sub=roster_sub(services.sandbox, "pss-cohort", number),
                name=f"Learner {number:04d}",
            )
            session.add(user)
            session.flush()
            session.add(
                Membership(user_id=user.id, context_pk=link.context_pk, role="learner")
            )
            users.append(user.id)
        session.commit()
        return link.context_pk, users


def credit_round(
    services: Services, engine: Engine, who: Participant, step: int
) -> None:
    program = services.tool_app.extensions["catalog"].program("pss")
    activity = list(program.activities())[step]
    with Session(engine) as session:
        credit_activity(
            session,
            CreditRules(daily_cap_minutes=100_000),
            who,
            program,
            activity,
            activity.minutes,
            Source.TRACKED_STUDY,
        )
        session.commit()


def settled(engine: Engine, expected_rows: int) -> bool:
    """Nothing left to send: every row sent or refused, none in a worker's hands."""
    with Session(engine) as session:
        rows = list(session.scalars(select(ScoreOutbox)))
    return len(rows) == expected_rows and all(
        row.state != "pending" and row.lease_owner is None for row in rows
    )


def wait_until(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return condition()


def test_every_latest_score_arrives_once_despite_faults_and_a_killed_worker(
    database_url: str, keys_dir: Path, tmp_path: Path, engine: Engine
) -> None:
    with tool_and_sandbox(
        database_url,
        keys_dir,
        tmp_path,
        roster_size=LEARNERS,
        fault_every=3,
        fault_mode="mixed",
        fault_sleep_seconds=CLIENT_TIMEOUT_SECONDS * 3,
        latency_seconds=PLATFORM_LATENCY_SECONDS,
    ) as services:
        context_pk, user_ids = enrol_learners(services, engine)
        people = [Participant(user_id, context_pk) for user_id in user_ids]
        doomed_log, survivor_log = tmp_path / "doomed.log", tmp_path / "survivor.log"
        # The survivor starts only once the doomed worker has published: two
        # workers from the start may leave the doomed one nothing to do.
        doomed = start_worker(database_url, keys_dir, doomed_log)
        survivor = None
        try:
            for step in range(ROUNDS):
                for who in people:
                    credit_round(services, engine, who, step)
                    time.sleep(CREDIT_PAUSE_SECONDS)
                if step == 0:
                    assert wait_until(
                        lambda: b"score published" in doomed_log.read_bytes(), 30
                    ), doomed_log.read_text()
                    survivor = start_worker(database_url, keys_dir, survivor_log)
                if step == 1:
                    doomed.send_signal(signal.SIGKILL)
                    doomed.wait(timeout=10)
            delivered = wait_until(lambda: settled(engine, LEARNERS), DEADLINE_SECONDS)
            assert survivor is not None
            survivor.send_signal(signal.SIGTERM)
            survivor_exit = survivor.wait(timeout=20)
        finally:
            for process in (doomed, survivor):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.wait(timeout=10)

        assert delivered, survivor_log.read_text()[-3000:]
        assert survivor_exit == 0
        assert doomed.returncode == -signal.SIGKILL
        book = services.book
        (column,) = book.columns("pss-cohort")
        assert column.resource_id == "pss"
        target = find_target(services.tool_app.extensions["catalog"], "pss")
        assert target is not None
        with Session(engine) as session:
            subs = {u.id: u.sub for u in session.scalars(select(User))}
            expected = {
                subs[who.user_id]: compute_score(session, who, target).score_given
                for who in people
            }
        results = {result.user_id: result for result in book.results(column.id)}
        assert set(results) == set(expected)
        for sub, result in results.items():
            assert result.score_given == expected[sub], sub
            stamps = [stamp for stamp, _ in result.history]
            given = [score for _, score in result.history]
            assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
            assert given == sorted(given), given
        assert book.counters["stale_scores"] == 0
        assert book.counters["faults"] >= 4
        assert max(expected.values()) > 0
        with Session(engine) as session:
            rows = list(session.scalars(select(ScoreOutbox)))
        assert all(row.state == "sent" for row in rows)
        assert all(row.sent_version == row.due_version for row in rows)
