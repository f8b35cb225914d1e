"""Database engine and the per-request session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def make_engine(database_url: str) -> Engine:
    """Create an engine; SQLite gets WAL and foreign keys like a real server.

    Error messages leave out statement parameters: they hold names, reflections
    and tokens, and errors end up in logs.
    """
    if database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
        # The development server answers requests on threads, and the database
        # store opens its own connection beside the request's: allow plenty.
        engine = create_engine(
            database_url,
            connect_args={"timeout": 30},
            pool_size=20,
            max_overflow=40,
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # Recycling stale connections instead of pinging before each use saves a
    # round trip on every checkout (a launch checks out several).
    return create_engine(
        database_url, pool_recycle=1800, pool_size=10, hide_parameters=True
    )


def init_app(app: Flask, engine: Engine) -> None:
    """Give each request one session, committed by the view, closed at teardown."""
    factory = sessionmaker(engine, expire_on_commit=False)
    app.extensions["db_engine"] = engine
    app.extensions["db_sessionmaker"] = factory

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


def get_engine() -> Engine:
    """The app's engine, for work that needs no ORM session (the launch)."""
    from flask import current_app

    engine: Engine = current_app.extensions["db_engine"]
    return engine


def get_session() -> Session:
    """The current request's session, opened on first use."""
    from flask import current_app

    if "db_session" not in g:
        g.db_session = current_app.extensions["db_sessionmaker"]()
    session: Session = g.db_session
    return session


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session for command-line work and workers, committed on success."""
    session = sessionmaker(engine, expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
