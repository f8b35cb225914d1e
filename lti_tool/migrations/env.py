"""Alembic environment: the URL comes from the tool's settings, not this folder."""

from __future__ import annotations

from alembic import context

from lti_tool.db import make_engine
from lti_tool.models import Base
from lti_tool.settings import load_settings


def run_migrations() -> None:
    url = context.config.attributes.get("database_url") or load_settings().database_url
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
