"""The participant's own hours page: bars per category and competency, the ledger."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.content.model import Program
from lti_tool.hours.ledger import Participant, missing_by_category, program_totals
from lti_tool.models import HoursEntry, ProgramCompletion

CATEGORY_LABELS = {
    "online": "Online study",
    "support_group": "Support groups",
    "internship": "Internship",
    "shadowing": "Shadowing",
    "paper": "Integrative paper",
}


@dataclass(frozen=True)
class Bar:
    """Credited against required minutes for one category or competency."""

    key: str
    label: str
    credited_minutes: float
    required_minutes: float

    @property
    def percent(self) -> int:
        if self.required_minutes <= 0:
            return 100
        return int(min(self.credited_minutes / self.required_minutes, 1.0) * 100)


@dataclass(frozen=True)
class HoursSummary:
    categories: list[Bar]
    competencies: list[Bar]
    missing: dict[str, int]
    ledger: list[HoursEntry]
    completion: ProgramCompletion | None

    @property
    def is_complete(self) -> bool:
        return not any(self.missing.values())


def hours_summary(
    session: Session,
    who: Participant,
    program: Program,
    competency_titles: Mapping[str, str],
) -> HoursSummary:
    """Everything the My hours page shows for one participant and program."""
    totals = program_totals(session, who, program.id)
    categories = [
        Bar(name, CATEGORY_LABELS.get(name, name), totals.category(name), required)
        for name, required in program.requirements.items()
    ]
    planned = program.planned_minutes_by_competency()
    competencies = [
        Bar(
            key,
            competency_titles.get(key, key),
            totals.by_competency.get(key, 0.0),
            minutes,
        )
        for key, minutes in planned.items()
    ]
    return HoursSummary(
        categories=categories,
        competencies=competencies,
        missing=missing_by_category(program, totals),
        ledger=_ledger(session, who, program.id),
        completion=_completion(session, who, program.id),
    )


def _ledger(session: Session, who: Participant, program_id: str) -> list[HoursEntry]:
    query = (
        select(HoursEntry)
        .filter_by(
            user_id=who.user_id, context_pk=who.context_pk, program_id=program_id
        )
        .order_by(HoursEntry.created_at.desc(), HoursEntry.id.desc())
    )
    return list(session.scalars(query))


def _completion(
    session: Session, who: Participant, program_id: str
) -> ProgramCompletion | None:
    query = select(ProgramCompletion).filter_by(
        user_id=who.user_id, context_pk=who.context_pk, program_id=program_id
    )
    return session.scalars(query).first()
