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


def test_field_hours_names_are_encrypted_in_place_and_back(tmp_path, monkeypatch):
    import sqlalchemy as sa

    from lti_tool.work.crypto import generate_data_key, load_data_cipher

    monkeypatch.setenv("LTI_TOOL_KEYS_DIR", str(tmp_path / "keys"))
    generate_data_key(tmp_path / "keys")
    cipher = load_data_cipher(tmp_path / "keys")
    url = f"sqlite:///{tmp_path / 'names.sqlite3'}"
    upgrade(url, "0007")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for statement in (
            "INSERT INTO registration (id, name, issuer, client_id, auth_login_url,"
            " auth_token_url, key_set_url, is_enabled, source, product_family,"
            " created_at) VALUES (1, '', 'https://lms.example.edu', 'c', 'https://a',"
            " 'https://t', 'https://k', 1, 'manual', '', '2026-12-01 10:00:00')",
            "INSERT INTO deployment (id, registration_id, deployment_id, created_at)"
            " VALUES (1, 1, 'd', '2026-12-01 10:00:00')",
            "INSERT INTO lti_user (id, issuer, sub, name, created_at)"
            " VALUES (1, 'https://lms.example.edu', 's', '', '2026-12-01 10:00:00')",
            "INSERT INTO context (id, deployment_pk, context_id, title, label,"
            " created_at) VALUES (1, 1, 'c', '', '', '2026-12-01 10:00:00')",
        ):
            connection.execute(sa.text(statement))
        connection.execute(
            sa.text(
                "INSERT INTO field_hours (id, user_id, context_pk, program_id,"
                " program_version, activity_id, worked_on, site, supervisor, minutes,"
                " description_encrypted, status, before_readiness, created_at,"
                " version) VALUES (1, 1, 1, 'pss', '1', 'a', '2026-12-01',"
                " 'Harbor Wellness Center', 'R. Gomez', 60, :d, 'submitted', 0,"
                " '2026-12-01 10:00:00', 1)"
            ),
            {"d": cipher.encrypt_text("what I did")},
        )

    upgrade(url)
    with engine.connect() as connection:
        row = connection.execute(
            sa.text("SELECT site_encrypted, supervisor_encrypted FROM field_hours")
        ).one()
    assert b"Harbor" not in bytes(row.site_encrypted)
    assert cipher.decrypt_text(row.site_encrypted) == "Harbor Wellness Center"
    assert cipher.decrypt_text(row.supervisor_encrypted) == "R. Gomez"

    command.downgrade(alembic_config(url), "0007")
    with engine.connect() as connection:
        back = connection.execute(sa.text("SELECT site, supervisor FROM field_hours"))
        assert back.one() == ("Harbor Wellness Center", "R. Gomez")
    engine.dispose()
