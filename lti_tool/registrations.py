"""Adding, listing and importing platform registrations."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from lti_tool.models import Deployment, Registration


class RegistrationError(ValueError):
    """A registration that cannot be saved as given."""


@dataclass(frozen=True)
class RegistrationInput:
    """What an administrator supplies to register a platform."""

    issuer: str
    client_id: str
    auth_login_url: str
    auth_token_url: str
    key_set_url: str
    deployment_ids: tuple[str, ...] = ()
    name: str = ""
    auth_audience: str | None = None


def _require_http_url(label: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise RegistrationError(f"{label} must be an http(s) URL, got {value!r}")


def validate(data: RegistrationInput) -> None:
    """Refuse empty identifiers and non-HTTP endpoints before they reach a launch."""
    if not data.client_id.strip():
        raise RegistrationError("client_id must not be empty")
    _require_http_url("issuer", data.issuer)
    _require_http_url("auth_login_url", data.auth_login_url)
    _require_http_url("auth_token_url", data.auth_token_url)
    _require_http_url("key_set_url", data.key_set_url)
    if any(not item.strip() for item in data.deployment_ids):
        raise RegistrationError("deployment ids must not be empty")


def find_registration(
    session: Session, issuer: str, client_id: str | None
) -> Registration | None:
    """The registration for (issuer, client_id); by issuer only if it has one."""
    query = select(Registration).where(Registration.issuer == issuer)
    if client_id:
        # Every login and launch comes here: one joined query, not two.
        by_client = query.where(Registration.client_id == client_id).options(
            joinedload(Registration.deployments)
        )
        return session.scalars(by_client).unique().first()
    query = query.options(selectinload(Registration.deployments))
    candidates = session.scalars(query.limit(2)).all()
    return candidates[0] if len(candidates) == 1 else None


def save_registration(session: Session, data: RegistrationInput) -> Registration:
    """Create or update the registration and add any new deployment ids."""
    validate(data)
    registration = find_registration(session, data.issuer, data.client_id)
    if registration is None:
        registration = Registration(issuer=data.issuer, client_id=data.client_id)
        session.add(registration)
    registration.name = data.name or registration.name or urlsplit(data.issuer).netloc
    registration.auth_login_url = data.auth_login_url
    registration.auth_token_url = data.auth_token_url
    registration.key_set_url = data.key_set_url
    registration.auth_audience = data.auth_audience or None
    for deployment_id in data.deployment_ids:
        if registration.find_deployment(deployment_id) is None:
            registration.deployments.append(Deployment(deployment_id=deployment_id))
    session.flush()
    return registration


def list_registrations(session: Session) -> list[Registration]:
    """Every registration with its deployments, oldest first."""
    query = (
        select(Registration)
        .options(selectinload(Registration.deployments))
        .order_by(Registration.id)
    )
    return list(session.scalars(query))


def remove_registration(session: Session, issuer: str, client_id: str) -> bool:
    """Delete a registration and its deployments; False when it did not exist."""
    registration = find_registration(session, issuer, client_id)
    if registration is None:
        return False
    session.delete(registration)
    session.flush()
    return True


def read_registrations_file(path: Path) -> Iterable[RegistrationInput]:
    """Parse `[[platform]]` tables from a TOML file (config/platforms.example.toml)."""
    with path.open("rb") as handle:
        document = tomllib.load(handle)
    for index, table in enumerate(document.get("platform", []), start=1):
        try:
            yield RegistrationInput(
                issuer=table["issuer"],
                client_id=str(table["client_id"]),
                auth_login_url=table["auth_login_url"],
                auth_token_url=table["auth_token_url"],
                key_set_url=table["key_set_url"],
                deployment_ids=tuple(str(d) for d in table.get("deployment_ids", [])),
                name=table.get("name", ""),
                auth_audience=table.get("auth_audience"),
            )
        except KeyError as missing:
            raise RegistrationError(
                f"{path}: platform #{index} is missing {missing.args[0]}"
            ) from None
