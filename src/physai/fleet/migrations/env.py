"""Alembic environment of the fleet service: runs on the connection handed over by `db.upgrade`."""

from alembic import context

from physai.fleet.db import Base, make_engine

target_metadata = Base.metadata
conn = context.config.attributes.get("connection")
if conn is None:  # `alembic -x url=...` from a shell
    url = context.get_x_argument(as_dictionary=True).get("url", "sqlite:///fleet.db")
    with make_engine(url).begin() as c:
        context.configure(connection=c, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
