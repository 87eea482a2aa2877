"""Claims: one owner for each thing that must happen once, held by the database.

``dl_claims`` has one row per (model, key) — a unique constraint, so of two processes
that try to claim the same key at once exactly one wins, on SQLite and PostgreSQL alike.
Keys name what is claimed: the retrain decision of one monitored window, the retrain of
one monitor run (or of an explicit request id), the promotion of one challenger over one
champion (whose row is also the promotion's intent, written before any alias moves).

``dl_benchmarks.challenger_value`` becomes nullable: a diverged challenger's primary
metric is not a number, and the benchmark that shows it must still be stored.

Revision ID: 0005_claims
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_claims"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dl_claims",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("claim_key", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("result", sa.Text, nullable=True),
        sa.Column("detail_json", sa.Text, nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("model", "claim_key", name="ux_dl_claims_model_key"),
    )
    with op.batch_alter_table("dl_benchmarks") as batch:
        batch.alter_column("challenger_value", existing_type=sa.Float, nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("dl_benchmarks") as batch:
        batch.alter_column("challenger_value", existing_type=sa.Float, nullable=False)
    op.drop_table("dl_claims")
