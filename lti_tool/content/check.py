"""Check the whole content folder and summarise planned hours."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token

from lti_tool.content.loader import ContentError, Problem, locate, read_catalog
from lti_tool.content.model import Activity, Catalog, Program


@dataclass(frozen=True)
class CheckReport:
    """Every problem found under a content root, plus the catalog as far as it read."""

    root: Path
    problems: tuple[Problem, ...]
    catalog: Catalog | None

    @property
    def ok(self) -> bool:
        """Return True when no problem was found."""
        return not self.problems

    def hours_table(self) -> str:
        """Return planned hours per program, category and competency as text."""
        if self.catalog is None:
            return ""
        sections = [
            _program_table(self.catalog, p) for p in self.catalog.programs.values()
        ]
        return "\n\n".join(sections)


def check_content(root: Path) -> CheckReport:
    """Load the content under root and collect every problem found in it."""
    problems: list[Problem] = []
    try:
        catalog = read_catalog(root, problems)
    except ContentError as exc:
        return CheckReport(root, (Problem(exc.path, exc.line, exc.message),), None)

    for program in catalog.programs.values():
        problems.extend(_check_hours(program))
        problems.extend(_check_coverage(program))
        for activity in program.activities():
            problems.extend(_check_links(activity))
            problems.extend(_check_media(activity))
    return CheckReport(root, tuple(sorted(set(problems))), catalog)


def _check_hours(program: Program) -> Iterator[Problem]:
    """Yield a problem for each category whose planned minutes miss the requirement."""
    planned = program.planned_minutes_by_category()
    for category, required in program.requirements.items():
        if planned[category] == required:
            continue
        line = locate(program.source_path, "requirements", category)
        message = (
            f"{category}: activities plan {planned[category]} min "
            f"({_hours(planned[category])} h) but {required} min "
            f"({_hours(required)} h) are required"
        )
        yield Problem(program.source_path, line, message)


def _check_coverage(program: Program) -> Iterator[Problem]:
    """Yield a problem for each listed competency that no activity trains."""
    covered = {c for activity in program.activities() for c in activity.competencies}
    for index, competency_id in enumerate(program.competencies):
        if competency_id not in covered:
            line = locate(program.source_path, "competencies", index)
            message = f"no activity covers competency {competency_id!r}"
            yield Problem(program.source_path, line, message)


def _check_links(activity: Activity) -> Iterator[Problem]:
    """Yield a problem for each relative link or image whose file does not exist."""
    tokens = MarkdownIt("commonmark").enable("table").parse(activity.body_markdown)
    for line_offset, target in _link_targets(tokens):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc or not parts.path:
            continue

        line = activity.body_line + line_offset
        if parts.path.startswith("/"):
            message = f"link {target!r} must be relative to this file"
            yield Problem(activity.source_path, line, message)
        elif not (activity.source_path.parent / unquote(parts.path)).exists():
            yield Problem(activity.source_path, line, f"broken link {target!r}")


def _link_targets(tokens: list[Token]) -> Iterator[tuple[int, str]]:
    """Yield (body line offset, href or src) for every link and image."""
    for block in tokens:
        if block.type != "inline" or block.map is None or not block.children:
            continue
        line = block.map[0]
        for child in block.children:
            if child.type in ("softbreak", "hardbreak"):
                line += 1
            target = child.attrGet("href") or child.attrGet("src")
            if child.type in ("link_open", "image") and isinstance(target, str):
                yield line, target


def _check_media(activity: Activity) -> Iterator[Problem]:
    """Yield a problem when a video's local media or captions file is missing."""
    folder = activity.source_path.parent
    for name in ("media", "captions"):
        reference = getattr(activity, name)
        if reference is None or urlsplit(reference).scheme:
            continue
        if not (folder / reference).is_file():
            line = locate(activity.source_path, name)
            yield Problem(
                activity.source_path, line, f"{name} file not found: {reference}"
            )


def _hours(minutes: float) -> str:
    """Format minutes as hours with two decimals."""
    return f"{minutes / 60:.2f}"


def _program_table(catalog: Catalog, program: Program) -> str:
    """Return the hours table of one program: categories, then competencies."""
    planned = program.planned_minutes_by_category()
    lines = [f"{program.id}: {program.title} (version {program.version})"]
    lines.append(f"  {'category':<36}{'planned h':>12}{'required h':>12}")
    for category, minutes in planned.items():
        required = program.requirements.get(category, 0)
        mark = "" if minutes == required else "  MISMATCH"
        lines.append(
            f"  {category:<36}{_hours(minutes):>12}{_hours(required):>12}{mark}"
        )

    # Crosswalks ask for hours per competency; activities tagged with several
    # competencies have their minutes split evenly so the columns add up.
    columns = {c: program.planned_minutes_by_competency(c) for c in planned}
    header = "".join(f"{c:>14}" for c in columns)
    lines.append(f"  {'competency (hours)':<36}{header}")
    for competency_id in program.planned_minutes_by_competency():
        known = "" if competency_id in catalog.competencies else "  UNKNOWN"
        cells = "".join(
            f"{_hours(col.get(competency_id, 0)):>14}" for col in columns.values()
        )
        lines.append(f"  {competency_id:<36}{cells}{known}")
    return "\n".join(lines)
