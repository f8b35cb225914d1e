"""People who administer the tool itself, outside any LMS."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.models.base import Base, created_at, int_pk


class AdminAccount(Base):
    """A tool administrator, created with `lti-tool admin create`.

    Only a password hash (werkzeug's scrypt) is kept, never the password.
    """

    __tablename__ = "admin_account"

    id: Mapped[int_pk]
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[created_at]
    last_sign_in_at: Mapped[datetime | None]
