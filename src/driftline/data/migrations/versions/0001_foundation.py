"""Foundation: registered models and the labels table.

Per-model inference logs (one typed column per feature) are created from each model's
spec by driftline.store, because their columns come from the spec, not from code.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dl_models",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("table_name", sa.String(80), nullable=False, unique=True),
        sa.Column("columns_json", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "dl_labels",
        sa.Column("model", sa.String(64), primary_key=True),
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("label", sa.Float, nullable=False),
        sa.Column("labelled_ts_us", sa.BigInteger, nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("dl_labels")
    op.drop_table("dl_models")
