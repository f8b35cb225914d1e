"""Scoring a knowledge check and crediting it on a pass."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.content.model import Activity, Program
from lti_tool.hours.ledger import Participant, credit_activity
from lti_tool.hours.rules import CreditRules, Source
from lti_tool.models import KnowledgeCheckAttempt


class IncompleteAnswers(ValueError):
    """Not every question was answered."""


@dataclass(frozen=True)
class CheckResult:
    attempt: KnowledgeCheckAttempt
    correct: tuple[bool, ...]
    credited_minutes: int


def score_attempt(
    session: Session,
    rules: CreditRules,
    who: Participant,
    program: Program,
    activity: Activity,
    answers: list[int | None],
) -> CheckResult:
    """Record an attempt; a pass credits the planned time once."""
    if len(answers) != len(activity.questions) or any(a is None for a in answers):
        raise IncompleteAnswers("Answer every question before checking.")
    correct = tuple(
        answer == question.answer
        for answer, question in zip(answers, activity.questions, strict=True)
    )
    score = sum(correct) / len(correct)
    pass_mark = activity.pass_mark or rules.default_pass_mark
    attempt = KnowledgeCheckAttempt(
        user_id=who.user_id,
        context_pk=who.context_pk,
        program_id=program.id,
        program_version=program.version,
        activity_id=activity.id,
        answers=answers,
        score=score,
        passed=score >= pass_mark,
    )
    session.add(attempt)
    session.flush()

    credited = 0
    if attempt.passed:
        credited = credit_activity(
            session,
            rules,
            who,
            program,
            activity,
            activity.minutes,
            Source.KNOWLEDGE_CHECK_PASSED,
            event_key=f"check:{attempt.id}",
        )
    return CheckResult(attempt, correct, credited)


def latest_attempt(
    session: Session, who: Participant, program_id: str, activity_id: str
) -> KnowledgeCheckAttempt | None:
    query = (
        select(KnowledgeCheckAttempt)
        .filter_by(
            user_id=who.user_id,
            context_pk=who.context_pk,
            program_id=program_id,
            activity_id=activity_id,
        )
        .order_by(KnowledgeCheckAttempt.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()
