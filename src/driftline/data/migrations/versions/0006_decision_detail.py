"""Monitor runs keep what the policy decided beyond the action: the drifted columns that
counted, why a retrain was asked for (``drift`` or ``performance``) and the change point
it trains after. One JSON column, NULL for runs stored before.

Revision ID: 0005_decision_detail
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_decision_detail"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("dl_monitor_runs", sa.Column("decision_json", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dl_monitor_runs") as batch:
        batch.drop_column("decision_json")
