"""Tests for check_content and the `content check` command."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lti_tool.content.check import check_content
from lti_tool.content.cli import content
from lti_tool.content.model import KINDS

REPO_CONTENT = Path(__file__).resolve().parents[1] / "content"

COMPETENCIES = """\
frameworks:
  - id: demo-core
    title: Demo competencies
    competencies:
      - id: c01-hope
        number: 1
        title: Hope
      - id: c02-ethics
        number: 2
        title: Ethics
"""

PROGRAM = """\
id: demo
title: Demo program
version: "1"
provider: Demo provider
requirements:
  online: 1
  internship: 0.5
category_of_kind:
  video: online
  reading: online
  reflection: online
  knowledge_check: online
  internship: internship
competencies:
  - c01-hope
  - c02-ethics
"""

FILES = {
    "competencies.yaml": COMPETENCIES,
    "demo/program.yaml": PROGRAM,
    "demo/01-first/module.yaml": "id: first\ntitle: First\nsummary: The first.\n",
    "demo/01-first/01-intro.md": """\
---
id: intro
title: Introduction
kind: reading
minutes: 15
competencies: [c01-hope]
completion: time_75
---
# Welcome

See the [next part](02-video.md).
""",
    "demo/01-first/02-video.md": """\
---
id: video
title: A video
kind: video
minutes: 15
competencies: [c01-hope]
completion: watched_90
media: null
captions: null
---
Transcript text.
""",
    "demo/01-first/03-reflect.md": """\
---
id: reflect
title: Reflect
kind: reflection
minutes: 15
competencies: [c02-ethics]
completion: accepted
prompt: What did you learn?
min_words: 50
---
Write freely.
""",
    "demo/01-first/04-check.md": """\
---
id: check
title: Check
kind: knowledge_check
minutes: 15
competencies: [c02-ethics]
completion: pass_70
pass_mark: 0.7
questions:
  - question: Pick one
    choices: [a, b]
    answer: 1
    explanation: Because.
---
Answer.
""",
    "demo/02-field/module.yaml": "id: field\ntitle: Field\nsummary: Field work.\n",
    "demo/02-field/01-log.md": """\
---
id: log
title: Log
kind: internship
minutes: 30
competencies: [c01-hope, c02-ethics]
completion: approved
---
Log your hours.
""",
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Write a small, valid content tree and return its root."""
    for relative, text in FILES.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def replace(path: Path, old: str, new: str) -> Path:
    """Replace text in a fixture file, failing loudly if it is not there."""
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def messages(root: Path) -> list[str]:
    """Return every problem of the tree under root as `file:line: message`."""
    return [str(problem) for problem in check_content(root).problems]


def test_fixture_is_clean(root: Path) -> None:
    report = check_content(root)

    assert report.problems == ()
    assert report.catalog is not None
    assert report.catalog.program("demo").planned_minutes_by_category() == {
        "online": 60,
        "internship": 30,
    }


def test_real_content_checks_clean() -> None:
    report = check_content(REPO_CONTENT)

    assert [str(p) for p in report.problems] == []
    assert report.catalog is not None
    pss = report.catalog.program("pss")
    assert pss.planned_minutes_by_category() == {"online": 4800, "internship": 1200}
    assert "c17-digital-literacy" in report.hours_table()


def test_unknown_kind_is_reported(root: Path) -> None:
    path = replace(
        root / "demo/01-first/03-reflect.md", "kind: reflection", "kind: podcast"
    )

    expected = f"unknown kind 'podcast'; expected one of {', '.join(KINDS)}"
    assert f"{path}:4: {expected}" in messages(root)


def test_unknown_competency_is_reported(root: Path) -> None:
    path = replace(
        root / "demo/01-first/02-video.md", "[c01-hope]", "[c01-hope, c99-nope]"
    )

    assert f"{path}:6: unknown competency 'c99-nope'" in messages(root)


def test_duplicate_activity_id_is_reported(root: Path) -> None:
    path = replace(root / "demo/02-field/01-log.md", "id: log", "id: intro")

    expected = "duplicate activity id 'intro' (also in 01-first/01-intro.md)"
    assert f"{path}:2: {expected}" in messages(root)


