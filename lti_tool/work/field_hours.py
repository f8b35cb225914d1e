"""Internship and shadowing logs: entries, the readiness rule, approval."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti_tool.content.model import Activity, Program
from lti_tool.hours.ledger import (
    Participant,
    credit_activity,
    local_day,
    program_totals,
)
from lti_tool.hours.rules import CreditRules, Source
from lti_tool.models import FieldHours
from lti_tool.models.base import utcnow
from lti_tool.work.crypto import DataCipher
from lti_tool.work.errors import AlreadyReviewed, OwnWork, WorkRejected
from lti_tool.work.events import record_event
from lti_tool.work.inputs import past_date, quarter_hours, required_text

log = logging.getLogger(__name__)

FIELD_KINDS = frozenset({"internship", "shadowing"})
MAX_ENTRY_MINUTES = 12 * 60
# No one works more than this in a day; more across entries is a typing mistake.
MAX_DAY_MINUTES = 16 * 60
MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 5_000
MAX_COMMENT_CHARS = 5_000
DECISIONS = {"approve": "approved", "return": "returned"}


@dataclass(frozen=True)
class FieldHoursForm:
    """The fields of the log form, as typed."""

    worked_on: str
    site: str
    supervisor: str
    hours: str
    description: str


@dataclass(frozen=True)
class ReadinessState:
    """How far the participant is toward the share recommended before field work."""

    done_minutes: int
    needed_minutes: int
    of_category: str

    @property
    def is_ready(self) -> bool:
        return self.done_minutes >= self.needed_minutes


def readiness(
    session: Session, who: Participant, program: Program, activity: Activity
) -> ReadinessState | None:
    """The readiness rule for this activity's category, if the program has one."""
    rule = program.readiness
    if rule is None or rule.before != program.category_of(activity):
        return None
    required = program.requirements.get(rule.of_category, 0)
    done = program_totals(session, who, program.id).category(rule.of_category)
    return ReadinessState(done, math.ceil(required * rule.share), rule.of_category)


def _day_total(session: Session, who: Participant, day: date) -> int:
    """Minutes a participant logged on one day, leaving out returned entries."""
    query = select(func.coalesce(func.sum(FieldHours.minutes), 0)).where(
        FieldHours.user_id == who.user_id,
        FieldHours.worked_on == day,
        FieldHours.status != "returned",
    )
    return int(session.scalar(query) or 0)


def _validated(
    session: Session,
    rules: CreditRules,
    who: Participant,
    form: FieldHoursForm,
    now: datetime,
    replacing: FieldHours | None = None,
) -> dict[str, object]:
    worked_on = past_date(form.worked_on, local_day(rules, now), "date worked")
    minutes = quarter_hours(form.hours, MAX_ENTRY_MINUTES)
    values: dict[str, object] = {
        "worked_on": worked_on,
        "minutes": minutes,
        "site": required_text(form.site, "site", MAX_NAME_CHARS),
        "supervisor": required_text(form.supervisor, "supervisor", MAX_NAME_CHARS),
        "description": required_text(
            form.description, "description of what you did", MAX_DESCRIPTION_CHARS
        ),
    }
    already = _day_total(session, who, worked_on)
    if replacing is not None and replacing.status != "returned":
        # The entry being corrected is counted already; do not count it twice.
        already -= replacing.minutes if replacing.worked_on == worked_on else 0
    if already + minutes > MAX_DAY_MINUTES:
        raise WorkRejected(
            f"That would make more than {MAX_DAY_MINUTES // 60} hours logged on "
            f"{worked_on.isoformat()}; check the hours and the date."
        )
    return values


# What the participant writes about, and the people and places they name.
_ENCRYPTED_FIELDS = ("site", "supervisor", "description")


def _encrypted(cipher: DataCipher, values: dict[str, object]) -> dict[str, object]:
    """The entry's columns: text fields under `<name>_encrypted`, the rest as is."""
    return {
        f"{name}_encrypted" if name in _ENCRYPTED_FIELDS else name: (
            cipher.encrypt_text(str(value)) if name in _ENCRYPTED_FIELDS else value
        )
        for name, value in values.items()
    }


def _check_readiness(
    session: Session,
    who: Participant,
    program: Program,
    activity: Activity,
    block: bool,
) -> bool:
    """True when logged early (warn mode); WorkRejected in block mode."""
    state = readiness(session, who, program, activity)
    if state is None or state.is_ready:
        return False
    if block:
        raise WorkRejected(
            f"Field hours can be logged once {state.needed_minutes // 60} "
            f"{state.of_category} hours are done; you have "
            f"{state.done_minutes / 60:.1f}."
        )
    return True


