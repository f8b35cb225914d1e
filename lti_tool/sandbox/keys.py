"""The sandbox's RSA signing key: created once on disk, published as a JWK."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SigningKey:
    """A private key with the `kid` and public JWK it is published under."""

    private_key: rsa.RSAPrivateKey
    kid: str
    public_jwk: dict[str, Any]


def load_or_create_key(path: Path) -> SigningKey:
    """Read the PEM key at `path`, generating it (mode 600) on first use."""
    if not path.exists():
        _create_key_file(path)

    _warn_if_readable_by_others(path)
    private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise ValueError(f"the sandbox key at {path} is not an RSA private key")

    return _signing_key(private_key)


def _create_key_file(path: Path) -> None:
    """Write a new key without ever exposing a partial or world-readable file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )

    # mkstemp creates the file with mode 600; linking it into place fails if
    # another process created the key first, and then its key wins.
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".sandbox-key-")
    try:
        with os.fdopen(handle, "wb") as temp_file:
            temp_file.write(pem)
        os.link(temp_name, path)
        logger.info("sandbox key created path=%s", path)
    except FileExistsError:
        pass
    finally:
        os.unlink(temp_name)


def _warn_if_readable_by_others(path: Path) -> None:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        logger.warning("sandbox key readable by others path=%s mode=%o", path, mode)


def _signing_key(private_key: rsa.RSAPrivateKey) -> SigningKey:
    public = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    kid = _thumbprint(public)
    # PyJWT adds key_ops, which RFC 7517 says not to combine with use.
    public_jwk = {
        "kty": "RSA",
        "n": public["n"],
        "e": public["e"],
        "kid": kid,
        "alg": "RS256",
        "use": "sig",
    }
    return SigningKey(private_key=private_key, kid=kid, public_jwk=public_jwk)


def _thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 thumbprint, so the kid stays stable across restarts."""
    members = {name: jwk[name] for name in ("e", "kty", "n")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
