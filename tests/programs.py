"""A test-sized program built in code, so hour rules can be checked exactly."""

from __future__ import annotations

from pathlib import Path

from lti_tool.content.model import Activity, Module, Program, Question

HERE = Path(__file__)


def activity(activity_id: str, kind: str, minutes: int, **extra: object) -> Activity:
    return Activity(
        program_id="tiny",
        module_id="m1",
        id=activity_id,
        title=activity_id.title(),
        kind=kind,
        minutes=minutes,
        competencies=("c01", "c02"),
        completion="time_75",
        body_markdown="Text",
        source_path=HERE,
        **extra,  # type: ignore[arg-type]
    )


QUESTIONS = tuple(
    Question(question=f"Q{n}", choices=("a", "b", "c"), answer=1, explanation="")
    for n in range(4)
)


def tiny_program(*, reading_minutes: int = 60) -> Program:
    """One module: a reading, a video with media, a check, a reflection."""
    activities = (
        activity("read", "reading", reading_minutes),
        activity("watch", "video", 20, media="media/watch.mp4", captions="w.vtt"),
        activity("transcript", "video", 10),
        activity("check", "knowledge_check", 15, questions=QUESTIONS, pass_mark=0.7),
        activity("reflect", "reflection", 30, prompt="Why?", min_words=10),
    )
    module = Module(
        program_id="tiny",
        id="m1",
        title="Module one",
        summary="",
        activities=activities,
        source_path=HERE,
    )
    total = sum(a.minutes for a in activities)
    return Program(
        id="tiny",
        title="Tiny program",
        version="2026.1",
        provider="Test provider",
        requirements={"online": total},
        category_of_kind={
            "reading": "online",
            "video": "online",
            "knowledge_check": "online",
            "reflection": "online",
        },
        competencies=("c01", "c02"),
        readiness=None,
        modules=(module,),
        source_path=HERE,
    )
