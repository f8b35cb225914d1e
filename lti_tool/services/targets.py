"""What a resource link scores: a whole program, or one module of it."""

from __future__ import annotations

from dataclasses import dataclass

from lti_tool.content.model import Catalog, Module, Program


@dataclass(frozen=True)
class Target:
    """A program or one of its modules, with what its grade-book column holds."""

    program: Program
    module: Module | None

    @property
    def id(self) -> str:
        """`pss` or `pss/<module id>`: the resource id of its line item."""
        return f"{self.program.id}/{self.module.id}" if self.module else self.program.id

    @property
    def title(self) -> str:
        return self.module.title if self.module else self.program.title

    @property
    def activity_ids(self) -> frozenset[str] | None:
        """The module's activities; None for a whole program."""
        if self.module is None:
            return None
        return frozenset(activity.id for activity in self.module.activities)

    @property
    def planned_minutes(self) -> int:
        """A program's required minutes, or a module's planned minutes."""
        if self.module is not None:
            return self.module.planned_minutes
        return self.program.required_minutes

    @property
    def planned_hours(self) -> float:
        """The line item's scoreMaximum."""
        return round(self.planned_minutes / 60, 2)


def find_target(catalog: Catalog, target: str) -> Target | None:
    """The program or module a link's target names, or None."""
    found = catalog.find_target(target) if target else None
    return Target(*found) if found is not None else None
