"""Alembic environment: driftline runs migrations programmatically on a connection it
passes in (see driftline.data.store.Store.upgrade), so there is no alembic.ini URL to keep
secret."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `driftline db upgrade`, not the alembic CLI")

context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
