"""The record an OIDC login leaves for its launch, and the proof of the browser."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import TypeGuard


@dataclass(frozen=True)
class LoginState:
    """What the login promised: which registration, which nonce, which browser."""

    registration_id: int
    nonce: str
    # sha256 of a secret the browser holds, in a cookie and/or platform storage.
    browser_proof: str
    target_link_uri: str
    storage_target: str = ""
    # Origin of the platform's auth URL: the only origin platform storage may be.
    platform_origin: str = ""

    def to_record(self) -> str:
        """The stored form: what a launch must match first, so the store can check.

        The browser proof, the registration and the nonce lead the record: the
        store spends it only for a launch that matches all three (`record_prefix`).
        """
        return record_prefix(
            self.browser_proof, self.registration_id, self.nonce
        ) + json.dumps(asdict(self))

    @classmethod
    def from_record(cls, raw: str) -> LoginState:
        return cls(**json.loads(raw.split(" ", 3)[3]))


def record_prefix(browser_proof: str, registration_id: int, nonce: str) -> str:
    """How a stored login record starts, for this browser, registration and nonce.

    Our nonces are URL-safe base64, so a space cannot occur inside one: a token
    carrying another nonce never matches a longer or shorter one by accident.
    """
    return f"{browser_proof} {registration_id} {nonce} "


# States and nonces come from secrets.token_urlsafe: URL-safe base64, no spaces.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,128}")


def could_be_ours(value: object) -> TypeGuard[str]:
    """Whether a state or nonce has the shape of the ones logins issue."""
    return isinstance(value, str) and _TOKEN_SHAPE.fullmatch(value) is not None


def proof_of(browser_secret: str) -> str:
    """The hash kept server-side of the secret kept by the browser."""
    return hashlib.sha256(browser_secret.encode()).hexdigest()


def state_cookie_name(state: str) -> str:
    """One cookie per login, so two launches on one course page don't collide."""
    return "lti_state_" + hashlib.sha256(state.encode()).hexdigest()[:16]


def storage_key(state: str) -> str:
    """The platform-storage key under which the browser secret is kept."""
    return "lti_state_" + hashlib.sha256(state.encode()).hexdigest()[:16]
