"""Tool administrator accounts: create, find, remove, check a password."""

from __future__ import annotations

import re
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from lti_tool.models import AdminAccount
from lti_tool.models.base import utcnow

USERNAME_PATTERN = re.compile(r"[a-z0-9._@-]{3,80}")
MIN_PASSWORD_LENGTH = 12


class AccountError(ValueError):
    """An account that cannot be created as asked."""


def normalize_username(username: str) -> str:
    """User names compare without case or surrounding blanks."""
    return username.strip().lower()


def create_account(session: Session, username: str, password: str) -> AdminAccount:
    """A new administrator; AccountError for a taken name or a weak password."""
    name = normalize_username(username)
    if not USERNAME_PATTERN.fullmatch(name):
        raise AccountError(
            "user names are 3 to 80 letters, digits or . _ @ - (no spaces)"
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"passwords need at least {MIN_PASSWORD_LENGTH} characters")
    if find_account(session, name) is not None:
        raise AccountError(f"there is already an administrator called {name}")

    account = AdminAccount(
        username=name, password_hash=generate_password_hash(password, "scrypt")
    )
    session.add(account)
    session.flush()
    return account


def find_account(session: Session, username: str) -> AdminAccount | None:
    """The account with this user name, if any."""
    query = select(AdminAccount).where(
        AdminAccount.username == normalize_username(username)
    )
    return session.scalars(query).first()


def list_accounts(session: Session) -> list[AdminAccount]:
    """Every administrator, oldest first."""
    return list(session.scalars(select(AdminAccount).order_by(AdminAccount.id)))


def remove_account(session: Session, username: str) -> bool:
    """Delete an administrator; False when there was none by that name."""
    account = find_account(session, username)
    if account is None:
        return False
    session.delete(account)
    session.flush()
    return True


def authenticate(session: Session, username: str, password: str) -> AdminAccount | None:
    """The account if the password is right (and note the time), else None."""
    account = find_account(session, username)
    if account is None:
        # Hash anyway, so an unknown name takes as long as a wrong password.
        check_password_hash(_decoy_hash(), password)
        return None
    if not check_password_hash(account.password_hash, password):
        return None
    account.last_sign_in_at = utcnow()
    return account


@cache
def _decoy_hash() -> str:
    return generate_password_hash("decoy password for unknown names", "scrypt")
