"""Heartbeats from the study page: measured time, watched video, tracked credit.

A page sends a heartbeat about every 30 s while it is visible and the participant
is active (or a video plays). Each carries a page id, a sequence number, the active
seconds since the previous one, the client time it was taken and, on video pages,
the played ranges. The server never trusts a claim on its own:

- a (page, sequence) pair seen before is acknowledged and ignored, so resending a
  queue after a network drop credits nothing twice;
- a heartbeat claims at most one interval plus slack, and must start after the
  participant's previous heartbeat ended (across all their activities), so bursts
  and parallel windows cannot add time;
- a heartbeat from the future is refused; one older than the state TTL is too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lti_tool.content.model import Activity, Program
from lti_tool.hours.ledger import Participant, credit_activity, credited_minutes
from lti_tool.hours.rules import CreditRules, Source
from lti_tool.models import ActivityProgress, StudyClock
from lti_tool.models.base import utcnow

log = logging.getLogger(__name__)

SLACK_SECONDS = 15
CLOCK_SKEW = timedelta(seconds=120)
# Heartbeats kept in the browser while offline are accepted for an hour; all
# claims together are bounded by the time the server saw pass since the
# participant's previous heartbeat request, at most this backlog.
MAX_AGE = timedelta(hours=1)
MAX_PLAYBACK_RATE = 2.0
TRACKED_KINDS = frozenset({"reading", "video"})


class HeartbeatRejected(ValueError):
    """A heartbeat that is malformed or not the participant's to send."""


@dataclass(frozen=True)
class Heartbeat:
    activity_id: str
    page_id: str
    sequence: int
    active_seconds: int
    at: datetime
    played: tuple[tuple[float, float], ...] = ()
    media_seconds: float | None = None

    @classmethod
    def parse(cls, raw: Any) -> Heartbeat:
        """Validate one JSON heartbeat; HeartbeatRejected says what is wrong."""
        if not isinstance(raw, dict):
            raise HeartbeatRejected("a heartbeat must be an object")
        try:
            at = datetime.fromtimestamp(float(raw["at"]) / 1000, tz=UTC)
            beat = cls(
                activity_id=str(raw["activity"])[:120],
                page_id=str(raw["page"])[:64],
                sequence=int(raw["seq"]),
                active_seconds=int(raw["active"]),
                at=at,
                played=tuple(
                    (float(start), float(end)) for start, end in raw.get("played", [])
                )[:200],
                media_seconds=(
                    float(raw["duration"]) if raw.get("duration") is not None else None
                ),
            )
        except (KeyError, TypeError, ValueError, OverflowError):
            raise HeartbeatRejected(
                "a heartbeat is missing or has a bad field"
            ) from None
        if beat.sequence < 0 or not 0 <= beat.active_seconds <= 3600:
            raise HeartbeatRejected("sequence and active seconds must be sensible")
        return beat


@dataclass
class HeartbeatResult:
    accepted: int = 0
    ignored: int = 0
    credited_minutes: int = 0


