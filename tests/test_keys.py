"""Tool keys: files with mode 600, rotation with a grace period, public JWKS only."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta

from lti_tool.lti.keys import KeyRing


def test_generate_writes_private_key_with_mode_600(tmp_path):
    ring = KeyRing(tmp_path, timedelta(days=14))
    kid = ring.generate()

    path = tmp_path / f"tool-{kid}.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys.json").stat().st_mode) == 0o600
    assert ring.generate() == kid


def test_jwks_has_public_parts_only(tmp_path):
    ring = KeyRing(tmp_path, timedelta(days=14))
    kid = ring.generate()

    jwks = ring.jwks()
    assert [key["kid"] for key in jwks["keys"]] == [kid]
    key = jwks["keys"][0]
    assert key["alg"] == "RS256" and key["use"] == "sig" and key["kty"] == "RSA"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


def test_rotation_keeps_old_key_published_during_grace(tmp_path):
    ring = KeyRing(tmp_path, timedelta(days=14))
    old = ring.generate()
    new = ring.rotate()

    assert ring.current().kid == new
    assert {k["kid"] for k in ring.jwks()["keys"]} == {old, new}


def test_rotation_drops_keys_past_grace(tmp_path):
    ring = KeyRing(tmp_path, timedelta(days=14))
    old = ring.generate()
    ring.rotate(now=datetime.now(UTC) - timedelta(days=30))
    latest = ring.rotate()

    published = {k.kid for k in ring.published()}
    assert old not in published
    assert latest in published
    assert not (tmp_path / f"tool-{old}.pem").exists()


def test_other_process_rotation_is_seen(tmp_path):
    serving = KeyRing(tmp_path, timedelta(days=14))
    serving.generate()
    first = serving.current().kid

    import os
    import time

    time.sleep(0.01)
    new = KeyRing(tmp_path, timedelta(days=14)).rotate()
    index = tmp_path / "keys.json"
    os.utime(index, (time.time() + 1, time.time() + 1))

    assert serving.current().kid == new != first


def test_jwks_endpoint_serves_public_keys(client, keys_dir):
    response = client.get("/.well-known/jwks.json")

    assert response.status_code == 200
    body = response.get_json()
    assert body["keys"] and all("d" not in key for key in body["keys"])
    index = json.loads((keys_dir / "keys.json").read_text())
    assert body["keys"][0]["kid"] == index["current"]
    assert "max-age" in response.headers["Cache-Control"]
