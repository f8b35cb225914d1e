"""The crediting rule: caps, steps, daily limit, corrections, completion, races."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti_tool.hours.ledger import (
    Participant,
    correct,
    credit_activity,
    program_totals,
)
from lti_tool.hours.rules import CreditRules, Source, round_down_to_quarter_hour
from lti_tool.hours.tracking import (
    Heartbeat,
    HeartbeatRejected,
    merge_ranges,
    open_study_page,
    record_heartbeats,
)
from lti_tool.models import (
    Context,
    Deployment,
    HoursEntry,
    ProgramCompletion,
    Registration,
    StudyClock,
    User,
)
from lti_tool.work.knowledge_checks import IncompleteAnswers, score_attempt
from tests.programs import tiny_program

RULES = CreditRules()
NOON = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)  # 12:00 in California


@pytest.fixture
def session(engine):  # type: ignore[no-untyped-def]
    with Session(engine) as db_session:
        yield db_session


@pytest.fixture
def who(session) -> Participant:  # type: ignore[no-untyped-def]
    registration = Registration(
        issuer="https://lms.example.edu",
        client_id="c",
        auth_login_url="https://lms.example.edu/a",
        auth_token_url="https://lms.example.edu/t",
        key_set_url="https://lms.example.edu/k",
    )
    deployment = Deployment(deployment_id="d")
    registration.deployments.append(deployment)
    user = User(issuer=registration.issuer, sub="s1", name="P")
    session.add_all([registration, user])
    session.flush()
    context = Context(deployment_pk=deployment.id, context_id="c1")
    session.add(context)
    session.flush()
    # The participant opened their study page an hour before the tests' "now".
    open_study_page(session, user.id, now=NOON - timedelta(minutes=1))
    session.commit()
    return Participant(user.id, context.id)


def beats(
    activity: str,
    count: int,
    *,
    start: datetime = NOON,
    page: str = "p1",
    active: int = 30,
    first_seq: int = 0,
) -> list[Heartbeat]:
    return [
        Heartbeat(
            activity_id=activity,
            page_id=page,
            sequence=first_seq + n,
            active_seconds=active,
            at=start + timedelta(seconds=30 * (n + 1)),
        )
        for n in range(count)
    ]


def ledger_minutes(session, who) -> int:  # type: ignore[no-untyped-def]
    return int(
        session.scalar(
            select(func.coalesce(func.sum(HoursEntry.minutes), 0)).where(
                HoursEntry.user_id == who.user_id
            )
        )
    )


def test_reading_credits_active_time_in_steps(session, who):
    program = tiny_program()
    later = NOON + timedelta(minutes=5)
    first = record_heartbeats(session, RULES, who, program, beats("read", 8), now=later)
    # 8 heartbeats x 30 s = 4 min: less than one 5-minute step, nothing yet.
    assert first.accepted == 8
    assert ledger_minutes(session, who) == 0

    rest = beats("read", 10, start=NOON + timedelta(minutes=4), first_seq=8)
    record_heartbeats(
        session, RULES, who, program, rest, now=later + timedelta(minutes=5)
    )
    # 9 minutes measured: credited in one line once a step is reached.
    assert ledger_minutes(session, who) == 9
    assert session.scalar(select(func.count()).select_from(HoursEntry)) == 1


def test_reading_never_credits_beyond_planned_time(session, who):
    program = tiny_program(reading_minutes=10)
    record_heartbeats(
        session, RULES, who, program, beats("read", 60), now=NOON + timedelta(hours=1)
    )
    assert ledger_minutes(session, who) == 10


def test_duplicate_heartbeats_count_once(session, who):
    program = tiny_program()
    batch = beats("read", 20)
    later = NOON + timedelta(hours=1)
    record_heartbeats(session, RULES, who, program, batch, now=later)
    again = record_heartbeats(session, RULES, who, program, batch, now=later)

    assert again.accepted == 0 and again.ignored == 20
    assert ledger_minutes(session, who) == 10


def test_burst_of_heartbeats_earns_only_real_time(session, who):
    program = tiny_program()
    burst = [
        Heartbeat("read", "p1", n, 30, NOON + timedelta(seconds=n)) for n in range(60)
    ]
    record_heartbeats(
        session, RULES, who, program, burst, now=NOON + timedelta(hours=1)
    )
    # 60 heartbeats within one minute of wall time earn about a minute, not 30.
    assert ledger_minutes(session, who) == 0
    from lti_tool.models import ActivityProgress

    measured = session.scalar(select(ActivityProgress.active_seconds))
    assert measured <= 90


def test_oversized_claim_is_clamped_to_one_interval(session, who):
    program = tiny_program()
    one = [Heartbeat("read", "p1", 0, 3600, NOON)]
    record_heartbeats(session, RULES, who, program, one, now=NOON)
    from lti_tool.models import ActivityProgress

    assert session.scalar(select(ActivityProgress.active_seconds)) == 45


def test_two_windows_cannot_double_time(session, who):
    program = tiny_program(reading_minutes=120)
    both = beats("read", 20, page="a") + beats("transcript", 20, page="b")
    record_heartbeats(session, RULES, who, program, both, now=NOON + timedelta(hours=1))
    # 10 minutes of wall time, whichever window claims it.
    assert ledger_minutes(session, who) <= 10


def test_future_heartbeat_is_ignored(session, who):
    program = tiny_program()
    future = beats("read", 3, start=NOON + timedelta(hours=2))
    result = record_heartbeats(session, RULES, who, program, future, now=NOON)
    assert result.accepted == 0


def test_heartbeat_for_foreign_activity_is_rejected(session, who):
    with pytest.raises(HeartbeatRejected):
        record_heartbeats(
            session, RULES, who, tiny_program(), beats("nope", 1), now=NOON
        )


@pytest.mark.parametrize(
    "raw",
    [
        None,
        {"activity": "read"},
        {"activity": "read", "page": "p", "seq": -1, "active": 30, "at": 1},
        {"activity": "read", "page": "p", "seq": 1, "active": 99999, "at": 1},
        {"activity": "read", "page": "p", "seq": "x", "active": 30, "at": 1},
    ],
)
def test_malformed_heartbeat_is_rejected(raw):
    with pytest.raises(HeartbeatRejected):
        Heartbeat.parse(raw)


def test_daily_cap_limits_online_credit_and_resumes_next_day(session, who):
    rules = CreditRules(daily_cap_minutes=20)
    program = tiny_program(reading_minutes=60)
    record_heartbeats(
        session, rules, who, program, beats("read", 80), now=NOON + timedelta(hours=1)
    )
    assert ledger_minutes(session, who) == 20

    # The next day, the first new minute of study credits the backlog, up to the cap.
    next_day = NOON + timedelta(days=1)
    record_heartbeats(
        session,
        rules,
        who,
        program,
        beats("read", 2, start=next_day, first_seq=80),
        now=next_day + timedelta(minutes=5),
    )
    assert ledger_minutes(session, who) == 40  # 41 earned, capped at 20 a day


def test_heartbeat_without_a_new_minute_does_not_sum_the_ledger(session, who, engine):
    program = tiny_program()
    later = NOON + timedelta(hours=1)
    record_heartbeats(session, RULES, who, program, beats("read", 2), now=later)
    statements: list[str] = []

    from sqlalchemy import event

    def seen(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        one_more = beats("read", 1, start=NOON + timedelta(seconds=60), first_seq=2)
        record_heartbeats(session, RULES, who, program, one_more, now=later)
        session.flush()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert statements, "the heartbeat was not written"
    assert not [s for s in statements if "sum(" in s.lower()]


def test_daily_cap_does_not_limit_field_hours(session, who):
    rules = CreditRules(daily_cap_minutes=20)
    program = tiny_program()
    reading = program.find_activity("read")
    credited = credit_activity(
        session, rules, who, program, reading, 60, Source.FIELD_HOURS_APPROVED, now=NOON
    )
    assert credited == 60


def test_video_with_media_credits_planned_time_at_90_percent(session, who):
    program = tiny_program()
    played = [
        Heartbeat(
            "watch",
            "p",
            n,
            30,
            NOON + timedelta(seconds=30 * (n + 1)),
            played=((0.0, 30.0 * (n + 1)),),
            media_seconds=1200.0,
        )
        for n in range(35)
    ]
    record_heartbeats(
        session, RULES, who, program, played, now=NOON + timedelta(hours=1)
    )
    assert ledger_minutes(session, who) == 0  # 1050 of 1200 s = 87.5 %

    more = [
        Heartbeat(
            "watch",
            "p",
            35 + n,
            30,
            NOON + timedelta(seconds=30 * (36 + n)),
            played=((0.0, 30.0 * (36 + n)),),
            media_seconds=1200.0,
        )
        for n in range(2)
    ]
    record_heartbeats(session, RULES, who, program, more, now=NOON + timedelta(hours=1))
    assert ledger_minutes(session, who) == 20


def test_seeking_ahead_does_not_count_as_watched(session, who):
    program = tiny_program()
    jump = [
        Heartbeat(
            "watch", "p", 0, 30, NOON, played=((0.0, 1200.0),), media_seconds=1200.0
        )
    ]
    record_heartbeats(session, RULES, who, program, jump, now=NOON)
    assert ledger_minutes(session, who) == 0


def test_video_without_media_is_credited_like_a_reading(session, who):
    program = tiny_program()
    record_heartbeats(
        session,
        RULES,
        who,
        program,
        beats("transcript", 20),
        now=NOON + timedelta(hours=1),
    )
    assert ledger_minutes(session, who) == 10


def test_merge_ranges_counts_replays_once():
    assert merge_ranges([[0, 10], [5, 20], [30, 40], [0, 1]]) == [[0, 20], [30, 40]]


def test_knowledge_check_pass_credits_once(session, who):
    program = tiny_program()
    check = program.find_activity("check")
    failed = score_attempt(session, RULES, who, program, check, [1, 0, 0, 1])
    assert not failed.attempt.passed and failed.credited_minutes == 0

    passed = score_attempt(session, RULES, who, program, check, [1, 1, 1, 0])
    again = score_attempt(session, RULES, who, program, check, [1, 1, 1, 1])
    assert passed.attempt.passed and passed.credited_minutes == 15
    assert again.credited_minutes == 0
    assert ledger_minutes(session, who) == 15


def test_knowledge_check_needs_every_answer(session, who):
    program = tiny_program()
    with pytest.raises(IncompleteAnswers):
        score_attempt(
            session,
            RULES,
            who,
            program,
            program.find_activity("check"),
            [1, None, 1, 1],
        )


def test_corrections_are_new_lines_with_reason(session, who):
    program = tiny_program()
    reading = program.find_activity("read")
    credit_activity(
        session, RULES, who, program, reading, 30, Source.TRACKED_STUDY, now=NOON
    )
    correct(
        session,
        who,
        program,
        activity=reading,
        category="online",
        minutes=-10,
        reason="timer fault on 4 Dec",
        by_user_id=who.user_id,
        rules=RULES,
    )

    lines = session.scalars(select(HoursEntry).order_by(HoursEntry.id)).all()
    assert [line.minutes for line in lines] == [30, -10]
    assert lines[1].source == "manual_correction"
    assert lines[1].reason == "timer fault on 4 Dec"
    with pytest.raises(ValueError, match="reason"):
        correct(
            session,
            who,
            program,
            activity=None,
            category="online",
            minutes=5,
            reason=" ",
            by_user_id=who.user_id,
            rules=RULES,
        )
    with pytest.raises(ValueError):
        correct(
            session,
            who,
            program,
            activity=None,
            category="online",
            minutes=10**6,
            reason="x",
            by_user_id=who.user_id,
            rules=RULES,
        )


def test_totals_by_category_and_competency(session, who):
    program = tiny_program()
    credit_activity(
        session,
        RULES,
        who,
        program,
        program.find_activity("read"),
        30,
        Source.TRACKED_STUDY,
        now=NOON,
    )
    totals = program_totals(session, who, "tiny")
    assert totals.by_category == {"online": 30}
    assert totals.by_competency == {"c01": 15.0, "c02": 15.0}


def test_completion_recorded_once_all_requirements_met(session, who):
    program = tiny_program()
    for item in program.activities():
        credit_activity(
            session,
            CreditRules(daily_cap_minutes=10**6),
            who,
            program,
            item,
            item.minutes,
            Source.MANUAL_CORRECTION,
            now=NOON,
        )
    completions = session.scalars(select(ProgramCompletion)).all()
    assert len(completions) == 1
    assert completions[0].program_version == "2026.1"


def test_quarter_hour_rounding_is_down():
    assert round_down_to_quarter_hour(44) == 0.5
    assert round_down_to_quarter_hour(45) == 0.75
    assert round_down_to_quarter_hour(-5) == 0


def test_concurrent_credits_never_exceed_planned_time(engine, who):
    program = tiny_program(reading_minutes=30)
    reading = program.find_activity("read")
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def credit() -> None:
        try:
            with Session(engine) as own:
                barrier.wait()
                credit_activity(
                    own,
                    RULES,
                    who,
                    program,
                    reading,
                    30,
                    Source.TRACKED_STUDY,
                    now=NOON,
                )
                own.commit()
        except Exception as error:  # SQLite may refuse a concurrent writer
            errors.append(error)

    threads = [threading.Thread(target=credit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with Session(engine) as check:
        total = check.scalar(select(func.sum(HoursEntry.minutes)))
    assert total == 30


def test_accepted_reflection_is_credited_even_after_a_full_study_day(session, who):
    rules = CreditRules(daily_cap_minutes=10)
    program = tiny_program()
    reading = program.find_activity("read")
    credit_activity(
        session, rules, who, program, reading, 10, Source.TRACKED_STUDY, now=NOON
    )

    reflection = program.find_activity("reflect")
    credited = credit_activity(
        session,
        rules,
        who,
        program,
        reflection,
        30,
        Source.REFLECTION_ACCEPTED,
        now=NOON,
    )
    assert credited == 30


def test_backdated_heartbeats_earn_no_more_than_the_time_the_server_saw(session, who):
    program = tiny_program(reading_minutes=600)
    now = NOON + timedelta(minutes=2)
    # Two minutes after the page opened, a request claims six days of study.
    forged = [
        Heartbeat(
            "read",
            f"page-{n}",
            0,
            45,
            NOON - timedelta(days=6) + timedelta(seconds=45 * n),
        )
        for n in range(200)
    ]
    record_heartbeats(session, RULES, who, program, forged, now=now)

    from lti_tool.models import ActivityProgress

    measured = session.scalar(select(ActivityProgress.active_seconds))
    assert measured is None or measured <= 3 * 60 + 15
    assert ledger_minutes(session, who) <= 3


def test_a_burst_of_requests_cannot_claim_the_same_interval_twice(session, who):
    program = tiny_program(reading_minutes=600)
    now = NOON + timedelta(minutes=10)
    first = beats("read", 20, start=NOON - timedelta(minutes=1), page="a")
    second = beats("read", 20, start=NOON - timedelta(minutes=1), page="b")
    record_heartbeats(session, RULES, who, program, first, now=now)
    record_heartbeats(session, RULES, who, program, second, now=now)
    assert ledger_minutes(session, who) <= 11


def test_reported_video_length_is_ignored(session, who):
    program = tiny_program()
    one = [Heartbeat("watch", "p", 0, 1, NOON, played=((0.0, 1.0),), media_seconds=1.0)]
    record_heartbeats(session, RULES, who, program, one, now=NOON)
    assert ledger_minutes(session, who) == 0


def test_first_heartbeats_arriving_together_both_count(engine, who):
    program = tiny_program()
    barrier = threading.Barrier(4)
    failures: list[BaseException] = []

    def send(page: str) -> None:
        try:
            with Session(engine) as own:
                barrier.wait()
                record_heartbeats(
                    own, RULES, who, program, beats("read", 1, page=page), now=NOON
                )
                own.commit()
        except Exception as error:  # SQLite may make a concurrent writer wait out
            if "database is locked" not in str(error):
                failures.append(error)

    with Session(engine) as setup:
        setup.query(StudyClock).delete()
        setup.commit()
    threads = [threading.Thread(target=send, args=(f"p{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
