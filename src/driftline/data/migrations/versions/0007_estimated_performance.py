"""Monitor runs keep the performance estimated without labels (CBPE, DLE): the estimate on
the monitored window and, next to the realized metrics, on the labelled window. One JSON
column, NULL for runs stored before it or without an estimate.

Revision ID: 0007_estimated_performance
Revises: 0005_decision_detail
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_estimated_performance"
down_revision = "0005_decision_detail"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("dl_monitor_runs", sa.Column("estimated_json", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dl_monitor_runs") as batch:
        batch.drop_column("estimated_json")
