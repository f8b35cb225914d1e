"""participant work: reflections, field hours, support groups, papers

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "work_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_kind", sa.String(length=20), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("by_user_id", sa.Integer(), nullable=True),
        sa.Column("text_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["by_user_id"],
            ["lti_user.id"],
            name=op.f("fk_work_event_by_user_id_lti_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_event")),
    )
    op.create_index(
        "ix_work_event_item", "work_event", ["item_kind", "item_id"], unique=False
    )
    op.create_table(
        "field_hours",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("context_pk", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("program_version", sa.String(length=40), nullable=False),
        sa.Column("activity_id", sa.String(length=120), nullable=False),
        sa.Column("worked_on", sa.Date(), nullable=False),
        sa.Column("site", sa.String(length=200), nullable=False),
        sa.Column("supervisor", sa.String(length=200), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("description_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("before_readiness", sa.Boolean(), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by_user_id", sa.Integer(), nullable=True),
        sa.Column("comment_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "minutes > 0 AND minutes <= 720", name=op.f("ck_field_hours_minutes_range")
        ),
        sa.ForeignKeyConstraint(
            ["context_pk"],
            ["context.id"],
            name=op.f("fk_field_hours_context_pk_context"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_user_id"],
            ["lti_user.id"],
            name=op.f("fk_field_hours_reviewed_by_user_id_lti_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["lti_user.id"],
            name=op.f("fk_field_hours_user_id_lti_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_field_hours")),
    )
    op.create_index(
        "ix_field_hours_participant",
        "field_hours",
        ["user_id", "context_pk", "program_id"],
        unique=False,
    )
    op.create_index(
        "ix_field_hours_review", "field_hours", ["context_pk", "status"], unique=False
    )
    op.create_table(
        "paper_submission",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("context_pk", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("program_version", sa.String(length=40), nullable=False),
        sa.Column("activity_id", sa.String(length=120), nullable=False),
        sa.Column("form", sa.String(length=10), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("content_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by_user_id", sa.Integer(), nullable=True),
        sa.Column("feedback_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["context_pk"],
            ["context.id"],
            name=op.f("fk_paper_submission_context_pk_context"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_user_id"],
            ["lti_user.id"],
            name=op.f("fk_paper_submission_reviewed_by_user_id_lti_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["lti_user.id"],
            name=op.f("fk_paper_submission_user_id_lti_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_submission")),
    )
    op.create_index(
        "ix_paper_submission_participant",
        "paper_submission",
        ["user_id", "context_pk", "program_id", "activity_id"],
        unique=False,
    )
    op.create_index(
        "ix_paper_submission_review",
        "paper_submission",
        ["context_pk", "status"],
        unique=False,
    )
    op.create_table(
        "reflection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("context_pk", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("program_version", sa.String(length=40), nullable=False),
        sa.Column("activity_id", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("draft_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("draft_saved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submitted_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submission_count", sa.Integer(), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["context_pk"],
            ["context.id"],
            name=op.f("fk_reflection_context_pk_context"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_user_id"],
            ["lti_user.id"],
            name=op.f("fk_reflection_reviewed_by_user_id_lti_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["lti_user.id"],
            name=op.f("fk_reflection_user_id_lti_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reflection")),
        sa.UniqueConstraint(
            "user_id",
            "context_pk",
            "program_id",
            "activity_id",
            name=op.f("uq_reflection_user_id_context_pk_program_id_activity_id"),
        ),
    )
    op.create_index(
        "ix_reflection_review", "reflection", ["context_pk", "status"], unique=False
    )
    op.create_table(
        "support_group_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("context_pk", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("program_version", sa.String(length=40), nullable=False),
        sa.Column("activity_id", sa.String(length=120), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("recorded_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "minutes > 0 AND minutes <= 480",
            name=op.f("ck_support_group_session_minutes_range"),
        ),
        sa.ForeignKeyConstraint(
            ["context_pk"],
            ["context.id"],
            name=op.f("fk_support_group_session_context_pk_context"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_user_id"],
            ["lti_user.id"],
            name=op.f("fk_support_group_session_recorded_by_user_id_lti_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_group_session")),
    )
    op.create_index(
        "ix_support_group_session_context",
        "support_group_session",
        ["context_pk", "program_id"],
        unique=False,
    )
    op.create_table(
        "support_group_attendance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("minutes_present", sa.Integer(), nullable=False),
        sa.Column("recorded_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "minutes_present > 0",
            name=op.f("ck_support_group_attendance_minutes_present_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_user_id"],
            ["lti_user.id"],
            name=op.f("fk_support_group_attendance_recorded_by_user_id_lti_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["support_group_session.id"],
            name=op.f("fk_support_group_attendance_session_id_support_group_session"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["lti_user.id"],
            name=op.f("fk_support_group_attendance_user_id_lti_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_group_attendance")),
        sa.UniqueConstraint(
            "session_id",
            "user_id",
            name=op.f("uq_support_group_attendance_session_id_user_id"),
        ),
    )


def downgrade() -> None:
    op.drop_table("support_group_attendance")
    op.drop_index(
        "ix_support_group_session_context", table_name="support_group_session"
    )
    op.drop_table("support_group_session")
    op.drop_index("ix_reflection_review", table_name="reflection")
    op.drop_table("reflection")
    op.drop_index("ix_paper_submission_review", table_name="paper_submission")
    op.drop_index("ix_paper_submission_participant", table_name="paper_submission")
    op.drop_table("paper_submission")
    op.drop_index("ix_field_hours_review", table_name="field_hours")
    op.drop_index("ix_field_hours_participant", table_name="field_hours")
    op.drop_table("field_hours")
    op.drop_index("ix_work_event_item", table_name="work_event")
    op.drop_table("work_event")
