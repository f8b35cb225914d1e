"""Encryption at rest for what participants write: reflections, logs, papers.

The data keys live in `keys/reflections.key` (mode 600), one Fernet key per line,
newest first. The newest encrypts; every listed key decrypts, so after a rotation
rows written under an older key stay readable for as long as that key is kept.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

log = logging.getLogger(__name__)

DATA_KEY_FILE = "reflections.key"


class DataKeyMissing(RuntimeError):
    """No data key yet; `lti-tool keys generate` creates one."""


class UnreadableCiphertext(RuntimeError):
    """Stored text that none of the data keys decrypts (a key was dropped)."""


class DataCipher:
    """Encrypts with the newest data key, decrypts with any kept key."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise DataKeyMissing("the data key file holds no key")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def encrypt_text(self, text: str) -> bytes:
        return self._fernet.encrypt(text.encode("utf-8"))

    def decrypt_text(self, token: bytes) -> str:
        return self.decrypt_bytes(token).decode("utf-8")

    def encrypt_bytes(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt_bytes(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(bytes(token))
        except InvalidToken:
            raise UnreadableCiphertext("no data key decrypts this value") from None


def _key_path(folder: Path) -> Path:
    return folder / DATA_KEY_FILE


def _read_keys(path: Path) -> list[bytes]:
    return [line.strip().encode() for line in path.read_text().splitlines() if line]


def _write_keys(path: Path, keys: list[bytes]) -> None:
    # Written to a temporary file created with 600, then moved into place, so the
    # keys are never briefly readable by others nor half-written.
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write("".join(key.decode() + "\n" for key in keys))
    temporary.replace(path)


def load_data_cipher(folder: Path) -> DataCipher:
    """The cipher for the keys in `folder`; DataKeyMissing when there are none."""
    path = _key_path(folder)
    if not path.exists():
        raise DataKeyMissing(f"no data key in {folder}; run `lti-tool keys generate`")
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.error("config problem=data_key_file_readable_by_others path=%s", path)
    return DataCipher(_read_keys(path))


def generate_data_key(folder: Path) -> bool:
    """Create the data key file if there is none; True when it was created."""
    folder.mkdir(parents=True, exist_ok=True)
    path = _key_path(folder)
    if path.exists():
        return False
    _write_keys(path, [Fernet.generate_key()])
    log.info("data key created path=%s", path)
    return True


def rotate_data_key(folder: Path) -> int:
    """Put a new key first, keeping the old ones to decrypt; returns the key count."""
    path = _key_path(folder)
    if not path.exists():
        raise DataKeyMissing(f"no data key in {folder}; run `lti-tool keys generate`")
    keys = [Fernet.generate_key(), *_read_keys(path)]
    _write_keys(path, keys)
    log.info("data key rotated keys=%s", len(keys))
    return len(keys)


class DataKeys:
    """The data key file of one process, re-read when a rotation changes it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._mtime: float | None = None
        self._cipher: DataCipher | None = None

    def cipher(self) -> DataCipher:
        try:
            mtime = _key_path(self.folder).stat().st_mtime
        except FileNotFoundError:
            raise DataKeyMissing(
                f"no data key in {self.folder}; run `lti-tool keys generate`"
            ) from None
        if self._cipher is None or mtime != self._mtime:
            self._cipher = load_data_cipher(self.folder)
            self._mtime = mtime
        return self._cipher
