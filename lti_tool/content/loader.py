"""Read the content folder (YAML and Markdown files) into a Catalog."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from lti_tool.content.model import (
    CATEGORIES,
    COMPLETION_RULES,
    KINDS,
    Activity,
    Catalog,
    Competency,
    Module,
    Program,
    Question,
    Readiness,
)

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ORDERED_NAME = re.compile(r"^\d{2,3}-[a-z0-9]+(?:-[a-z0-9]+)*$")
VIDEO_HOSTS = frozenset(
    {"youtube.com", "www.youtube.com", "youtu.be", "vimeo.com", "player.vimeo.com"}
)

COMMON_FIELDS = frozenset({"id", "title", "kind", "minutes", "competencies"})
KIND_FIELDS: Mapping[str, frozenset[str]] = {
    "video": frozenset({"completion", "media", "captions"}),
    "reflection": frozenset({"completion", "prompt", "min_words"}),
    "knowledge_check": frozenset({"completion", "questions", "pass_mark"}),
}
REQUIRED_KIND_FIELDS: Mapping[str, frozenset[str]] = {
    "video": frozenset({"media"}),
    "reflection": frozenset({"prompt", "min_words"}),
    "knowledge_check": frozenset({"questions", "pass_mark"}),
}
PROGRAM_FIELDS = frozenset(
    {
        "id",
        "title",
        "version",
        "provider",
        "requirements",
        "category_of_kind",
        "competencies",
        "readiness",
        "description",
    }
)

Key = tuple[str | int, ...]


def default_content_root() -> Path:
    """Return the content folder: $LTI_TOOL_CONTENT_DIR or `content/` in the repo."""
    configured = os.environ.get("LTI_TOOL_CONTENT_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "content"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the content, pointing at a file and line."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"

    def describe(self, base: Path | None = None) -> str:
        """Return `file:line: message`, with the file relative to base if inside it."""
        path = self.path
        if base is not None and path.is_relative_to(base):
            path = path.relative_to(base)
        return f"{path}:{self.line}: {self.message}"


class ContentError(Exception):
    """The content folder cannot be loaded; names the file, line and problem."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message


@dataclass
class YamlDoc:
    """Parsed YAML plus the file line of every mapping key and list item."""

    path: Path
    data: Any
    lines: dict[Key, int] = field(default_factory=dict)
    first_line: int = 1

    def line(self, *key: str | int) -> int:
        """Return the line of the nearest existing key on this path."""
        path: Key = tuple(key)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.first_line


def load_catalog(root: Path) -> Catalog:
    """Load every program under root, raising ContentError on the first problem."""
    problems: list[Problem] = []
    catalog = read_catalog(root, problems)
    if problems:
        first = min(problems)
        raise ContentError(first.path, first.line, first.message)
    return catalog


def read_catalog(root: Path, problems: list[Problem]) -> Catalog:
    """Read what can be read under root, appending every problem found."""
    if not root.is_dir():
        raise ContentError(root, 0, "content folder not found")

    competencies = _read_competencies(root / "competencies.yaml", problems)
    programs: dict[str, Program] = {}
    for program_dir in sorted(p.parent for p in root.glob("*/program.yaml")):
        program = _read_program(program_dir, competencies, problems)
        if program is None:
            continue
        if program.id in programs:
            _add(
                problems, program.source_path, 1, f"duplicate program id {program.id!r}"
            )
            continue
        programs[program.id] = program

    return Catalog(programs=programs, competencies=competencies, root=root)


def locate(path: Path, *key: str | int) -> int:
    """Return the line of a key in a YAML file or front matter, or 1."""
    doc = _read_doc(path, [])
    return doc.line(*key) if doc is not None else 1


def _add(problems: list[Problem], path: Path, line: int, message: str) -> None:
    problems.append(Problem(path, line, message))


# --------------------------------------------------------------------------- YAML


