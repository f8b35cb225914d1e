"""Who launched, from which course, through which link."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.models.base import Base, created_at, int_pk
from lti_tool.models.registration import Deployment


class User(Base):
    """A person as one platform knows them: (issuer, sub).

    Only the display name is kept; e-mail and other profile claims are not needed
    for the training and are not stored.
    """

    __tablename__ = "lti_user"
    __table_args__ = (UniqueConstraint("issuer", "sub"),)

    id: Mapped[int_pk]
    issuer: Mapped[str] = mapped_column(String(512))
    sub: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[created_at]


class Context(Base):
    """A course (or course section) in one deployment of a platform."""

    __tablename__ = "context"
    __table_args__ = (UniqueConstraint("deployment_pk", "context_id"),)

    id: Mapped[int_pk]
    deployment_pk: Mapped[int] = mapped_column(
        ForeignKey("deployment.id", ondelete="CASCADE")
    )
    context_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255), default="")
    label: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[created_at]

    deployment: Mapped[Deployment] = relationship()


class Membership(Base):
    """A user's role in a context, as of their latest launch."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("user_id", "context_pk"),)

    id: Mapped[int_pk]
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"))
    context_pk: Mapped[int] = mapped_column(
        ForeignKey("context.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(20))
    last_launch_at: Mapped[datetime | None]


class ResourceLink(Base):
    """A placement of the tool in a course, and the program or module it opens."""

    __tablename__ = "resource_link"
    __table_args__ = (UniqueConstraint("context_pk", "resource_link_id"),)

    id: Mapped[int_pk]
    context_pk: Mapped[int] = mapped_column(
        ForeignKey("context.id", ondelete="CASCADE")
    )
    resource_link_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255), default="")
    # "pss" for a whole program, "pss/<module id>" for one module; empty until set.
    target: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[created_at]
