"""Tests for load_catalog and the model helpers, on the real content folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from lti_tool.content.loader import (
    ContentError,
    default_content_root,
    load_catalog,
    split_front_matter,
)
from lti_tool.content.model import Catalog

REPO_CONTENT = Path(__file__).resolve().parents[1] / "content"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    """Load the real content once for this module."""
    return load_catalog(REPO_CONTENT)


def test_both_programs_load(catalog: Catalog) -> None:
    assert sorted(catalog.programs) == ["pcfm", "pss"]
    assert catalog.program("pss").title == "Medi-Cal Peer Support Specialist Training"
    assert catalog.program("pcfm").version == "2026.1"


def test_pss_minutes_match_requirements_exactly(catalog: Catalog) -> None:
    pss = catalog.program("pss")

    assert pss.requirements == {"online": 4800, "internship": 1200}
    assert pss.planned_minutes_by_category() == {"online": 4800, "internship": 1200}


def test_pcfm_minutes_match_requirements_exactly(catalog: Catalog) -> None:
    pcfm = catalog.program("pcfm")
    expected = {"online": 1380, "support_group": 180, "shadowing": 720, "paper": 120}

    assert pcfm.requirements == expected
    assert pcfm.planned_minutes_by_category() == expected
    assert pcfm.required_minutes == 2400


def test_support_groups_count_as_online_only_in_pss(catalog: Catalog) -> None:
    assert catalog.program("pss").category_of_kind["support_group"] == "online"
    assert catalog.program("pcfm").category_of_kind["support_group"] == "support_group"


def test_pss_recommends_half_the_online_hours_before_internship(
    catalog: Catalog,
) -> None:
    readiness = catalog.program("pss").readiness

    assert readiness is not None
    assert (readiness.before, readiness.of_category, readiness.share) == (
        "internship",
        "online",
        0.5,
    )


def test_seventeen_core_competencies_are_numbered(catalog: Catalog) -> None:
    core = [c for c in catalog.competencies.values() if c.framework == "ca-core"]

    assert sorted(c.number for c in core) == list(range(1, 18))
    assert catalog.competencies["c17-digital-literacy"].title == "Digital literacy"


def test_pss_online_work_covers_every_core_competency(catalog: Catalog) -> None:
    pss = catalog.program("pss")
    online = pss.planned_minutes_by_competency("online")

    assert len(pss.competencies) == 17
    assert all(online[c] > 0 for c in pss.competencies)


def test_every_module_has_intro_reflection_and_short_check(catalog: Catalog) -> None:
    for program in catalog.programs.values():
        for module in program.modules:
            kinds = [a.kind for a in module.activities]
            checks = [a for a in module.activities if a.kind == "knowledge_check"]

            assert kinds[0] == "reading", module.id
            assert "reflection" in kinds, module.id
            assert any(3 <= len(c.questions) <= 5 for c in checks), module.id


def test_videos_have_transcripts_and_no_media_yet(catalog: Catalog) -> None:
    videos = [
        a
        for p in catalog.programs.values()
        for a in p.activities()
        if a.kind == "video"
    ]

    assert len(videos) >= 25
    for video in videos:
        assert video.media is None
        assert len(video.body_markdown.split()) >= 300, video.id


def test_main_readings_have_substance(catalog: Catalog) -> None:
    for program in catalog.programs.values():
        for module in program.modules:
            readings = [a for a in module.activities[1:] if a.kind == "reading"]
            for reading in readings:
                assert len(reading.body_markdown.split()) >= 300, reading.id


def test_reflections_and_checks_carry_their_fields(catalog: Catalog) -> None:
    for program in catalog.programs.values():
        for activity in program.activities():
            if activity.kind == "reflection":
                assert activity.prompt and activity.min_words, activity.id
            if activity.kind == "knowledge_check":
                assert activity.pass_mark == 0.7, activity.id
                assert all(0 <= q.answer < len(q.choices) for q in activity.questions)


def test_ids_do_not_depend_on_file_order(catalog: Catalog) -> None:
    for program in catalog.programs.values():
        for module in program.modules:
            assert not module.id[:1].isdigit()
            assert all(not a.id[:1].isdigit() for a in module.activities)


def test_activities_follow_file_name_order(catalog: Catalog) -> None:
    module = catalog.program("pss").modules[0]

    names = [a.source_path.name for a in module.activities]

    assert module.id == "getting-started"
    assert names == sorted(names)
    assert module.planned_minutes == sum(a.minutes for a in module.activities)


def test_find_target_resolves_program_and_module(catalog: Catalog) -> None:
    program_only = catalog.find_target("pss")
    with_module = catalog.find_target("pss/ethics-and-boundaries")

    assert program_only is not None and program_only[1] is None
    assert with_module is not None and with_module[1] is not None
    assert with_module[1].title == "Ethics and Professional Boundaries"


@pytest.mark.parametrize(
    "target", ["", "nope", "pss/nope", "pcfm/ethics-and-boundaries"]
)
def test_find_target_rejects_unknown_targets(catalog: Catalog, target: str) -> None:
    assert catalog.find_target(target) is None


def test_activity_key_names_program_module_and_activity(catalog: Catalog) -> None:
    activity = catalog.program("pss").find_activity("ethics-check")

    assert activity is not None
    assert activity.key == "pss/ethics-and-boundaries/ethics-check"


def test_split_front_matter_reports_body_line() -> None:
    parts = split_front_matter("---\nid: a\ntitle: b\n---\n# Body\n")

    assert parts == ("id: a\ntitle: b\n", "# Body\n", 5)
    assert split_front_matter("# no header\n") is None
    assert split_front_matter("---\nid: a\n") is None


def test_load_catalog_raises_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "competencies.yaml").write_text("frameworks: 3\n", encoding="utf-8")

    with pytest.raises(ContentError) as caught:
        load_catalog(tmp_path)

    assert caught.value.path == tmp_path / "competencies.yaml"
    assert caught.value.line == 1
    assert str(caught.value).endswith(":1: 'frameworks' must be a non-empty list")


def test_load_catalog_raises_for_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ContentError, match="content folder not found"):
        load_catalog(tmp_path / "missing")


def test_default_root_is_repo_content_unless_overridden(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("LTI_TOOL_CONTENT_DIR", raising=False)
    assert default_content_root() == REPO_CONTENT

    monkeypatch.setenv("LTI_TOOL_CONTENT_DIR", str(tmp_path))
    assert default_content_root() == tmp_path
