"""Alembic environment: runs against the connection the Store hands over, or the configured URL."""
from alembic import context
from sqlalchemy import create_engine

from cdss.storage import Base

config = context.config
target_metadata = Base.metadata


def run_migrations():
    """Online migrations only: the service always has its database at hand."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