def _parse_yaml(
    path: Path, text: str, first_line: int, problems: list[Problem]
) -> YamlDoc | None:
    """Parse YAML text that starts at first_line of path, recording key lines."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = first_line + (mark.line if mark else 0)
        _add(problems, path, line, f"invalid YAML: {exc.problem or exc.context}")
        return None

    doc = YamlDoc(path=path, data=data, first_line=max(first_line - 1, 1))
    if node is not None:
        _record_lines(node, (), first_line, doc.lines)
    return doc


def _record_lines(
    node: yaml.Node, key: Key, first_line: int, out: dict[Key, int]
) -> None:
    """Walk a composed YAML node tree, storing the line of each key and item."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*key, str(key_node.value))
            out[child] = first_line + key_node.start_mark.line
            _record_lines(value_node, child, first_line, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*key, index)
            out[child] = first_line + item.start_mark.line
            _record_lines(item, child, first_line, out)


def split_front_matter(text: str) -> tuple[str, str, int] | None:
    """Split `---` front matter from a Markdown text: (yaml, body, body_line)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != "---":
        return None

    for index in range(1, len(lines)):
        if lines[index].rstrip() == "---":
            front = "".join(lines[1:index])
            body = "".join(lines[index + 1 :])
            return front, body, index + 2
    return None


def _read_doc(path: Path, problems: list[Problem]) -> YamlDoc | None:
    """Read a .yaml file, or the front matter of a .md file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _add(problems, path, 1, f"cannot read file: {exc}")
        return None

    if path.suffix != ".md":
        return _parse_yaml(path, text, 1, problems)

    parts = split_front_matter(text)
    if parts is None:
        _add(problems, path, 1, "missing YAML front matter between --- lines")
        return None
    return _parse_yaml(path, parts[0], 2, problems)


def _mapping_doc(path: Path, problems: list[Problem]) -> YamlDoc | None:
    """Read a YAML document that must be a mapping."""
    doc = _read_doc(path, problems)
    if doc is None:
        return None
    if not isinstance(doc.data, dict):
        _add(problems, path, doc.first_line, "expected a mapping of fields")
        return None
    return doc


# --------------------------------------------------------------------- field checks


