"""The data keys that encrypt participant work: creation, rotation, the CLI."""

from __future__ import annotations

import logging
import os
import stat

import pytest
from click.testing import CliRunner

from lti_tool.cli import main
from lti_tool.work.crypto import (
    DATA_KEY_FILE,
    DataKeyMissing,
    DataKeys,
    UnreadableCiphertext,
    generate_data_key,
    load_data_cipher,
    rotate_data_key,
)


def test_generated_key_is_private_and_encrypts(tmp_path):
    assert generate_data_key(tmp_path) is True
    assert generate_data_key(tmp_path) is False

    mode = stat.S_IMODE((tmp_path / DATA_KEY_FILE).stat().st_mode)
    assert mode == 0o600
    cipher = load_data_cipher(tmp_path)
    token = cipher.encrypt_text("a story of my own")
    assert b"story" not in token
    assert cipher.decrypt_text(token) == "a story of my own"
    assert cipher.decrypt_bytes(cipher.encrypt_bytes(b"%PDF-1.7")) == b"%PDF-1.7"


def test_rotation_keeps_old_text_readable(tmp_path):
    generate_data_key(tmp_path)
    old = load_data_cipher(tmp_path).encrypt_text("written before")

    assert rotate_data_key(tmp_path) == 2
    rotated = load_data_cipher(tmp_path)
    assert rotated.decrypt_text(old) == "written before"
    new = rotated.encrypt_text("written after")
    (tmp_path / DATA_KEY_FILE).write_text(
        (tmp_path / DATA_KEY_FILE).read_text().splitlines()[0] + "\n"
    )
    with pytest.raises(UnreadableCiphertext):
        load_data_cipher(tmp_path).decrypt_text(old)
    assert load_data_cipher(tmp_path).decrypt_text(new) == "written after"


def test_process_keys_follow_a_rotation(tmp_path):
    generate_data_key(tmp_path)
    keys = DataKeys(tmp_path)
    before = keys.cipher()
    assert keys.cipher() is before

    rotate_data_key(tmp_path)
    os.utime(tmp_path / DATA_KEY_FILE, (1, 1))  # a changed mtime, even within 1 s
    assert keys.cipher() is not before


def test_missing_key_says_how_to_create_it(tmp_path):
    with pytest.raises(DataKeyMissing, match="lti-tool keys generate"):
        DataKeys(tmp_path).cipher()
    with pytest.raises(DataKeyMissing):
        rotate_data_key(tmp_path)


def test_key_file_readable_by_others_is_reported(tmp_path, caplog):
    generate_data_key(tmp_path)
    (tmp_path / DATA_KEY_FILE).chmod(0o644)
    caplog.set_level(logging.ERROR)

    load_data_cipher(tmp_path)
    assert "problem=data_key_file_readable_by_others" in caplog.text


def test_cli_generates_and_rotates_the_data_key(tmp_path, monkeypatch):
    monkeypatch.setenv("LTI_TOOL_KEYS_DIR", str(tmp_path / "keys"))
    runner = CliRunner()

    refused = runner.invoke(main, ["keys", "rotate-data"])
    first = runner.invoke(main, ["keys", "generate"])
    again = runner.invoke(main, ["keys", "generate"])
    rotated = runner.invoke(main, ["keys", "rotate-data"])

    assert refused.exit_code != 0 and "lti-tool keys generate" in refused.output
    assert "data key: created" in first.output
    assert "data key: present" in again.output
    assert rotated.exit_code == 0 and "data keys kept: 2" in rotated.output
    lines = (tmp_path / "keys" / DATA_KEY_FILE).read_text().splitlines()
    assert len(lines) == 2
