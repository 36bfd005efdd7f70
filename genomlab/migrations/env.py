"""Alembic environment: migrates the one institution store whose connection the caller passes.

:func:`genomlab.migrations.upgrade_store` puts the open connection and the institution kind into
``config.attributes``; there is no ``alembic.ini`` and no URL in here.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
