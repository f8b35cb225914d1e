"""The lti-tool command line: platforms, keys, import files, clear errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from lti_tool.cli import main

MOODLE = [
    "--issuer", "https://moodle.example.edu",
    "--client-id", "abc",
    "--auth-login-url", "https://moodle.example.edu/mod/lti/auth.php",
    "--auth-token-url", "https://moodle.example.edu/mod/lti/token.php",
    "--key-set-url", "https://moodle.example.edu/mod/lti/certs.php",
]  # fmt: skip


@pytest.fixture
def run(database_url, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LTI_TOOL_DATABASE_URL", database_url)
    monkeypatch.setenv("LTI_TOOL_KEYS_DIR", str(tmp_path / "keys"))
    runner = CliRunner()

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_platform_add_list_show_remove(run):
    added = run(
        "platform", "add", *MOODLE, "--deployment-id", "1", "--deployment-id", "2"
    )
    assert added.exit_code == 0, added.output
    assert "deployments=2" in added.output

    listed = run("platform", "list")
    assert (
        "https://moodle.example.edu  client_id=abc  deployments=2  enabled"
        in listed.output
    )

    shown = run("platform", "show", "--issuer", "https://moodle.example.edu")
    assert (
        "key_set_url     https://moodle.example.edu/mod/lti/certs.php" in shown.output
    )
    assert "deployments     1, 2" in shown.output

    removed = run("platform", "remove", "--issuer", "https://moodle.example.edu",
                  "--client-id", "abc")  # fmt: skip
    assert removed.exit_code == 0
    assert run("platform", "list").output == ""


def test_platform_disable_and_enable(run):
    run("platform", "add", *MOODLE)
    who = ["--issuer", "https://moodle.example.edu", "--client-id", "abc"]

    disabled = run("platform", "disable", *who)
    assert disabled.exit_code == 0
    assert "refuse it within 30 s" in disabled.output
    assert run("platform", "list").output.rstrip().endswith("disabled")

    enabled = run("platform", "enable", *who)
    assert enabled.exit_code == 0
    assert run("platform", "list").output.rstrip().endswith("enabled")

    missing = run(
        "platform", "disable", "--issuer", "https://x.example", "--client-id", "q"
    )
    assert missing.exit_code == 1
    assert "no such registration" in missing.output


def test_two_clients_on_one_issuer_are_separate_registrations(run):
    canvas = [a.replace("moodle.example.edu", "canvas.instructure.com") for a in MOODLE]
    run("platform", "add", *canvas)
    other = list(canvas)
    other[other.index("abc")] = "def"
    run("platform", "add", *other)

    assert run("platform", "list").output.count("canvas.instructure.com") == 2
    shown = run("platform", "show", "--issuer", "https://canvas.instructure.com")
    assert shown.exit_code == 1
    assert "2 registrations have this issuer: name one with --client-id" in (
        shown.output
    )


def test_platform_add_refuses_non_http_urls(run):
    bad = list(MOODLE)
    bad[bad.index("--key-set-url") + 1] = "file:///etc/passwd"
    result = run("platform", "add", *bad)
    assert result.exit_code == 1
    assert "key_set_url must be an http(s) URL" in result.output


def test_import_example_file_shape(run, tmp_path):
    path = tmp_path / "platforms.toml"
    path.write_text(
        "[[platform]]\n"
        'issuer = "https://canvas.instructure.com"\n'
        'client_id = "170000000000123"\n'
        'auth_login_url = "https://sso.canvaslms.com/api/lti/authorize_redirect"\n'
        'auth_token_url = "https://sso.canvaslms.com/login/oauth2/token"\n'
        'key_set_url = "https://sso.canvaslms.com/api/lti/security/jwks"\n'
        'deployment_ids = ["3571:b81e"]\n'
    )
    assert run("platform", "import", str(path)).exit_code == 0
    assert run("platform", "import", str(path)).exit_code == 0
    assert "deployments=1" in run("platform", "list").output


def test_import_reports_missing_field(run, tmp_path):
    path = tmp_path / "platforms.toml"
    path.write_text('[[platform]]\nissuer = "https://x.example"\n')
    result = run("platform", "import", str(path))
    assert result.exit_code == 1
    assert "platform #1 is missing client_id" in result.output


def test_shipped_example_file_parses_when_uncommented(run, tmp_path):
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "config/platforms.example.toml"
    lines = [
        line[2:] if line.startswith("# ") and ("=" in line or "[[" in line) else line
        for line in example.read_text().splitlines()
    ]
    path = tmp_path / "platforms.toml"
    path.write_text("\n".join(lines))
    result = run("platform", "import", str(path))
    assert result.exit_code == 0, result.output
    assert run("platform", "list").output.count("\n") == 4


def test_keys_generate_and_rotate(run, tmp_path):
    first = run("keys", "generate").output.split()[-1]
    assert run("keys", "generate").output.split()[-1] == first

    rotated = run("keys", "rotate")
    new = rotated.output.splitlines()[0].split()[-1]
    assert new != first
    assert first in rotated.output and new in rotated.output
    index = json.loads((tmp_path / "keys" / "keys.json").read_text())
    assert index["current"] == new
    assert "BEGIN" not in rotated.output
