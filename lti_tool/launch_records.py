"""The rows a launch writes, in as few round trips as the database allows.

Every launch upserts the user, the context, the resource link and the
membership, and inserts a launch session. On PostgreSQL that is one statement
(data-modifying CTEs) in autocommit mode; on SQLite, which runs in-process,
five short ones in one transaction. Both are safe when a whole cohort opens a
new course at once: `INSERT … ON CONFLICT` never fails on a row a concurrent
launch just created. A name or title the launch leaves out keeps its old value.

On PostgreSQL the user, context and link are only rewritten when something
changed, which spares the table a new row version per launch. (The conflicting
row is still locked while the statement runs, so launches into one course pass
its row one after another, each for the length of one statement.) An unchanged
row comes back from a plain SELECT, which in rare races cannot yet see a row
another launch committed a moment ago; the statement then writes no session
and returns nothing, and is run again (in READ COMMITTED each statement sees
everything committed before it starts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Connection, DateTime, Engine, bindparam, text

# Parameters that need SQLAlchemy's type handling on either backend.
_NOW = bindparam("now", type_=DateTime(timezone=True))
_EXPIRES_AT = bindparam("expires_at", type_=DateTime(timezone=True))
_SESSION_CLAIMS = bindparam("session_claims", type_=JSON)

_POSTGRESQL = text(
    """
WITH user_written AS (
    INSERT INTO lti_user (issuer, sub, name, created_at)
    VALUES (:issuer, :sub, :name, :now)
    ON CONFLICT (issuer, sub) DO UPDATE SET name = EXCLUDED.name
        WHERE EXCLUDED.name <> '' AND lti_user.name <> EXCLUDED.name
    RETURNING id
), person AS (
    SELECT id FROM user_written
    UNION ALL
    SELECT id FROM lti_user WHERE issuer = :issuer AND sub = :sub
    LIMIT 1
), context_written AS (
    INSERT INTO context (deployment_pk, context_id, title, label, created_at)
    VALUES (:deployment_pk, :context_id, :context_title, :context_label, :now)
    ON CONFLICT (deployment_pk, context_id) DO UPDATE
        SET title = CASE WHEN EXCLUDED.title = '' THEN context.title
                         ELSE EXCLUDED.title END,
            label = CASE WHEN EXCLUDED.label = '' THEN context.label
                         ELSE EXCLUDED.label END
        WHERE (EXCLUDED.title <> '' AND EXCLUDED.title <> context.title)
           OR (EXCLUDED.label <> '' AND EXCLUDED.label <> context.label)
    RETURNING id
), course AS (
    SELECT id FROM context_written
    UNION ALL
    SELECT id FROM context
    WHERE deployment_pk = :deployment_pk AND context_id = :context_id
    LIMIT 1
), link_written AS (
    INSERT INTO resource_link
        (context_pk, resource_link_id, title, target, created_at)
    SELECT course.id, CAST(:resource_link_id AS VARCHAR), CAST(:link_title AS VARCHAR),
           CAST(:target AS VARCHAR), :now
    FROM course
    WHERE CAST(:resource_link_id AS VARCHAR) <> ''
    ON CONFLICT (context_pk, resource_link_id) DO UPDATE
        SET title = CASE WHEN EXCLUDED.title = '' THEN resource_link.title
                         ELSE EXCLUDED.title END,
            target = CASE WHEN EXCLUDED.target = '' THEN resource_link.target
                          ELSE EXCLUDED.target END
        WHERE (EXCLUDED.title <> '' AND EXCLUDED.title <> resource_link.title)
           OR (EXCLUDED.target <> '' AND EXCLUDED.target <> resource_link.target)
    RETURNING id
), link AS (
    SELECT id FROM link_written
    UNION ALL
    SELECT resource_link.id
    FROM resource_link JOIN course ON resource_link.context_pk = course.id
    WHERE resource_link.resource_link_id = CAST(:resource_link_id AS VARCHAR)
    LIMIT 1
), membership_written AS (
    INSERT INTO membership (user_id, context_pk, role, last_launch_at)
    SELECT person.id, course.id, CAST(:role AS VARCHAR), :now FROM person, course
    ON CONFLICT (user_id, context_pk) DO UPDATE
        SET role = EXCLUDED.role, last_launch_at = EXCLUDED.last_launch_at
), session_written AS (
    INSERT INTO launch_session
        (id, user_id, context_pk, resource_link_pk, role, claims,
         created_at, expires_at)
    SELECT CAST(:session_id AS VARCHAR), person.id, course.id, link.id,
           CAST(:role AS VARCHAR), :session_claims, :now, :expires_at
    FROM person CROSS JOIN course LEFT JOIN link ON TRUE
    -- A link this launch names but cannot see yet: write nothing, run again.
    WHERE CAST(:resource_link_id AS VARCHAR) = '' OR link.id IS NOT NULL
    RETURNING user_id, context_pk, resource_link_pk
)
SELECT user_id, context_pk, resource_link_pk FROM session_written
"""
).bindparams(_NOW, _EXPIRES_AT, _SESSION_CLAIMS)

_SQLITE_USER = text(
    """
