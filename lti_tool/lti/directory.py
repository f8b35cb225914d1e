"""Registrations as logins and launches read them: snapshots, cached per process.

Every login and every launch needs the platform's registration and deployments,
and they change a few times a year. Each process keeps what it read for a few
seconds (`registration_cache_seconds`), so a launch costs no query for them.
The database stays the only truth, and nothing here is needed for correctness:

- an unknown (issuer, client_id) is never cached, so a platform registered a
  moment ago (by dynamic registration, say) launches at once;
- a deployment id the snapshot lacks, and a disabled registration, are re-read
  before the launch is refused, so adding or re-enabling takes effect at once;
- removing or disabling a registration reaches the other processes within the
  cache time; the process that made the change forgets at once (`forget`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from lti_tool.lti.errors import RegistrationChanged
from lti_tool.models import Deployment, Registration

# A launch time is shown to administrators to the minute; writing it on every
# launch would make concurrent launches of one platform queue on two rows.
LAUNCH_TIME_PRECISION = timedelta(seconds=60)


@dataclass(frozen=True)
class PlatformRegistration:
    """A registration and its deployments, read-only, as of one moment."""

    id: int
    issuer: str
    client_id: str
    auth_login_url: str
    key_set_url: str
    is_enabled: bool
    # The platform's deployment_id → our deployment row id.
    deployments: Mapping[str, int]


class RegistrationDirectory:
    """Finds registrations for logins and launches, through a short cache."""

    def __init__(self, engine: Engine, cache_seconds: float) -> None:
        self._engine = engine
        self._cache_seconds = cache_seconds
        self._entries: dict[tuple[str, str], tuple[float, PlatformRegistration]] = {}
        self._launch_times_written: dict[tuple[str, int], float] = {}
        self._lock = threading.Lock()

    def find(
        self, issuer: str, client_id: str | None, *, fresh: bool = False
    ) -> PlatformRegistration | None:
        """The registration for (issuer, client_id); by issuer only if it has one.

        `fresh` skips the cache: for a deployment the snapshot does not know yet.
        """
        cache_key = (issuer, client_id or "")
        now = time.monotonic()
        if not fresh:
            cached = self._entries.get(cache_key)
            if cached is not None and cached[0] > now and cached[1].is_enabled:
                return cached[1]

        found = self._read(issuer, client_id)
        with self._lock:
            if found is None:
                self._entries.pop(cache_key, None)
            elif self._cache_seconds > 0:
                self._entries[cache_key] = (now + self._cache_seconds, found)
        return found

    def forget(self) -> None:
        """Drop every snapshot: this process changed a registration."""
        with self._lock:
            self._entries.clear()

    def add_deployment(
        self, registration: PlatformRegistration, deployment_id: str
    ) -> PlatformRegistration:
        """Record a deployment id first seen in a launch; safe when two race."""
        insert = (
            postgresql.insert
            if self._engine.dialect.name == "postgresql"
            else sqlite.insert
        )
        statement = (
            insert(Deployment)
            .values(
                registration_id=registration.id,
                deployment_id=deployment_id,
                created_at=datetime.now(UTC),
            )
            .on_conflict_do_nothing(
                index_elements=[Deployment.registration_id, Deployment.deployment_id]
            )
        )
        try:
            with self._engine.begin() as connection:
                connection.execute(statement)
        except IntegrityError:
            # The registration itself went, in another process, since it was read.
            self.forget()
            raise RegistrationChanged(registration_id=registration.id) from None
        refreshed = self.find(registration.issuer, registration.client_id, fresh=True)
        if refreshed is None:
            raise RegistrationChanged(registration_id=registration.id)
        return refreshed

    def exists(self, registration_id: int) -> bool:
        """Whether the registration with this id is still there (never cached)."""
        query = select(Registration.id).where(Registration.id == registration_id)
        with self._engine.connect() as connection:
            return connection.scalar(query) is not None

    def note_launch(self, registration_id: int, deployment_pk: int) -> None:
        """Keep the registration's and deployment's last launch time to the minute.

        Each process writes a row at most once a minute, and the UPDATE itself
        skips a row another process wrote within that minute.
        """
        now = datetime.now(UTC)
        clock = time.monotonic()
        due = []
        with self._lock:
            for model, row_id in (
                (Registration, registration_id),
                (Deployment, deployment_pk),
            ):
                key = (model.__tablename__, row_id)
                if self._launch_times_written.get(key, 0.0) <= clock:
                    self._launch_times_written[key] = (
                        clock + LAUNCH_TIME_PRECISION.total_seconds()
                    )
                    due.append((model, row_id))
        if not due:
            return

        stale = now - LAUNCH_TIME_PRECISION
        with self._engine.begin() as connection:
            for model, row_id in due:
                connection.execute(
                    update(model)
                    .where(model.id == row_id)
                    .where(
                        (model.last_launch_at.is_(None))
                        | (model.last_launch_at < stale)
                    )
                    .values(last_launch_at=now)
                )

    def _read(self, issuer: str, client_id: str | None) -> PlatformRegistration | None:
        query = (
            select(
                Registration.id,
                Registration.issuer,
                Registration.client_id,
                Registration.auth_login_url,
                Registration.key_set_url,
                Registration.is_enabled,
                Deployment.deployment_id,
                Deployment.id.label("deployment_pk"),
            )
            .outerjoin(Deployment, Deployment.registration_id == Registration.id)
            .where(Registration.issuer == issuer)
        )
        if client_id:
            query = query.where(Registration.client_id == client_id)
        with self._engine.connect() as connection:
            rows = connection.execute(query).all()
        if not rows or len({row.id for row in rows}) > 1:
            # By issuer alone only when exactly one client_id is registered.
            return None

        first = rows[0]
        deployments = {
            row.deployment_id: row.deployment_pk
            for row in rows
            if row.deployment_id is not None
        }
        return PlatformRegistration(
            id=first.id,
            issuer=first.issuer,
            client_id=first.client_id,
            auth_login_url=first.auth_login_url,
            key_set_url=first.key_set_url,
            is_enabled=bool(first.is_enabled),
            deployments=MappingProxyType(deployments),
        )
