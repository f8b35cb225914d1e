"""What a visit may open: the program or module its resource link points at."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from lti_tool.content.model import Activity, Module, Program
from lti_tool.hours.ledger import Participant
from lti_tool.launches import Visit
from lti_tool.lti.errors import NotPermitted


@dataclass(frozen=True)
class Scope:
    """The program of a visit and, for a module link, the one module."""

    program: Program
    module: Module | None

    def modules(self) -> tuple[Module, ...]:
        return (self.module,) if self.module else self.program.modules

    def activities(self) -> list[Activity]:
        return [a for m in self.modules() for a in m.activities]

    def allows(self, activity: Activity) -> bool:
        return any(m.id == activity.module_id for m in self.modules())

    def neighbours(self, activity: Activity) -> tuple[Activity | None, Activity | None]:
        """The previous and next activity in reading order, within the scope."""
        ordered = self.activities()
        index = next(i for i, a in enumerate(ordered) if a.id == activity.id)
        previous = ordered[index - 1] if index > 0 else None
        following = ordered[index + 1] if index + 1 < len(ordered) else None
        return previous, following


def find_scope(visit: Visit) -> Scope | None:
    """The scope of a visit, or None when its link has no target yet."""
    target = visit.resource_link.target if visit.resource_link else ""
    found = current_app.extensions["catalog"].find_target(target) if target else None
    if found is None:
        return None
    program, module = found
    return Scope(program, module)


def get_scope(visit: Visit, program_id: str) -> Scope:
    """The visit's scope, which must be the named program."""
    scope = find_scope(visit)
    if scope is None or scope.program.id != program_id:
        raise NotPermitted("this program is not the one your course link opens")
    return scope


def get_activity(scope: Scope, activity_id: str) -> Activity:
    """An activity inside the scope; NotPermitted for anything else."""
    activity = scope.program.find_activity(activity_id)
    if activity is None or not scope.allows(activity):
        raise NotPermitted("that activity is not part of what your course link opens")
    return activity


def participant(visit: Visit) -> Participant:
    return Participant(visit.user.id, visit.context.id)
