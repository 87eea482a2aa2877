"""Alerts outbox: every alert is written here (one row per channel) before it is sent.

A row is ``pending`` until a delivery succeeds (``sent``), is refused for good
(``failed``, with the reason), or was a repeat within the cooldown (``suppressed``).
No webhook URL is ever stored: rows hold the message body and the channel's name.

Revision ID: 0004
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dl_alert_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("dedupe_key", sa.String(255), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_dl_alert_outbox_due", "dl_alert_outbox", ["status", "next_attempt_at"])
    op.create_index(
        "ix_dl_alert_outbox_dedupe", "dl_alert_outbox", ["dedupe_key", "channel", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_dl_alert_outbox_dedupe", table_name="dl_alert_outbox")
    op.drop_index("ix_dl_alert_outbox_due", table_name="dl_alert_outbox")
    op.drop_index("ux_dl_alert_outbox_alert_channel", table_name="dl_alert_outbox")
    op.drop_table("dl_alert_outbox")
