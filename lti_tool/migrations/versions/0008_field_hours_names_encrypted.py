"""field hours: site and supervisor encrypted at rest

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 20:15:00

The site and the supervisor are names of people and places outside the
training, so they are kept like the entry's description: encrypted with the
data key (`keys/reflections.key`). Existing entries are encrypted in place,
which needs that key; a database without field hours needs none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_NAMES = ("site", "supervisor")


def _cipher():  # type: ignore[no-untyped-def]
    from lti_tool.settings import load_settings
    from lti_tool.work.crypto import load_data_cipher

    return load_data_cipher(load_settings().keys_dir)


def upgrade() -> None:
    with op.batch_alter_table("field_hours", schema=None) as batch_op:
        for name in _NAMES:
            batch_op.add_column(
                sa.Column(f"{name}_encrypted", sa.LargeBinary(), nullable=True)
            )

    connection = op.get_bind()
    rows = connection.execute(
        sa.text("SELECT id, site, supervisor FROM field_hours")
    ).all()
    if rows:
        cipher = _cipher()
        update = sa.text(
            "UPDATE field_hours SET site_encrypted = :site, "
            "supervisor_encrypted = :supervisor WHERE id = :id"
        ).bindparams(
            sa.bindparam("site", type_=sa.LargeBinary()),
            sa.bindparam("supervisor", type_=sa.LargeBinary()),
        )
        for row in rows:
            connection.execute(
                update,
                {
                    "id": row.id,
                    "site": cipher.encrypt_text(row.site),
                    "supervisor": cipher.encrypt_text(row.supervisor),
                },
            )

    with op.batch_alter_table("field_hours", schema=None) as batch_op:
        for name in _NAMES:
            batch_op.alter_column(
                f"{name}_encrypted", existing_type=sa.LargeBinary(), nullable=False
            )
            batch_op.drop_column(name)


def downgrade() -> None:
    with op.batch_alter_table("field_hours", schema=None) as batch_op:
        for name in _NAMES:
            batch_op.add_column(sa.Column(name, sa.String(length=200), nullable=True))

    connection = op.get_bind()
    rows = connection.execute(
        sa.text("SELECT id, site_encrypted, supervisor_encrypted FROM field_hours")
    ).all()
    if rows:
        cipher = _cipher()
        update = sa.text(
            "UPDATE field_hours SET site = :site, supervisor = :supervisor "
            "WHERE id = :id"
        )
        for row in rows:
            connection.execute(
                update,
                {
                    "id": row.id,
                    "site": cipher.decrypt_text(row.site_encrypted),
                    "supervisor": cipher.decrypt_text(row.supervisor_encrypted),
                },
            )

    with op.batch_alter_table("field_hours", schema=None) as batch_op:
        for name in _NAMES:
            batch_op.alter_column(name, existing_type=sa.String(200), nullable=False)
            batch_op.drop_column(f"{name}_encrypted")
