"""Platforms that may launch the tool: registrations and their deployments."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.models.base import Base, created_at, int_pk, url


class Registration(Base):
    """One client_id on one platform issuer.

    Canvas cloud uses one issuer for every school, so a registration is found by
    (issuer, client_id), never by issuer alone.
    """

    __tablename__ = "registration"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int_pk]
    name: Mapped[str] = mapped_column(String(200), default="")
    issuer: Mapped[str] = mapped_column(String(512))
    client_id: Mapped[str] = mapped_column(String(255))
    auth_login_url: Mapped[url]
    auth_token_url: Mapped[url]
    key_set_url: Mapped[url]
    # Some platforms (D2L) expect a token `aud` other than the token URL.
    auth_audience: Mapped[str | None] = mapped_column(String(1024))
    is_enabled: Mapped[bool] = mapped_column(default=True)
    # "manual" (command line, config file) or "dynamic" (LTI Dynamic Registration).
    source: Mapped[str] = mapped_column(
        String(20), default="manual", server_default="manual"
    )
    # The platform's product_family_code ("moodle", "canvas") when it told us.
    product_family: Mapped[str] = mapped_column(
        String(64), default="", server_default=""
    )
    created_at: Mapped[created_at]
    last_launch_at: Mapped[datetime | None]

    deployments: Mapped[list[Deployment]] = relationship(
        back_populates="registration", cascade="all, delete-orphan"
    )

    def find_deployment(self, deployment_id: str) -> Deployment | None:
        """The deployment with this platform-assigned id, if registered."""
        for deployment in self.deployments:
            if deployment.deployment_id == deployment_id:
                return deployment
        return None


class Deployment(Base):
    """An installation of the tool inside a platform (site, account or course)."""

    __tablename__ = "deployment"
    __table_args__ = (UniqueConstraint("registration_id", "deployment_id"),)

    id: Mapped[int_pk]
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registration.id", ondelete="CASCADE")
    )
    deployment_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[created_at]
    last_launch_at: Mapped[datetime | None]

    registration: Mapped[Registration] = relationship(back_populates="deployments")


class LaunchFailure(Base):
    """A refused launch, by reason code, so an administrator can see what broke."""

    __tablename__ = "launch_failure"

    id: Mapped[int_pk]
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("registration.id", ondelete="SET NULL"), index=True
    )
    issuer: Mapped[str] = mapped_column(String(512), default="")
    reason: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[created_at]
