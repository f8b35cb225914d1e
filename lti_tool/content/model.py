"""Immutable objects describing the training programs read from the content folder."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

KINDS: tuple[str, ...] = (
    "video",
    "reading",
    "reflection",
    "knowledge_check",
    "support_group",
    "internship",
    "shadowing",
    "paper",
)

# Completion rules each kind may use; the LTI core implements the rule names.
COMPLETION_RULES: Mapping[str, frozenset[str]] = {
    "video": frozenset({"watched_90"}),
    "reading": frozenset({"time_75"}),
    "reflection": frozenset({"accepted"}),
    "knowledge_check": frozenset({"pass_70"}),
    "support_group": frozenset({"attended"}),
    "internship": frozenset({"approved"}),
    "shadowing": frozenset({"approved"}),
    "paper": frozenset({"approved"}),
}

CATEGORIES: tuple[str, ...] = (
    "online",
    "support_group",
    "internship",
    "shadowing",
    "paper",
)


@dataclass(frozen=True)
class Competency:
    """One competency a program must train, such as a California core competency."""

    id: str
    framework: str
    number: int
    title: str


@dataclass(frozen=True)
class Question:
    """One multiple-choice item of a knowledge check."""

    question: str
    choices: tuple[str, ...]
    answer: int
    explanation: str


@dataclass(frozen=True)
class Activity:
    """One thing a learner does and gets hours for: a video, a reading, a log…"""

    program_id: str
    module_id: str
    id: str
    title: str
    kind: str
    minutes: int
    competencies: tuple[str, ...]
    completion: str
    body_markdown: str
    source_path: Path
    body_line: int = 1
    media: str | None = None
    captions: str | None = None
    prompt: str | None = None
    min_words: int | None = None
    questions: tuple[Question, ...] = ()
    pass_mark: float | None = None

    @property
    def key(self) -> str:
        """Return the program-wide reference `program/module/activity`."""
        return f"{self.program_id}/{self.module_id}/{self.id}"


@dataclass(frozen=True)
class Module:
    """An ordered group of activities on one theme."""

    program_id: str
    id: str
    title: str
    summary: str
    activities: tuple[Activity, ...]
    source_path: Path

    @property
    def planned_minutes(self) -> int:
        """Return the planned minutes of all activities in the module."""
        return sum(activity.minutes for activity in self.activities)

    def find_activity(self, activity_id: str) -> Activity | None:
        """Return the activity with this id, or None."""
        return next((a for a in self.activities if a.id == activity_id), None)


@dataclass(frozen=True)
class Readiness:
    """Share of one category's hours recommended before another category starts."""

    before: str
    of_category: str
    share: float


@dataclass(frozen=True)
class Program:
    """A certificate program: its hour rules and its ordered modules."""

    id: str
    title: str
    version: str
    provider: str
    requirements: Mapping[str, int]
    category_of_kind: Mapping[str, str]
    competencies: tuple[str, ...]
    readiness: Readiness | None
    modules: tuple[Module, ...]
    source_path: Path

    @property
    def required_minutes(self) -> int:
        """Return the minutes the whole program requires."""
        return sum(self.requirements.values())

    def activities(self) -> Iterator[Activity]:
        """Yield every activity in course order."""
        for module in self.modules:
            yield from module.activities

    def category_of(self, activity: Activity) -> str:
        """Return the hour category an activity's minutes count toward."""
        return self.category_of_kind[activity.kind]

    def planned_minutes_by_category(self) -> dict[str, int]:
        """Return planned minutes per hour category, listing every required one."""
        totals = dict.fromkeys(self.requirements, 0)
        for activity in self.activities():
            category = self.category_of(activity)
            totals[category] = totals.get(category, 0) + activity.minutes
        return totals

    def planned_minutes_by_competency(
        self, category: str | None = None
    ) -> dict[str, float]:
        """Return planned minutes per competency, splitting shared activities evenly."""
        totals = dict.fromkeys(self.competencies, 0.0)
        for activity in self.activities():
            if category is not None and self.category_of(activity) != category:
                continue
            share = activity.minutes / len(activity.competencies)
            for competency_id in activity.competencies:
                totals[competency_id] = totals.get(competency_id, 0.0) + share
        return totals

    def find_module(self, module_id: str) -> Module | None:
        """Return the module with this id, or None."""
        return next((m for m in self.modules if m.id == module_id), None)

    def find_activity(self, activity_id: str) -> Activity | None:
        """Return the activity with this id anywhere in the program, or None."""
        return next((a for a in self.activities() if a.id == activity_id), None)


@dataclass(frozen=True)
class Catalog:
    """Every program and competency found under one content root."""

    programs: Mapping[str, Program]
    competencies: Mapping[str, Competency]
    root: Path

    def program(self, program_id: str) -> Program:
        """Return the program with this id or raise KeyError."""
        return self.programs[program_id]

    def find_target(self, target: str) -> tuple[Program, Module | None] | None:
        """Resolve `pss` or `pss/<module_id>` to its program and module, or None."""
        program_id, _, module_id = target.strip().strip("/").partition("/")
        program = self.programs.get(program_id)
        if program is None:
            return None
        if not module_id:
            return program, None

        module = program.find_module(module_id)
        if module is None:
            return None
        return program, module
