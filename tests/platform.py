"""A test platform: its own RSA key, signed id_tokens, and a launch helper."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"


@dataclass
class SigningPlatform:
    """A platform the tests control, registered with the tool under test."""

    issuer: str = "https://lms.example.edu"
    client_id: str = "client-1"
    deployment_id: str = "deployment-1"
    kid: str = "platform-key-1"
    key: Any = field(
        default_factory=lambda: rsa.generate_private_key(
            public_exponent=65537, key_size=2048
        )
    )

    @property
    def key_set_url(self) -> str:
        return self.issuer + "/jwks"

    @property
    def auth_login_url(self) -> str:
        return self.issuer + "/auth"

    @property
    def auth_token_url(self) -> str:
        return self.issuer + "/token"

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return {"keys": [jwk]}

    def claims(self, nonce: str, /, **overrides: Any) -> dict[str, Any]:
        """A learner's resource-link launch into the PSS program."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": "user-" + uuid.uuid4().hex[:8],
            "iat": now,
            "exp": now + 60,
            "nonce": nonce,
            "name": "Alex Rivera",
            LTI + "message_type": "LtiResourceLinkRequest",
            LTI + "version": "1.3.0",
            LTI + "deployment_id": self.deployment_id,
            LTI + "target_link_uri": "http://localhost/lti/launch",
            LTI + "resource_link": {"id": "link-1", "title": "PSS"},
            LTI + "context": {"id": "course-1", "title": "PSS Cohort", "label": "PSS"},
            LTI + "roles": [LEARNER],
            LTI + "custom": {"target": "pss"},
        }
        for name, value in overrides.items():
            if value is None:
                payload.pop(name, None)
            else:
                payload[name] = value
        return payload

    def sign(
        self, payload: dict[str, Any], *, kid: str | None = None, key: Any = None
    ) -> str:
        return jwt.encode(
            payload,
            key or self.key,
            algorithm="RS256",
            headers={"kid": kid or self.kid},
        )


def auth_request_params(location: str) -> dict[str, str]:
    """The query of the authentication request the tool redirected to."""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