class _Fields:
    """Typed access to one YAML mapping that records a problem for each bad field."""

    def __init__(
        self, doc: YamlDoc, problems: list[Problem], data: Any = None, key: Key = ()
    ) -> None:
        self.doc = doc
        self.problems = problems
        self.data: dict[str, Any] = data if data is not None else doc.data
        self.key = key

    def error(self, name: str | int, message: str) -> None:
        """Record a problem at the line of one field."""
        _add(self.problems, self.doc.path, self.doc.line(*self.key, name), message)

    def allow_only(self, allowed: frozenset[str]) -> None:
        """Record every field that is not in allowed."""
        for name in self.data:
            if name not in allowed:
                self.error(str(name), f"unknown field {name!r}")

    def present(self, name: str) -> bool:
        """Return True if the field exists; record a problem otherwise."""
        if name in self.data:
            return True
        _add(
            self.problems, self.doc.path, self.doc.line(*self.key), f"missing {name!r}"
        )
        return False

    def text(self, name: str) -> str | None:
        """Return a required non-empty string field."""
        if not self.present(name):
            return None
        value = self.data[name]
        if not isinstance(value, str) or not value.strip():
            self.error(name, f"{name!r} must be a non-empty string")
            return None
        return value.strip()

    def slug(self, name: str) -> str | None:
        """Return a required lowercase-hyphenated identifier."""
        value = self.text(name)
        if value is not None and not SLUG.match(value):
            self.error(
                name, f"{name!r} must be a lowercase slug like 'a-b-1', not {value!r}"
            )
            return None
        return value

    def integer(self, name: str, minimum: int) -> int | None:
        """Return a required integer field of at least minimum."""
        if not self.present(name):
            return None
        value = self.data[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.error(name, f"{name!r} must be a whole number of at least {minimum}")
            return None
        return value

    def number(self, name: str, low: float, high: float) -> float | None:
        """Return a required number with low < value <= high."""
        if not self.present(name):
            return None
        value = self.data[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(name, f"{name!r} must be a number")
            return None
        if not low < value <= high:
            self.error(name, f"{name!r} must be above {low} and at most {high}")
            return None
        return float(value)

    def text_list(self, name: str) -> tuple[str, ...] | None:
        """Return a required non-empty list of strings."""
        if not self.present(name):
            return None
        value = self.data[name]
        if not isinstance(value, list) or not value:
            self.error(name, f"{name!r} must be a non-empty list")
            return None
        if not all(isinstance(item, str) and item.strip() for item in value):
            self.error(name, f"{name!r} must list non-empty strings")
            return None
        return tuple(item.strip() for item in value)

    def mapping(self, name: str) -> dict[str, Any] | None:
        """Return a required non-empty mapping field."""
        if not self.present(name):
            return None
        value = self.data[name]
        if not isinstance(value, dict) or not value:
            self.error(name, f"{name!r} must be a non-empty mapping")
            return None
        return value

    def nested(self, name: str | int, data: dict[str, Any]) -> _Fields:
        """Return field access for a mapping nested under name."""
        return _Fields(self.doc, self.problems, data, (*self.key, name))


# --------------------------------------------------------------------- competencies


def _read_competencies(path: Path, problems: list[Problem]) -> dict[str, Competency]:
    """Read competencies.yaml: frameworks, each with numbered competencies."""
    if not path.is_file():
        _add(problems, path, 1, "missing competencies.yaml")
        return {}
    doc = _mapping_doc(path, problems)
    if doc is None:
        return {}

    top = _Fields(doc, problems)
    frameworks = top.data.get("frameworks")
    if not isinstance(frameworks, list) or not frameworks:
        top.error("frameworks", "'frameworks' must be a non-empty list")
        return {}

    found: dict[str, Competency] = {}
    for index, entry in enumerate(frameworks):
        if not isinstance(entry, dict):
            top.error("frameworks", "each framework must be a mapping")
            continue
        _read_framework(top.nested("frameworks", {}).nested(index, entry), found)
    return found


def _read_framework(fields: _Fields, found: dict[str, Competency]) -> None:
    """Add one framework's competencies to found, flagging duplicate ids."""
    framework_id = fields.slug("id")
    fields.text("title")
    items = fields.data.get("competencies")
    if not isinstance(items, list) or not items:
        fields.error("competencies", "'competencies' must be a non-empty list")
        return

    for index, item in enumerate(items):
        if not isinstance(item, dict):
            fields.nested("competencies", {}).error(index, "expected a mapping")
            continue
        item_fields = fields.nested("competencies", {}).nested(index, item)
        competency_id = item_fields.slug("id")
        number = item_fields.integer("number", 1)
        title = item_fields.text("title")
        if None in (framework_id, competency_id, number, title):
            continue
        if competency_id in found:
            item_fields.error("id", f"duplicate competency id {competency_id!r}")
            continue
        found[str(competency_id)] = Competency(
            str(competency_id), str(framework_id), int(str(number)), str(title)
        )


# -------------------------------------------------------------------------- program


def _read_program(
    program_dir: Path, competencies: Mapping[str, Competency], problems: list[Problem]
) -> Program | None:
    """Read program.yaml and the program's module folders."""
    doc = _mapping_doc(program_dir / "program.yaml", problems)
    if doc is None:
        return None

    fields = _Fields(doc, problems)
    header = _read_program_header(fields, competencies)
    # Readiness is optional; an invalid one is reported and then left out.
    readiness = _read_readiness(fields, header["requirements"])
    context = _ProgramContext(header["id"] or program_dir.name, competencies, problems)
    modules = _read_modules(program_dir, context)
    modules = _drop_unmapped_kinds(modules, header["category_of_kind"], problems)
    if None in header.values():
        return None
    return Program(**header, readiness=readiness, modules=modules, source_path=doc.path)


def _read_program_header(
    fields: _Fields, competencies: Mapping[str, Competency]
) -> dict[str, Any]:
    """Read the required program fields; a value is None when its field is invalid."""
    fields.allow_only(PROGRAM_FIELDS)
    requirements = _read_requirements(fields)
    return {
        "id": fields.slug("id"),
        "title": fields.text("title"),
        "version": fields.text("version"),
        "provider": fields.text("provider"),
        "requirements": requirements,
        "category_of_kind": _read_category_map(fields, requirements),
        "competencies": _known_competencies(fields, "competencies", competencies),
    }


def _read_requirements(fields: _Fields) -> dict[str, int]:
    """Read required hours per category and return them in whole minutes."""
    raw = fields.mapping("requirements") or {}
    minutes: dict[str, int] = {}
    nested = fields.nested("requirements", raw)
    for category, hours in raw.items():
        if category not in CATEGORIES:
            nested.error(category, f"unknown hour category {category!r}")
            continue
        valid = isinstance(hours, int | float) and not isinstance(hours, bool)
        if not valid or hours <= 0 or round(hours * 60) != hours * 60:
            nested.error(category, f"hours for {category!r} must be a positive number")
            continue
        minutes[category] = round(hours * 60)
    return minutes


def _read_category_map(
    fields: _Fields, requirements: Mapping[str, int]
) -> dict[str, str]:
    """Read which hour category each activity kind counts toward."""
    raw = fields.mapping("category_of_kind") or {}
    nested = fields.nested("category_of_kind", raw)
    mapping: dict[str, str] = {}
    for kind, category in raw.items():
        if kind not in KINDS:
            nested.error(kind, f"unknown kind {kind!r}")
        elif category not in requirements:
            nested.error(kind, f"{kind!r} maps to {category!r}, which has no hours")
        else:
            mapping[kind] = category
    return mapping


def _read_readiness(
    fields: _Fields, requirements: Mapping[str, int]
) -> Readiness | None:
    """Read the optional recommended share of work done before field work."""
    raw = fields.data.get("readiness")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        fields.error("readiness", "'readiness' must be a mapping")
        return None

    nested = fields.nested("readiness", raw)
    before, of_category = nested.text("before"), nested.text("of")
    share = nested.number("share", 0.0, 1.0)
    for name, category in (("before", before), ("of", of_category)):
        if category is not None and category not in requirements:
            nested.error(name, f"{category!r} is not a required hour category")
            return None
    if before is None or of_category is None or share is None:
        return None
    return Readiness(before=before, of_category=of_category, share=share)


def _known_competencies(
    fields: _Fields, name: str, competencies: Mapping[str, Competency]
) -> tuple[str, ...] | None:
    """Return a list of competency ids, recording each id that is not known."""
    ids = fields.text_list(name)
    if ids is None:
        return None
    seen: set[str] = set()
    for index, competency_id in enumerate(ids):
        if competency_id not in competencies:
            fields.nested(name, {}).error(
                index, f"unknown competency {competency_id!r}"
            )
        elif competency_id in seen:
            fields.nested(name, {}).error(index, f"competency {competency_id!r} twice")
        seen.add(competency_id)
    return ids


def _drop_unmapped_kinds(
    modules: tuple[Module, ...],
    category_of_kind: Mapping[str, str],
    problems: list[Problem],
) -> tuple[Module, ...]:
    """Report and leave out activities whose kind has no hour category."""
    kept: list[Module] = []
    for module in modules:
        for activity in module.activities:
            if activity.kind not in category_of_kind:
                line = locate(activity.source_path, "kind")
                message = f"kind {activity.kind!r} has no entry in category_of_kind"
                _add(problems, activity.source_path, line, message)

        # A loaded Program must be able to place every activity in a category.
        mapped = tuple(a for a in module.activities if a.kind in category_of_kind)
        kept.append(replace(module, activities=mapped))
    return tuple(kept)


# -------------------------------------------------------------------------- modules


@dataclass
class _ProgramContext:
    """What module and activity readers need to know about their program."""

    program_id: str
    competencies: Mapping[str, Competency]
    problems: list[Problem]
    module_ids: dict[str, Path] = field(default_factory=dict)
    activity_ids: dict[str, Path] = field(default_factory=dict)


def _read_modules(program_dir: Path, context: _ProgramContext) -> tuple[Module, ...]:
    """Read module folders (`NN-slug`) in name order."""
    modules: list[Module] = []
    for module_dir in sorted(p for p in program_dir.iterdir() if p.is_dir()):
        if not ORDERED_NAME.match(module_dir.name):
            continue
        module = _read_module(module_dir, context)
        if module is not None:
            modules.append(module)
    return tuple(modules)


def _read_module(module_dir: Path, context: _ProgramContext) -> Module | None:
    """Read module.yaml and the module's activity files."""
    path = module_dir / "module.yaml"
    if not path.is_file():
        _add(context.problems, path, 1, "missing module.yaml")
        return None
    doc = _mapping_doc(path, context.problems)
    if doc is None:
        return None

    fields = _Fields(doc, context.problems)
    fields.allow_only(frozenset({"id", "title", "summary"}))
    module_id = _claim_id(fields, "module", context.module_ids)
    title, summary = fields.text("title"), fields.text("summary")
    activities = _read_activities(module_dir, module_id or module_dir.name, context)
    if not activities:
        _add(context.problems, path, 1, "module has no activity files")
    if module_id is None or title is None or summary is None:
        return None
    return Module(context.program_id, module_id, title, summary, activities, path)


def _claim_id(fields: _Fields, noun: str, taken: dict[str, Path]) -> str | None:
    """Read the `id` slug and reserve it, reporting an id already used elsewhere."""
    new_id = fields.slug("id")
    if new_id is None:
        return None
    if new_id in taken:
        first = taken[new_id]
        where = f"{first.parent.name}/{first.name}"
        fields.error("id", f"duplicate {noun} id {new_id!r} (also in {where})")
        return None

    taken[new_id] = fields.doc.path
    return new_id


def _read_activities(
    module_dir: Path, module_id: str, context: _ProgramContext
) -> tuple[Activity, ...]:
    """Read every `NN-slug.md` file of a module in name order."""
    activities: list[Activity] = []
    for path in sorted(module_dir.glob("*.md")):
        if not ORDERED_NAME.match(path.stem):
            _add(
                context.problems,
                path,
                1,
                "activity file name must look like 'NN-slug.md'",
            )
            continue
        activity = _read_activity(path, module_id, context)
        if activity is not None:
            activities.append(activity)
    return tuple(activities)


# ------------------------------------------------------------------------ activities


def _read_activity(
    path: Path, module_id: str, context: _ProgramContext
) -> Activity | None:
    """Read one activity file: front matter fields plus the Markdown body."""
    doc = _mapping_doc(path, context.problems)
    if doc is None:
        return None
    text = path.read_text(encoding="utf-8")
    _front, body, body_line = split_front_matter(text) or ("", "", 1)

    fields = _Fields(doc, context.problems)
    common = _read_common(fields, context)
    kind = common["kind"]
    if kind is None:
        return None
    fields.allow_only(COMMON_FIELDS | KIND_FIELDS.get(kind, frozenset({"completion"})))
    common["completion"] = _read_completion(fields, kind)
    extra = _read_kind_fields(fields, kind, body)
    if None in common.values() or extra is None:
        return None

    source: dict[str, Any] = {"body_markdown": body, "source_path": path}
    source["body_line"] = body_line
    return Activity(context.program_id, module_id, **common, **source, **extra)


def _read_common(fields: _Fields, context: _ProgramContext) -> dict[str, Any]:
    """Read the fields every activity has; a value is None when it is invalid."""
    activity_id = _claim_id(fields, "activity", context.activity_ids)
    kind = fields.text("kind")
    if kind is not None and kind not in KINDS:
        expected = ", ".join(KINDS)
        fields.error("kind", f"unknown kind {kind!r}; expected one of {expected}")
        kind = None
    return {
        "id": activity_id,
        "title": fields.text("title"),
        "kind": kind,
        "minutes": fields.integer("minutes", 1),
        "competencies": _known_competencies(
            fields, "competencies", context.competencies
        ),
    }


def _read_completion(fields: _Fields, kind: str) -> str | None:
    """Read the completion rule and check that it suits the kind."""
    rule = fields.text("completion")
    allowed = COMPLETION_RULES[kind]
    if rule is not None and rule not in allowed:
        expected = ", ".join(sorted(allowed))
        fields.error(
            "completion", f"completion {rule!r} does not suit {kind}; use {expected}"
        )
        return None
    return rule


def _read_kind_fields(fields: _Fields, kind: str, body: str) -> dict[str, Any] | None:
    """Read the fields only some kinds have; None if any of them is invalid."""
    for name in sorted(REQUIRED_KIND_FIELDS.get(kind, frozenset())):
        if not fields.present(name):
            return None
    if kind == "video":
        return _read_video(fields, body)
    if kind == "reflection":
        prompt, min_words = fields.text("prompt"), fields.integer("min_words", 1)
        if prompt is None or min_words is None:
            return None
        return {"prompt": prompt, "min_words": min_words}
    if kind == "knowledge_check":
        return _read_knowledge_check(fields)
    return {}


def _read_video(fields: _Fields, body: str) -> dict[str, Any] | None:
    """Read media and captions; a video with media must have WebVTT captions."""
    media, captions = fields.data.get("media"), fields.data.get("captions")
    if not body.strip():
        fields.error("media", "video needs its full transcript as the Markdown body")
        return None
    if media is None:
        return {
            "media": None,
            "captions": captions if isinstance(captions, str) else None,
        }
    if not isinstance(media, str) or not _is_media_reference(media):
        fields.error(
            "media", "media must be a relative .mp4 path or a YouTube/Vimeo URL"
        )
        return None

    if not isinstance(captions, str) or not captions.strip():
        fields.error("media", "video with media needs 'captions' (a WebVTT file)")
        return None
    if not captions.endswith(".vtt"):
        fields.error("captions", "captions must be a WebVTT file ending in .vtt")
        return None
    return {"media": media, "captions": captions}


def _is_media_reference(media: str) -> bool:
    """Return True for a relative .mp4 path or an https YouTube/Vimeo address."""
    parts = urlsplit(media)
    if parts.scheme:
        return parts.scheme == "https" and parts.hostname in VIDEO_HOSTS
    return media.endswith(".mp4") and not media.startswith("/")


def _read_knowledge_check(fields: _Fields) -> dict[str, Any] | None:
    """Read the questions and pass mark of a knowledge check."""
    pass_mark = fields.number("pass_mark", 0.0, 1.0)
    raw = fields.data["questions"]
    if not isinstance(raw, list) or not raw:
        fields.error("questions", "'questions' must be a non-empty list")
        return None

    questions = [
        _read_question(fields.nested("questions", {}), i, q) for i, q in enumerate(raw)
    ]
    if pass_mark is None or any(q is None for q in questions):
        return None
    return {"questions": tuple(q for q in questions if q), "pass_mark": pass_mark}


def _read_question(parent: _Fields, index: int, raw: Any) -> Question | None:
    """Read one question: text, two or more choices, answer index, explanation."""
    if not isinstance(raw, dict):
        parent.error(index, "each question must be a mapping")
        return None

    fields = parent.nested(index, raw)
    fields.allow_only(frozenset({"question", "choices", "answer", "explanation"}))
    question, explanation = fields.text("question"), fields.text("explanation")
    choices, answer = fields.text_list("choices"), fields.integer("answer", 0)
    if choices is not None and len(choices) < 2:
        fields.error("choices", "a question needs at least two choices")
        return None
    if choices is not None and answer is not None and answer >= len(choices):
        fields.error(
            "answer", f"answer {answer} is not a choice index (0-{len(choices) - 1})"
        )
        return None
    if question is None or explanation is None or choices is None or answer is None:
        return None
    return Question(question, choices, answer, explanation)
