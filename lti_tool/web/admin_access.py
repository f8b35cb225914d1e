"""Who may use the administrator's pages, and how far they may see.

Two kinds of people: a tool administrator signed in with an account (every
registration, the tool's keys), and an LMS's own system administrator arriving
from a launch, who sees only the registration that launch came through.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from flask import session as cookie_session
from sqlalchemy.orm import Session

from lti_tool.launches import restore_visit
from lti_tool.lti.errors import LaunchError, NotPermitted
from lti_tool.lti.roles import ToolRole
from lti_tool.lti.store import SharedStore
from lti_tool.models import AdminAccount

SESSION_KEY = "admin"
# An administrator's sign-in lasts a working day at most.
ADMIN_SESSION_SECONDS = 8 * 3600


@dataclass(frozen=True)
class AdminViewer:
    """The person looking at an admin page and the registration they are held to."""

    account: AdminAccount | None = None
    registration_id: int | None = None

    @property
    def is_tool_admin(self) -> bool:
        return self.account is not None

    def can_see(self, registration_id: int) -> bool:
        """Tool admins see every registration, LMS admins only their own."""
        return self.is_tool_admin or registration_id == self.registration_id


def sign_in_account(account: AdminAccount) -> None:
    """Start a fresh admin session for a tool administrator."""
    # A new session on sign-in, so nothing set before it (fixation) survives.
    cookie_session.clear()
    cookie_session[SESSION_KEY] = {
        "kind": "account",
        "id": account.id,
        "at": int(time.time()),
    }


def sign_in_from_launch(db_session: Session, token: str) -> int:
    """Start an admin session for an LMS administrator; returns their registration."""
    registration_id = lti_admin_scope(db_session, token)
    cookie_session.clear()
    cookie_session[SESSION_KEY] = {"kind": "lti", "ls": token, "at": int(time.time())}
    return registration_id


def sign_out() -> None:
    """Forget the admin session entirely."""
    cookie_session.clear()


def lti_admin_scope(db_session: Session, token: str) -> int:
    """The registration an LTI launch session may administer; NotPermitted if none.

    Only the platform's system administrator role counts (ToolRole.ADMIN):
    Canvas gives institution roles to teachers and learners who are admins
    elsewhere, so those never open these pages.
    """
    visit = restore_visit(db_session, token)
    if visit.role is not ToolRole.ADMIN:
        raise NotPermitted("only the LMS's system administrators may open this page")
    return visit.context.deployment.registration_id


def current_viewer(db_session: Session) -> AdminViewer | None:
    """The signed-in administrator, or None (never signed in, expired, gone)."""
    data = cookie_session.get(SESSION_KEY)
    if not isinstance(data, dict):
        return None
    if time.time() - float(data.get("at", 0)) > ADMIN_SESSION_SECONDS:
        sign_out()
        return None
    if data.get("kind") == "account":
        account = db_session.get(AdminAccount, int(data.get("id", 0)))
        return AdminViewer(account=account) if account is not None else None
    if data.get("kind") == "lti":
        # The launch session may have ended or been replaced: check it each time.
        try:
            return AdminViewer(
                registration_id=lti_admin_scope(db_session, str(data.get("ls", "")))
            )
        except LaunchError:
            return None
    return None


class SignInThrottle:
    """Failed sign-ins per (user name, address), counted in the shared store.

    Each failure takes the next free numbered slot with `add`, which is atomic in
    both stores, so parallel guesses cannot share one count.
    """

    def __init__(
        self, store: SharedStore, *, limit: int = 5, window_seconds: int = 900
    ) -> None:
        self._store = store
        self.limit = limit
        self.window_seconds = window_seconds

    def _key(self, username: str, address: str) -> str:
        # Hashed, so the store never holds user names or addresses in clear.
        digest = hashlib.sha256(f"{username.lower()}|{address}".encode()).hexdigest()
        return f"admin_sign_in:{digest[:32]}"

    def is_locked(self, username: str, address: str) -> bool:
        """Whether this pair has used up its failures for the window."""
        key = self._key(username, address)
        return self._store.get(f"{key}:{self.limit}") is not None

    def record_failure(self, username: str, address: str) -> int:
        """Count one failure; returns how many this window holds (at most limit)."""
        key = self._key(username, address)
        for attempt in range(1, self.limit + 1):
            if self._store.add(f"{key}:{attempt}", "1", self.window_seconds):
                return attempt
        return self.limit

    def reserve(self, username: str, address: str) -> int | None:
        """Take a failure slot before the password is checked; None when locked.

        Reserving first means parallel guesses each need a slot of their own, so
        a burst cannot test more passwords than the limit.
        """
        key = self._key(username, address)
        for attempt in range(1, self.limit + 1):
            if self._store.add(f"{key}:{attempt}", "1", self.window_seconds):
                return attempt
        return None

    def clear(self, username: str, address: str) -> None:
        """Forget the failures after a successful sign-in."""
        key = self._key(username, address)
        for attempt in range(1, self.limit + 1):
            self._store.take(f"{key}:{attempt}")