def log_field_hours(
    session: Session,
    cipher: DataCipher,
    rules: CreditRules,
    who: Participant,
    program: Program,
    activity: Activity,
    form: FieldHoursForm,
    *,
    block_before_readiness: bool,
    now: datetime | None = None,
) -> FieldHours:
    """Store one entry for a coordinator to approve."""
    now = now or utcnow()
    if activity.kind not in FIELD_KINDS:
        raise WorkRejected("Field hours belong to an internship or shadowing activity.")
    values = _validated(session, rules, who, form, now)
    early = _check_readiness(session, who, program, activity, block_before_readiness)

    entry = FieldHours(
        user_id=who.user_id,
        context_pk=who.context_pk,
        program_id=program.id,
        program_version=program.version,
        activity_id=activity.id,
        status="submitted",
        before_readiness=early,
        created_at=now,
        **_encrypted(cipher, values),
    )
    session.add(entry)
    session.flush()
    record_event(
        session,
        "field_hours",
        entry.id,
        "submitted",
        by_user_id=who.user_id,
        text_encrypted=None,
        now=now,
    )
    log.info(
        "field hours logged entry=%s user=%s context=%s activity=%s minutes=%s "
        "before_readiness=%s",
        entry.id,
        who.user_id,
        who.context_pk,
        activity.id,
        entry.minutes,
        early,
    )
    return entry


def update_field_hours(
    session: Session,
    cipher: DataCipher,
    rules: CreditRules,
    entry: FieldHours,
    form: FieldHoursForm,
    *,
    now: datetime | None = None,
) -> FieldHours:
    """Correct an entry not yet approved; it goes back to the coordinator."""
    now = now or utcnow()
    if entry.status == "approved":
        raise AlreadyReviewed("This entry has been approved and can no longer change.")
    who = Participant(entry.user_id, entry.context_pk)
    values = _validated(session, rules, who, form, now, replacing=entry)
    for name, value in _encrypted(cipher, values).items():
        setattr(entry, name, value)
    entry.status = "submitted"
    session.flush()
    record_event(
        session,
        "field_hours",
        entry.id,
        "submitted",
        by_user_id=entry.user_id,
        text_encrypted=None,
        now=now,
    )
    log.info("field hours corrected entry=%s user=%s", entry.id, entry.user_id)
    return entry


def review_field_hours(
    session: Session,
    cipher: DataCipher,
    rules: CreditRules,
    entry: FieldHours,
    program: Program,
    activity: Activity,
    *,
    reviewer_id: int,
    decision: str,
    comment: str,
    seen_version: int,
    now: datetime | None = None,
) -> int:
    """Approve (crediting the logged minutes once) or return with a comment."""
    now = now or utcnow()
    if reviewer_id == entry.user_id:
        raise OwnWork()
    status = DECISIONS.get(decision)
    if status is None:
        raise WorkRejected("Choose whether to approve the entry or return it.")
    if entry.status != "submitted":
        raise AlreadyReviewed("This entry is not waiting for a review any more.")
    if seen_version != entry.version:
        raise AlreadyReviewed(
            "The participant changed this entry after you opened it. "
            "Read it again, then review it."
        )
    comment = comment.strip()
    if status == "returned" and not comment:
        raise WorkRejected("Say why you return the entry, so it can be corrected.")
    if len(comment) > MAX_COMMENT_CHARS:
        raise WorkRejected(
            f"A comment can be at most {MAX_COMMENT_CHARS:,} characters."
        )

    token = cipher.encrypt_text(comment) if comment else None
    entry.status = status
    entry.reviewed_at = now
    entry.reviewed_by_user_id = reviewer_id
    entry.comment_encrypted = token
    session.flush()
    record_event(
        session,
        "field_hours",
        entry.id,
        status,
        by_user_id=reviewer_id,
        text_encrypted=token,
        now=now,
    )
    log.info(
        "field hours reviewed entry=%s reviewer=%s outcome=%s",
        entry.id,
        reviewer_id,
        status,
    )
    if status != "approved":
        return 0
    return credit_activity(
        session,
        rules,
        Participant(entry.user_id, entry.context_pk),
        program,
        activity,
        entry.minutes,
        Source.FIELD_HOURS_APPROVED,
        event_key=f"field_hours:{entry.id}",
        approved_by=reviewer_id,
        now=now,
    )


def entries_of(session: Session, who: Participant, program_id: str) -> list[FieldHours]:
    """A participant's entries in one program, newest first."""
    query = (
        select(FieldHours)
        .filter_by(
            user_id=who.user_id, context_pk=who.context_pk, program_id=program_id
        )
        .order_by(FieldHours.worked_on.desc(), FieldHours.id.desc())
    )
    return list(session.scalars(query))
