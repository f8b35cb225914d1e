"""Migrations: one line of history that builds exactly the models, both ways."""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory

from lti_tool.migrate import alembic_config, upgrade


def test_single_head_matches_models_and_downgrades_cleanly(tmp_path):
    url = f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
    config = alembic_config(url)
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1

    upgrade(url)
    command.check(config)  # raises when the models and the schema differ
    command.downgrade(config, "base")
    upgrade(url)
    command.check(config)