def test_duplicate_module_id_is_reported(root: Path) -> None:
    path = replace(root / "demo/02-field/module.yaml", "id: field", "id: first")

    expected = "duplicate module id 'first' (also in 01-first/module.yaml)"
    assert f"{path}:1: {expected}" in messages(root)


def test_wrong_field_type_is_reported(root: Path) -> None:
    path = replace(root / "demo/01-first/01-intro.md", "minutes: 15", "minutes: ten")

    assert f"{path}:5: 'minutes' must be a whole number of at least 1" in messages(root)


def test_missing_field_points_at_front_matter(root: Path) -> None:
    path = replace(root / "demo/01-first/01-intro.md", "title: Introduction\n", "")

    assert f"{path}:1: missing 'title'" in messages(root)


def test_unknown_field_is_reported(root: Path) -> None:
    path = replace(
        root / "demo/01-first/01-intro.md", "minutes: 15", "minutes: 15\nprompt: x"
    )

    assert f"{path}:6: unknown field 'prompt'" in messages(root)


def test_invalid_yaml_is_reported_with_its_line(root: Path) -> None:
    path = replace(
        root / "demo/01-first/01-intro.md", "title: Introduction", "title: [oops"
    )

    problems = messages(root)

    assert any(p.startswith(f"{path}:4: invalid YAML") for p in problems)


def test_missing_front_matter_is_reported(root: Path) -> None:
    path = root / "demo/01-first/01-intro.md"
    path.write_text("# No header\n", encoding="utf-8")

    assert f"{path}:1: missing YAML front matter between --- lines" in messages(root)


def test_completion_rule_must_suit_kind(root: Path) -> None:
    path = replace(root / "demo/01-first/01-intro.md", "time_75", "pass_70")

    expected = "completion 'pass_70' does not suit reading; use time_75"
    assert f"{path}:7: {expected}" in messages(root)


def test_knowledge_check_answer_must_be_a_choice(root: Path) -> None:
    path = replace(root / "demo/01-first/04-check.md", "answer: 1", "answer: 2")

    assert f"{path}:12: answer 2 is not a choice index (0-1)" in messages(root)


def test_reflection_needs_prompt(root: Path) -> None:
    path = replace(
        root / "demo/01-first/03-reflect.md", "prompt: What did you learn?\n", ""
    )

    assert f"{path}:1: missing 'prompt'" in messages(root)


def test_broken_relative_link_is_reported(root: Path) -> None:
    path = replace(root / "demo/01-first/01-intro.md", "02-video.md", "99-missing.md")

    assert f"{path}:11: broken link '99-missing.md'" in messages(root)


def test_site_absolute_link_is_reported(root: Path) -> None:
    path = replace(root / "demo/01-first/01-intro.md", "(02-video.md)", "(/etc/passwd)")

    expected = "link '/etc/passwd' must be relative to this file"
    assert f"{path}:11: {expected}" in messages(root)


def test_external_and_anchor_links_are_not_checked(root: Path) -> None:
    replace(
        root / "demo/01-first/01-intro.md",
        "(02-video.md)",
        "(https://example.org/x) and [top](#welcome) and [mail](mailto:a@b.org)",
    )

    assert messages(root) == []


def test_video_with_media_needs_captions(root: Path) -> None:
    path = replace(root / "demo/01-first/02-video.md", "media: null", "media: clip.mp4")

    expected = "video with media needs 'captions' (a WebVTT file)"
    assert f"{path}:8: {expected}" in messages(root)


def test_video_media_file_must_exist(root: Path) -> None:
    path = root / "demo/01-first/02-video.md"
    replace(path, "media: null", "media: clip.mp4")
    replace(path, "captions: null", "captions: clip.vtt")
    (path.parent / "clip.vtt").write_text("WEBVTT\n", encoding="utf-8")

    assert messages(root) == [f"{path}:8: media file not found: clip.mp4"]


