"""Request counters for rate limits when no Redis is configured."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.models.base import Base


class RateLimitWindow(Base):
    """Hits counted in one fixed window for one key (such as a client address)."""

    __tablename__ = "rate_limit_window"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    hits: Mapped[int]
    expires_at: Mapped[datetime] = mapped_column(index=True)
