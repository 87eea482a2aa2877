"""PostgreSQL: each inference log's ``entity_key`` index becomes a hash index.

The key is looked up by equality only (erasure, consent changes, a re-sent consent flag),
and pseudonyms arrive in random order: a B-tree on them cost about half of the server's
work per ingested row; a hash index (4-byte entries) a third of that. New tables are
created with the hash index (``ix_<model>_entity``); this rebuilds the B-tree of every
table created before, once, which reads the whole table (minutes for 100M rows).
SQLite has no hash index: its tables keep their B-tree.

Revision ID: 0008_entity_hash_index
Revises: 0001
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0008_entity_hash_index"
down_revision = "0001"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)


def _entity_indexes(conn: sa.Connection, method: str) -> list[tuple[str, str]]:
    """(table, index) of each inference log whose only-``entity_key`` index uses
    ``method`` (``btree`` or ``hash``)."""
    return [
        (row.tablename, row.indexname)
        for row in conn.execute(
            sa.text(
                "SELECT i.tablename, i.indexname FROM pg_indexes i "
                "JOIN dl_models m ON m.table_name = i.tablename "
                "WHERE i.schemaname = current_schema() "
                "AND i.indexdef LIKE :using AND i.indexdef LIKE '%(entity_key)'"
            ),
            {"using": f"% USING {method} %"},
        )
    ]


def _rebuild(method: str, found: str) -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    for table, index in _entity_indexes(conn, found):
        name = f"ix_{table.removeprefix('dl_pred_')}_entity"
        log.info("%s: rebuilding the entity_key index as a %s index (once)", table, method)
        op.execute(f'DROP INDEX "{index}"')
        op.execute(f'CREATE INDEX "{name}" ON "{table}" USING {method} (entity_key)')


def upgrade() -> None:
    _rebuild("hash", "btree")


def downgrade() -> None:
    _rebuild("btree", "hash")