def test_video_captions_file_must_exist(root: Path) -> None:
    path = root / "demo/01-first/02-video.md"
    replace(path, "media: null", "media: https://vimeo.com/123")
    replace(path, "captions: null", "captions: clip.vtt")

    assert messages(root) == [f"{path}:9: captions file not found: clip.vtt"]


def test_video_media_must_be_mp4_or_known_host(root: Path) -> None:
    path = replace(
        root / "demo/01-first/02-video.md", "media: null", "media: http://evil.test/x"
    )

    expected = "media must be a relative .mp4 path or a YouTube/Vimeo URL"
    assert f"{path}:8: {expected}" in messages(root)


def test_hour_total_mismatch_points_at_requirement(root: Path) -> None:
    replace(root / "demo/01-first/01-intro.md", "minutes: 15", "minutes: 20")
    program = root / "demo/program.yaml"

    expected = (
        "online: activities plan 65 min (1.08 h) but 60 min (1.00 h) are required"
    )
    assert messages(root) == [f"{program}:6: {expected}"]


def test_uncovered_competency_is_reported(root: Path) -> None:
    for name in ("03-reflect.md", "04-check.md"):
        replace(root / "demo/01-first" / name, "[c02-ethics]", "[c01-hope]")
    replace(root / "demo/02-field/01-log.md", "[c01-hope, c02-ethics]", "[c01-hope]")
    program = root / "demo/program.yaml"

    assert messages(root) == [
        f"{program}:16: no activity covers competency 'c02-ethics'"
    ]


def test_kind_without_category_is_reported(root: Path) -> None:
    program = replace(root / "demo/program.yaml", "  internship: internship\n", "")
    path = root / "demo/02-field/01-log.md"

    problems = messages(root)

    assert f"{path}:4: kind 'internship' has no entry in category_of_kind" in problems
    assert any(p.startswith(f"{program}:") for p in problems)


def test_missing_module_yaml_is_reported(root: Path) -> None:
    (root / "demo/02-field/module.yaml").unlink()

    assert f"{root / 'demo/02-field/module.yaml'}:1: missing module.yaml" in messages(
        root
    )


def test_activity_file_without_order_prefix_is_reported(root: Path) -> None:
    path = root / "demo/01-first/notes.md"
    path.write_text("# stray\n", encoding="utf-8")

    expected = "activity file name must look like 'NN-slug.md'"
    assert messages(root) == [f"{path}:1: {expected}"]


def test_unknown_competency_in_program_is_reported(root: Path) -> None:
    program = replace(root / "demo/program.yaml", "  - c02-ethics\n", "  - c02-ethic\n")

    assert f"{program}:16: unknown competency 'c02-ethic'" in messages(root)


def test_every_problem_is_collected(root: Path) -> None:
    replace(root / "demo/01-first/02-video.md", "[c01-hope]", "[c99-nope]")
    replace(root / "demo/01-first/03-reflect.md", "kind: reflection", "kind: podcast")
    replace(root / "demo/01-first/01-intro.md", "02-video.md", "99-missing.md")

    assert len(messages(root)) >= 3


def test_cli_check_passes_and_prints_table(root: Path) -> None:
    result = CliRunner().invoke(content, ["check", "--root", str(root)])

    assert result.exit_code == 0, result.output
    assert "demo: Demo program (version 1)" in result.output
    assert "online" in result.output and "1.00" in result.output


def test_cli_check_fails_and_prints_problem(root: Path) -> None:
    path = replace(
        root / "demo/01-first/03-reflect.md", "kind: reflection", "kind: podcast"
    )

    result = CliRunner().invoke(content, ["check", "--root", str(root)])

    assert result.exit_code == 1
    assert f"{path}:4: unknown kind 'podcast'" in result.output


def test_cli_check_uses_environment_root(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LTI_TOOL_CONTENT_DIR", str(root))

    result = CliRunner().invoke(content, ["check"])

    assert result.exit_code == 0, result.output
    assert "demo: Demo program" in result.output


def test_cli_check_reports_missing_root(tmp_path: Path) -> None:
    result = CliRunner().invoke(content, ["check", "--root", str(tmp_path / "nope")])

    assert result.exit_code == 1
    assert "content folder not found" in result.output
