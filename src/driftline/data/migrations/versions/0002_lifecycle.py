"""Model lifecycle: benchmark results and the audit trail of promotions and rollbacks.

``dl_benchmarks`` keeps every champion/challenger benchmark (headline numbers as columns,
the whole result as JSON); ``dl_model_decisions`` is the append-only audit trail of
promotions, rejections, rollbacks and failed alias moves, with who or what triggered each
one, the gate report and the champion before and after.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dl_benchmarks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("challenger_version", sa.String(32), nullable=False),
        sa.Column("champion_version", sa.String(32), nullable=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("primary_metric", sa.String(32), nullable=False),
        sa.Column("challenger_value", sa.Float, nullable=False),
        sa.Column("champion_value", sa.Float, nullable=True),
        sa.Column("diff", sa.Float, nullable=True),
        sa.Column("ci_low", sa.Float, nullable=True),
        sa.Column("ci_high", sa.Float, nullable=True),
        sa.Column("result_json", sa.Text, nullable=False),
        sa.Column("mlflow_run_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_dl_benchmarks_model_created", "dl_benchmarks", ["model", "created_at"])
    op.create_table(
        "dl_model_decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("challenger_version", sa.String(32), nullable=True),
        sa.Column("champion_before", sa.String(32), nullable=True),
        sa.Column("champion_after", sa.String(32), nullable=True),
        sa.Column("triggered_by", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("benchmark_id", sa.Integer, nullable=True),
        sa.Column("gate_report_json", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_dl_model_decisions_model_created", "dl_model_decisions", ["model", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_dl_model_decisions_model_created", table_name="dl_model_decisions")
    op.drop_table("dl_model_decisions")
    op.drop_index("ix_dl_benchmarks_model_created", table_name="dl_benchmarks")
    op.drop_table("dl_benchmarks")
