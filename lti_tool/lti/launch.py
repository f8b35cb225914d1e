"""Validating an LTI 1.3 launch (id_token) completely, step by step.

Each step fails with its own LaunchError subclass so the user sees what went
wrong and the log carries a reason code. The required-claims checks for each
message type come from pylti1p3's message validators.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from typing import Any

import jwt
from pylti1p3.message_validators import get_validators

from lti_tool.lti import claims
from lti_tool.lti.directory import PlatformRegistration, RegistrationDirectory
from lti_tool.lti.errors import (
    BadSignature,
    BadToken,
    DisabledPlatform,
    ExpiredToken,
    LaunchError,
    RegistrationChanged,
    ReplayedLaunch,
    StateMismatch,
    UnknownDeployment,
    UnknownPlatform,
    WrongAudience,
    WrongMessage,
)
from lti_tool.lti.platform_keys import PlatformKeys
from lti_tool.lti.state import LoginState, could_be_ours, proof_of, record_prefix
from lti_tool.lti.store import SharedStore

SUPPORTED_MESSAGES = {claims.RESOURCE_LINK_REQUEST, claims.DEEP_LINKING_REQUEST}
SIGNING_ALGORITHMS = ["RS256", "RS384", "RS512"]


@dataclass(frozen=True)
class ValidatedLaunch:
    """A launch whose every check passed."""

    registration: PlatformRegistration
    # Our row id for the launch's deployment, and the platform's id for it.
    deployment_pk: int
    deployment_id: str
    login: LoginState
    header: dict[str, Any]
    payload: dict[str, Any]

    @property
    def message_type(self) -> str:
        return str(self.payload[claims.MESSAGE_TYPE])

    def claim(self, name: str, default: Any = None) -> Any:
        return self.payload.get(name, default)


class LaunchValidator:
    """Runs every check on an id_token returned to our redirect URI."""

    def __init__(
        self,
        directory: RegistrationDirectory,
        store: SharedStore,
        platform_keys: PlatformKeys,
        *,
        leeway: int,
        accept_new_deployments: bool,
    ) -> None:
        self._directory = directory
        self._store = store
        self._keys = platform_keys
        self._leeway = leeway
        self._accept_new_deployments = accept_new_deployments

    def validate(
        self, id_token: str, state: str, browser_secret: str
    ) -> ValidatedLaunch:
        """Check the token, then spend the login that started it; raise LaunchError.

        The token is checked first, so a forged or expired one cannot use up a
        login that its rightful browser may still complete.
        """
        header, unverified = self._read_unverified(id_token)
        issuer = unverified.get("iss")
        if not isinstance(issuer, str) or not issuer:
            raise BadToken("the id_token has no issuer (iss)")
        if not claims.is_identifier(issuer, 512):
            raise BadToken("the id_token's issuer (iss) is not a usable URL")
        try:
            return self._validate(id_token, header, unverified, state, browser_secret)
        except LaunchError as error:
            error.issuer = issuer[:512]
            raise

    def _validate(
        self,
        id_token: str,
        header: dict[str, Any],
        unverified: dict[str, Any],
        state: str,
        browser_secret: str,
    ) -> ValidatedLaunch:
        registration = self._registration(
            str(unverified["iss"]), self._client_id(unverified)
        )
        payload = self._verify_signature(id_token, header, registration)
        self._check_message(payload, registration)
        registration, deployment_pk, deployment_id = self._deployment(
            payload, registration
        )
        login = self._spend_login(state, browser_secret, payload, registration)
        return ValidatedLaunch(
            registration, deployment_pk, deployment_id, login, header, payload
        )

    def _read_unverified(self, id_token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            unverified = jwt.api_jws.decode_complete(
                id_token, options={"verify_signature": False}
            )
            header = unverified["header"]
            payload = json.loads(unverified["payload"])
        # RecursionError: JSON nested thousands deep, which no platform sends.
        except (jwt.InvalidTokenError, ValueError, RecursionError):
            raise BadToken("the id_token is not a well-formed JWT") from None
        if not isinstance(payload, dict):
            raise BadToken("the id_token payload is not a JSON object")
        if header.get("alg") not in SIGNING_ALGORITHMS:
            raise BadSignature(
                f"the id_token algorithm must be one of {SIGNING_ALGORITHMS}"
            )
        return header, payload

    @staticmethod
    def _client_id(payload: dict[str, Any]) -> str:
        """Our client_id, as a value a registration could have."""
        client_id = LaunchValidator._audience(payload)
        if not claims.is_identifier(client_id):
            raise WrongAudience("the token's audience is not a usable client_id")
        return client_id

    @staticmethod
    def _audience(payload: dict[str, Any]) -> str:
        """Our client_id: aud when it is a string, else azp, else a single member."""
        audience = payload.get("aud")
        authorized_party = payload.get("azp")
        if isinstance(audience, str) and audience:
            return audience
        if isinstance(audience, list) and audience:
            if isinstance(authorized_party, str):
                if authorized_party not in audience:
                    raise WrongAudience("azp is not one of the token's audiences")
                return authorized_party
            if len(audience) == 1:
                return str(audience[0])
            raise WrongAudience("the token has several audiences and no azp")
        raise BadToken("the id_token has no audience (aud)")

    def _registration(self, issuer: str, client_id: str) -> PlatformRegistration:
        registration = self._directory.find(issuer, client_id)
        if registration is None:
            raise UnknownPlatform("no registration for this issuer and client_id")
        if not registration.is_enabled:
            raise DisabledPlatform(
                "the registration is disabled", registration_id=registration.id
            )
        return registration

    def _verify_signature(
        self,
        id_token: str,
        header: dict[str, Any],
        registration: PlatformRegistration,
    ) -> dict[str, Any]:
        key = self._keys.key_for(registration.key_set_url, header.get("kid"))
        try:
            payload: dict[str, Any] = jwt.decode(
                id_token,
                key=key.key,
                algorithms=SIGNING_ALGORITHMS,
                audience=registration.client_id,
                issuer=registration.issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "nonce"]},
            )
        except jwt.ExpiredSignatureError:
            raise ExpiredToken(
                "the id_token has expired", registration_id=registration.id
            ) from None
        except jwt.ImmatureSignatureError:
            raise ExpiredToken(
                "the id_token is not valid yet (iat or nbf in the future)",
                registration_id=registration.id,
            ) from None
        except jwt.InvalidAudienceError:
            raise WrongAudience(registration_id=registration.id) from None
        except jwt.InvalidSignatureError:
            raise BadSignature(registration_id=registration.id) from None
        except jwt.MissingRequiredClaimError as missing:
            raise BadToken(
                f"the id_token lacks the {missing.claim} claim",
                registration_id=registration.id,
            ) from None
        except jwt.InvalidTokenError as error:
            raise BadToken(str(error), registration_id=registration.id) from None

        authorized_party = payload.get("azp")
        if authorized_party is not None and authorized_party != registration.client_id:
            raise WrongAudience(
                "azp names another client", registration_id=registration.id
            )
        return payload

    def _spend_login(
        self,
        state: str,
        browser_secret: str,
        payload: dict[str, Any],
        registration: PlatformRegistration,
    ) -> LoginState:
        """The login this state names, spent once, for its browser and its token.

        The store spends the login only when the browser secret, the registration
        and the token's nonce all match it, and marks the nonce used in the same
        step. A captured token posted with someone else's login, or a stranger
        holding the state, changes nothing. The nonce mark outlives the token, so
        a replay inside its life fails whatever state comes with it; a token may
        claim any lifetime, and a day is far beyond any real platform's.
        """
        nonce = payload.get("nonce")
        if not could_be_ours(nonce):
            raise ReplayedLaunch(
                "the nonce is not the one this login issued",
                registration_id=registration.id,
            )
        lifetime = int(payload["exp"]) - int(payload["iat"])
        nonce_ttl = max(60, min(lifetime, 24 * 3600) + 2 * self._leeway)
        redeemed = None
        if browser_secret:
            redeemed = self._store.redeem(
                "state:" + state,
                record_prefix(proof_of(browser_secret), registration.id, nonce),
                f"nonce:{registration.id}:{nonce}",
                nonce_ttl,
            )
        if redeemed is None:
            raise self._why_not_spent(state, browser_secret, nonce, registration)
        if not redeemed.marked:
            raise ReplayedLaunch(registration_id=registration.id)
        return LoginState.from_record(redeemed.value)

    def _why_not_spent(
        self,
        state: str,
        browser_secret: str,
        nonce: str,
        registration: PlatformRegistration,
    ) -> LaunchError:
        """The reason a login was not spent; it is still there for its own launch."""
        raw = self._store.get("state:" + state)
        if raw is None:
            return StateMismatch(
                "the state is unknown, expired or already used",
                registration_id=registration.id,
            )
        login = LoginState.from_record(raw)
        if not browser_secret or not hmac.compare_digest(
            proof_of(browser_secret), login.browser_proof
        ):
            return StateMismatch(
                "the browser secret does not match the login",
                registration_id=registration.id,
            )
        if login.registration_id != registration.id:
            if not self._directory.exists(login.registration_id):
                # Removed and added again while the login was under way: the
                # process that served the login still had the old one cached.
                return RegistrationChanged(registration_id=registration.id)
            return WrongAudience(
                "the token's issuer and client do not match the login that started it",
                registration_id=registration.id,
            )
        return ReplayedLaunch(
            "the nonce is not the one this login issued",
            registration_id=registration.id,
        )

    def _deployment(
        self, payload: dict[str, Any], registration: PlatformRegistration
    ) -> tuple[PlatformRegistration, int, str]:
        deployment_id = payload.get(claims.DEPLOYMENT_ID)
        if not isinstance(deployment_id, str) or not deployment_id:
            raise BadToken(
                "the id_token has no deployment_id", registration_id=registration.id
            )
        if deployment_id not in registration.deployments:
            # Added since this process last read the registration, or is the
            # registration itself gone?
            fresh = self._directory.find(
                registration.issuer, registration.client_id, fresh=True
            )
            if fresh is None:
                raise RegistrationChanged(registration_id=registration.id)
            registration = fresh
        if deployment_id not in registration.deployments:
            if not self._accept_new_deployments:
                raise UnknownDeployment(registration_id=registration.id)
            registration = self._directory.add_deployment(registration, deployment_id)
        return registration, registration.deployments[deployment_id], deployment_id

    @staticmethod
    def _check_message(
        payload: dict[str, Any], registration: PlatformRegistration
    ) -> None:
        _check_claim_types(payload, registration)
        if payload.get(claims.VERSION) != "1.3.0":
            raise WrongMessage(
                "the LTI version must be 1.3.0", registration_id=registration.id
            )
        message_type = payload.get(claims.MESSAGE_TYPE)
        if message_type not in SUPPORTED_MESSAGES:
            raise WrongMessage(
                f"message type {str(message_type)[:60]!r} is not supported",
                registration_id=registration.id,
            )
        try:
            for validator in get_validators():  # type: ignore[no-untyped-call]
                if validator.can_validate(payload) and not validator.validate(payload):
                    raise WrongMessage(registration_id=registration.id)
        except LaunchError:
            raise
        except Exception as error:  # pylti1p3 raises its own exception types
            raise WrongMessage(str(error), registration_id=registration.id) from None


_OBJECT_CLAIMS = (
    claims.CONTEXT,
    claims.RESOURCE_LINK,
    claims.CUSTOM,
    claims.LAUNCH_PRESENTATION,
    claims.TOOL_PLATFORM,
    claims.AGS_ENDPOINT,
    claims.NRPS,
    claims.DEEP_LINKING_SETTINGS,
)
_TEXT_CLAIMS = ("sub", "name", "given_name", "family_name", claims.MESSAGE_TYPE)


def _check_claim_types(
    payload: dict[str, Any], registration: PlatformRegistration
) -> None:
    """Refuse claims of the wrong JSON type before anything reads them."""
    for name in _OBJECT_CLAIMS:
        if name in payload and not isinstance(payload[name], dict):
            raise BadToken(
                f"claim {name.rsplit('/', 1)[-1]} must be an object",
                registration_id=registration.id,
            )
    for name in _TEXT_CLAIMS:
        if name in payload and not isinstance(payload[name], str):
            raise BadToken(
                f"claim {name.rsplit('/', 1)[-1]} must be a string",
                registration_id=registration.id,
            )
    roles = payload.get(claims.ROLES, [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise BadToken(
            "claim roles must be a list of strings", registration_id=registration.id
        )
    # Identifiers are stored and matched; names and titles are cleaned instead.
    identifiers = {
        "sub": payload.get("sub"),
        "deployment_id": payload.get(claims.DEPLOYMENT_ID),
        "context id": (payload.get(claims.CONTEXT) or {}).get("id"),
        "resource link id": (payload.get(claims.RESOURCE_LINK) or {}).get("id"),
    }
    for label, value in identifiers.items():
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # a number is stored as its digits
        if value is not None and not claims.is_identifier(value):
            raise BadToken(
                f"the {label} must be text of 1 to {claims.MAX_IDENTIFIER} characters",
                registration_id=registration.id,
            )