INSERT INTO lti_user (issuer, sub, name, created_at)
VALUES (:issuer, :sub, :name, :now)
ON CONFLICT (issuer, sub) DO UPDATE
    SET name = CASE WHEN excluded.name = '' THEN lti_user.name ELSE excluded.name END
RETURNING id
"""
).bindparams(_NOW)

_SQLITE_CONTEXT = text(
    """
INSERT INTO context (deployment_pk, context_id, title, label, created_at)
VALUES (:deployment_pk, :context_id, :context_title, :context_label, :now)
ON CONFLICT (deployment_pk, context_id) DO UPDATE
    SET title = CASE WHEN excluded.title = '' THEN context.title
                     ELSE excluded.title END,
        label = CASE WHEN excluded.label = '' THEN context.label
                     ELSE excluded.label END
RETURNING id
"""
).bindparams(_NOW)

_SQLITE_LINK = text(
    """
INSERT INTO resource_link (context_pk, resource_link_id, title, target, created_at)
VALUES (:context_pk, :resource_link_id, :link_title, :target, :now)
ON CONFLICT (context_pk, resource_link_id) DO UPDATE
    SET title = CASE WHEN excluded.title = '' THEN resource_link.title
                     ELSE excluded.title END,
        target = CASE WHEN excluded.target = '' THEN resource_link.target
                      ELSE excluded.target END
RETURNING id
"""
).bindparams(_NOW)

_SQLITE_MEMBERSHIP = text(
    """
INSERT INTO membership (user_id, context_pk, role, last_launch_at)
VALUES (:user_id, :context_pk, :role, :now)
ON CONFLICT (user_id, context_pk) DO UPDATE
    SET role = excluded.role, last_launch_at = excluded.last_launch_at
"""
).bindparams(_NOW)

_SQLITE_SESSION = text(
    """
INSERT INTO launch_session
    (id, user_id, context_pk, resource_link_pk, role, claims, created_at, expires_at)
VALUES (:session_id, :user_id, :context_pk, :resource_link_pk, :role,
        :session_claims, :now, :expires_at)
"""
).bindparams(_NOW, _EXPIRES_AT, _SESSION_CLAIMS)


@dataclass(frozen=True)
class LaunchRow:
    """Everything one launch writes, already cut to the columns' sizes."""

    issuer: str
    sub: str
    name: str
    deployment_pk: int
    context_id: str
    context_title: str
    context_label: str
    # Empty when the message has no resource link (a deep-linking request).
    resource_link_id: str
    link_title: str
    # A target named by this launch, already checked; empty keeps the stored one.
    target: str
    role: str
    session_id: str
    session_claims: dict[str, Any]
    now: datetime
    expires_at: datetime


@dataclass(frozen=True)
class WrittenLaunch:
    """The ids of the launch's user, context and resource link."""

    user_id: int
    context_pk: int
    resource_link_pk: int | None


# One retry sees any row committed before it; more only under extreme contention.
ATTEMPTS = 3


class LaunchNotWritten(RuntimeError):
    """The launch's rows could not be written, however often tried."""


def write_launch(engine: Engine, row: LaunchRow) -> WrittenLaunch:
    """Write the launch's rows and commit; returns their ids."""
    if engine.dialect.name == "postgresql":
        # One statement is atomic on its own: BEGIN and COMMIT would only add
        # two round trips. (The option engine shares the pool; it is not cached
        # here, since a cache would keep every engine and its connections alive.)
        autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        with autocommit.connect() as connection:
            return _write_postgresql(connection, row)
    with engine.begin() as connection:
        return _write_sqlite(connection, row)


def _write_postgresql(connection: Connection, row: LaunchRow) -> WrittenLaunch:
    parameters = dict(vars(row))
    for _attempt in range(ATTEMPTS):
        written = connection.execute(_POSTGRESQL, parameters).first()
        if written is not None:
            return WrittenLaunch(
                user_id=written.user_id,
                context_pk=written.context_pk,
                resource_link_pk=written.resource_link_pk,
            )
    raise LaunchNotWritten(f"the launch's rows were not visible in {ATTEMPTS} tries")


def _write_sqlite(connection: Connection, row: LaunchRow) -> WrittenLaunch:
    parameters = dict(vars(row))
    user_id = connection.execute(_SQLITE_USER, parameters).scalar_one()
    context_pk = connection.execute(_SQLITE_CONTEXT, parameters).scalar_one()
    parameters.update(user_id=user_id, context_pk=context_pk)

    link_pk = None
    if row.resource_link_id:
        link_pk = connection.execute(_SQLITE_LINK, parameters).scalar_one()
    parameters["resource_link_pk"] = link_pk

    connection.execute(_SQLITE_MEMBERSHIP, parameters)
    connection.execute(_SQLITE_SESSION, parameters)
    return WrittenLaunch(user_id, context_pk, link_pk)
