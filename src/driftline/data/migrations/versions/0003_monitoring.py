"""Monitoring: one row per monitor run, and the per-column results of each run.

Revision ID: 0003
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dl_monitor_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("reasons_json", sa.Text, nullable=False),
        sa.Column("triggers_json", sa.Text, nullable=False),
        sa.Column("drift_share", sa.Float, nullable=True),
        sa.Column("dataset_drift", sa.Boolean, nullable=True),
        sa.Column("input_drift", sa.Boolean, nullable=True),
        sa.Column("prediction_drift", sa.Boolean, nullable=True),
        sa.Column("quality_ok", sa.Boolean, nullable=True),
        sa.Column("champion_version", sa.String(64), nullable=True),
        sa.Column("rows_current", sa.Integer, nullable=True),
        sa.Column("rows_reference", sa.Integer, nullable=True),
        sa.Column("rows_labelled", sa.Integer, nullable=True),
        sa.Column("performance_json", sa.Text, nullable=True),
        sa.Column("quality_json", sa.Text, nullable=True),
        sa.Column("report_path", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("engine", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_dl_monitor_runs_model_end", "dl_monitor_runs", ["model", "window_end"])
    op.create_table(
        "dl_monitor_columns",
        sa.Column(
            "run_id",
            sa.Integer,
            sa.ForeignKey("dl_monitor_runs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("column_name", sa.String(128), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("column_type", sa.String(16), nullable=False),
        sa.Column("method", sa.String(64), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("drifted", sa.Boolean, nullable=False),
        sa.Column("missing_share", sa.Float, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("dl_monitor_columns")
    op.drop_index("ix_dl_monitor_runs_model_end", table_name="dl_monitor_runs")
    op.drop_table("dl_monitor_runs")
