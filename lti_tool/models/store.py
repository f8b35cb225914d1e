"""Short-lived shared state, and the sessions that follow a launch."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.models.base import Base, created_at


class StoreEntry(Base):
    """A key with a value and an expiry: OIDC state, used nonces, cached JWKS.

    The default shared store; with REDIS_URL set, Redis holds these instead.
    """

    __tablename__ = "store_entry"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class LaunchSession(Base):
    """What one launch established: who, where, with which role.

    Its id travels with every page of the tool (in the URL and, where the browser
    allows, a cookie), because inside an LMS iframe a cookie alone is not reliable.
    """

    __tablename__ = "launch_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"))
    context_pk: Mapped[int] = mapped_column(
        ForeignKey("context.id", ondelete="CASCADE")
    )
    resource_link_pk: Mapped[int | None] = mapped_column(
        ForeignKey("resource_link.id", ondelete="SET NULL")
    )
    role: Mapped[str] = mapped_column(String(20))
    # Service endpoints and presentation details from the launch (no personal data).
    claims: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    created_at: Mapped[created_at]
    expires_at: Mapped[datetime] = mapped_column(index=True)