def merge_ranges(ranges: list[list[float]]) -> list[list[float]]:
    """Union of played ranges, sorted; overlapping replays count once."""
    merged: list[list[float]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def watched_seconds(ranges: list[list[float]]) -> float:
    return sum(end - start for start, end in merge_ranges(ranges))


def _progress_row(
    session: Session, who: Participant, program_id: str, activity_id: str
) -> ActivityProgress:
    query = (
        select(ActivityProgress)
        .filter_by(
            user_id=who.user_id,
            context_pk=who.context_pk,
            program_id=program_id,
            activity_id=activity_id,
        )
        .with_for_update()
    )
    row = session.scalars(query).first()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = ActivityProgress(
                user_id=who.user_id,
                context_pk=who.context_pk,
                program_id=program_id,
                activity_id=activity_id,
                last_sequence={},
                watched_ranges=[],
            )
            session.add(row)
    except IntegrityError:
        # Created by a request that arrived at the same moment: use theirs.
        row = session.scalars(query.execution_options(populate_existing=True)).one()
    return row


def _clock(session: Session, user_id: int) -> StudyClock:
    """The participant's clock row, locked; created on first use, race-safe.

    A page's closing beacon and the next page's first heartbeat can arrive
    together: the loser of the insert race locks the winner's row instead.
    """
    clock = session.get(StudyClock, user_id, with_for_update=True)
    if clock is not None:
        return clock
    try:
        with session.begin_nested():
            clock = StudyClock(
                user_id=user_id, last_heartbeat_at=datetime.min.replace(tzinfo=UTC)
            )
            session.add(clock)
    except IntegrityError:
        clock = session.get(
            StudyClock, user_id, with_for_update=True, populate_existing=True
        )
        assert clock is not None
    return clock


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo:
        return moment
    return moment.replace(tzinfo=UTC)


def record_heartbeats(
    session: Session,
    rules: CreditRules,
    who: Participant,
    program: Program,
    beats: list[Heartbeat],
    *,
    now: datetime | None = None,
) -> HeartbeatResult:
    """Apply heartbeats in order, then credit what the measured time earned."""
    now = now or utcnow()
    result = HeartbeatResult()
    clock = _clock(session, who.user_id)
    touched: dict[str, ActivityProgress] = {}
    seconds_before: dict[str, int] = {}

    counting_from = _counting_from(clock, rules, now)
    budget = (now - counting_from).total_seconds() + SLACK_SECONDS
    claimed_total = 0
    for beat in sorted(beats, key=lambda b: (b.at, b.page_id, b.sequence)):
        activity = program.find_activity(beat.activity_id)
        if activity is None:
            raise HeartbeatRejected("the activity is not part of this program")
        progress = touched.get(activity.id) or _progress_row(
            session, who, program.id, activity.id
        )
        touched[activity.id] = progress
        seconds_before.setdefault(activity.id, progress.active_seconds or 0)
        counted = _apply(progress, clock, rules, beat, now, activity, budget)
        if counted is None:
            result.ignored += 1
        else:
            result.accepted += 1
            budget -= counted
            claimed_total += counted
    clock.counted_until = counting_from + timedelta(seconds=claimed_total)

    for activity_id, progress in touched.items():
        activity = program.find_activity(activity_id)
        assert activity is not None
        result.credited_minutes += credit_tracked_study(
            session,
            rules,
            who,
            program,
            activity,
            progress,
            now=now,
            seconds_before=seconds_before[activity_id],
        )
    return result


def open_study_page(
    session: Session, user_id: int, now: datetime | None = None
) -> None:
    """Start the server-side mark when a study page is first served to someone.

    Without it, a participant who went offline right after opening their first
    page could not send the time they studied meanwhile.
    """
    clock = _clock(session, user_id)
    if clock.counted_until is None:
        clock.counted_until = now or utcnow()


def _counting_from(clock: StudyClock, rules: CreditRules, now: datetime) -> datetime:
    """Where this request's claimable time starts: the mark, at most an hour back."""
    mark = _aware(clock.counted_until)
    if mark is None:
        mark = now - timedelta(seconds=rules.heartbeat_seconds)
    return max(mark, now - MAX_AGE)


def _apply(
    progress: ActivityProgress,
    clock: StudyClock,
    rules: CreditRules,
    beat: Heartbeat,
    now: datetime,
    activity: Activity,
    budget: float,
) -> int | None:
    """Count one heartbeat's time; None when it is a duplicate or impossible."""
    sequences = dict(progress.last_sequence or {})
    if beat.sequence <= sequences.get(beat.page_id, -1):
        return None
    if beat.at > now + CLOCK_SKEW or beat.at < now - MAX_AGE:
        return None

    claimed = min(beat.active_seconds, rules.heartbeat_seconds + SLACK_SECONDS)
    started = beat.at - timedelta(seconds=claimed)
    last = _aware(clock.last_heartbeat_at)
    assert last is not None
    # Overlap with already-counted time (another window, a replayed queue): count
    # only the part after the previous heartbeat ended.
    if started < last:
        claimed = max(0, int((beat.at - last).total_seconds()))
    claimed = max(0, min(claimed, int(budget)))

    sequences[beat.page_id] = beat.sequence
    progress.last_sequence = sequences
    progress.active_seconds += claimed
    progress.last_seen_at = now
    progress.last_heartbeat_at = max(
        _aware(progress.last_heartbeat_at) or beat.at, beat.at
    )
    clock.last_heartbeat_at = max(last, beat.at)
    _apply_video(progress, beat, claimed, activity)
    return claimed


def _apply_video(
    progress: ActivityProgress, beat: Heartbeat, claimed: int, activity: Activity
) -> None:
    """Add played ranges, but never more new seconds than real time allows.

    The video's length is its planned time from the content, never the length
    the page reports: a page claiming a one-second video must not earn an hour.
    """
    if not beat.played:
        return
    duration = float(activity.minutes * 60)
    before = merge_ranges(list(progress.watched_ranges or []))
    candidate = [
        [max(0.0, start), min(duration, end)]
        for start, end in beat.played
        if end > start and start < duration
    ]
    after = merge_ranges(before + candidate)
    allowed = claimed * MAX_PLAYBACK_RATE + 2
    if watched_seconds(after) - watched_seconds(before) > allowed:
        log.warning("video ranges refused reason=faster_than_real_time")
        return
    progress.watched_ranges = after
    progress.media_seconds = duration


def credit_tracked_study(
    session: Session,
    rules: CreditRules,
    who: Participant,
    program: Program,
    activity: Activity,
    progress: ActivityProgress,
    *,
    now: datetime,
    seconds_before: int | None = None,
) -> int:
    """Credit readings by active time, videos once 90% is watched."""
    if activity.kind not in TRACKED_KINDS:
        return 0
    if activity.kind == "video" and activity.media:
        return _credit_video(session, rules, who, program, activity, progress, now)

    # A reading, or a video whose footage is not there yet (read as a transcript).
    # Credit moves in whole minutes: without a new one there is nothing to add, and
    # the ledger is not summed (this runs on every heartbeat).
    if (
        seconds_before is not None
        and seconds_before // 60 == progress.active_seconds // 60
    ):
        return 0
    already = credited_minutes(session, who, program.id, activity.id)
    earned = min(activity.minutes, progress.active_seconds // 60)
    if (
        earned >= activity.minutes * rules.reading_complete_share
        and not progress.completed_at
    ):
        progress.completed_at = now
    due = earned - already
    if due <= 0 or (due < rules.credit_step_minutes and earned < activity.minutes):
        return 0
    return credit_activity(
        session, rules, who, program, activity, due, Source.TRACKED_STUDY, now=now
    )


def _credit_video(
    session: Session,
    rules: CreditRules,
    who: Participant,
    program: Program,
    activity: Activity,
    progress: ActivityProgress,
    now: datetime,
) -> int:
    duration = progress.media_seconds or 0
    if duration <= 0:
        return 0
    share = watched_seconds(list(progress.watched_ranges or [])) / duration
    if share < rules.video_watched_share:
        return 0
    if not progress.completed_at:
        progress.completed_at = now
    return credit_activity(
        session,
        rules,
        who,
        program,
        activity,
        activity.minutes,
        Source.TRACKED_STUDY,
        now=now,
    )
