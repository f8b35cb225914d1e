"""The tool's own RSA keys: generation, rotation with a grace period, the JWKS.

Layout under the keys folder: `tool-<kid>.pem` per key (mode 600) and `keys.json`
naming the current key and when older ones were retired. Private keys are read
only to sign; the JWKS carries public numbers only.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

log = logging.getLogger(__name__)

INDEX_NAME = "keys.json"


class KeysMissing(RuntimeError):
    """The tool has no signing key yet; `lti-tool keys generate` makes one."""


@dataclass(frozen=True)
class ToolKey:
    kid: str
    private_pem: bytes
    retired_at: datetime | None

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK with kid, alg and use."""
        private = serialization.load_pem_private_key(self.private_pem, password=None)
        assert isinstance(private, rsa.RSAPrivateKey), "tool keys are RSA"
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return jwk


def _write_private(path: Path, data: bytes) -> None:
    # Create with 600 from the start so the key is never briefly world-readable.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _new_private_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class KeyRing:
    """The keys folder, re-read when another process rotates the keys."""

    def __init__(self, folder: Path, grace: timedelta) -> None:
        self.folder = folder
        self.grace = grace
        self._loaded_mtime: float | None = None
        self._keys: list[ToolKey] = []
        self._current: ToolKey | None = None

    @property
    def _index_path(self) -> Path:
        return self.folder / INDEX_NAME

    def _read_index(self) -> dict[str, Any]:
        if not self._index_path.exists():
            return {"current": None, "keys": {}}
        index: dict[str, Any] = json.loads(self._index_path.read_text())
        return index

    def _write_index(self, index: dict[str, Any]) -> None:
        temporary = self._index_path.with_suffix(".tmp")
        _write_private(temporary, json.dumps(index, indent=2).encode())
        temporary.replace(self._index_path)

    def _refresh(self) -> None:
        mtime = self._index_path.stat().st_mtime if self._index_path.exists() else None
        if mtime == self._loaded_mtime and self._keys:
            return
        index = self._read_index()
        keys = []
        for kid, meta in index["keys"].items():
            retired = meta.get("retired_at")
            keys.append(
                ToolKey(
                    kid=kid,
                    private_pem=(self.folder / f"tool-{kid}.pem").read_bytes(),
                    retired_at=datetime.fromisoformat(retired) if retired else None,
                )
            )
        self._keys = keys
        self._current = next((k for k in keys if k.kid == index["current"]), None)
        self._loaded_mtime = mtime

    def current(self) -> ToolKey:
        """The key that signs everything the tool sends."""
        self._refresh()
        if self._current is None:
            raise KeysMissing(
                f"no tool key in {self.folder}; run `lti-tool keys generate`"
            )
        return self._current

    def published(self, now: datetime | None = None) -> list[ToolKey]:
        """The current key and retired keys still inside their grace period."""
        self._refresh()
        now = now or datetime.now(UTC)
        return [
            key
            for key in self._keys
            if key.retired_at is None or now - key.retired_at < self.grace
        ]

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public key set served at /.well-known/jwks.json."""
        return {"keys": [key.public_jwk() for key in self.published()]}

    def generate(self) -> str:
        """Create the first key if there is none; returns the current kid."""
        self.folder.mkdir(parents=True, exist_ok=True)
        index = self._read_index()
        if index["current"]:
            return str(index["current"])
        return self._add_key(index)

    def rotate(self, now: datetime | None = None) -> str:
        """Make a new current key, retire the old one, drop keys past their grace."""
        now = now or datetime.now(UTC)
        self.folder.mkdir(parents=True, exist_ok=True)
        index = self._read_index()
        if index["current"]:
            index["keys"][index["current"]]["retired_at"] = now.isoformat()
        for kid, meta in list(index["keys"].items()):
            retired = meta.get("retired_at")
            if retired and now - datetime.fromisoformat(retired) >= self.grace:
                (self.folder / f"tool-{kid}.pem").unlink(missing_ok=True)
                del index["keys"][kid]
                log.info("tool key removed kid=%s", kid)
        return self._add_key(index, now)

    def _add_key(self, index: dict[str, Any], now: datetime | None = None) -> str:
        kid = secrets.token_urlsafe(12)
        _write_private(self.folder / f"tool-{kid}.pem", _new_private_pem())
        index["keys"][kid] = {
            "created_at": (now or datetime.now(UTC)).isoformat(),
            "retired_at": None,
        }
        index["current"] = kid
        self._write_index(index)
        self._loaded_mtime = None
        log.info("tool key created kid=%s", kid)
        return kid
