"""Who is in each demo course: the demo people and learners who never launch."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from lti_tool.sandbox.config import SandboxConfig
from lti_tool.sandbox.demo import PEOPLE, DemoCourse
from lti_tool.sandbox.vocab import Role


@dataclass(frozen=True)
class Enrolment:
    """One member of a course as the roster service lists them."""

    sub: str
    given_name: str
    family_name: str
    roles: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def is_learner(self) -> bool:
        """Only learners can be graded, as in Canvas."""
        return any(role.rsplit("#", 1)[-1] == "Learner" for role in self.roles)


def course_roster(config: SandboxConfig, course: DemoCourse) -> tuple[Enrolment, ...]:
    """The demo people (long role URIs, like Canvas), then extra learners.

    The extra learners carry short role names, as Moodle's roster service does,
    and a stable `sub`, so a test or a benchmark can credit them hours.
    """
    demo = tuple(
        Enrolment(
            person.sub,
            person.given_name,
            person.family_name,
            tuple(str(role) for role in person.roles if "/membership#" in str(role)),
        )
        for person in PEOPLE
    )
    extra = tuple(
        Enrolment(
            roster_sub(config, course.course_id, number),
            "Learner",
            f"{number:04d}",
            (Role.LEARNER.value.rsplit("#", 1)[-1],),
        )
        for number in range(1, config.roster_size + 1)
    )
    return demo + extra


def roster_sub(config: SandboxConfig, course_id: str, number: int) -> str:
    """The `sub` of the numbered extra learner of a course."""
    name = f"{config.issuer}/courses/{course_id}/learners/{number}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))
