"""bounded clients: atomic chunk rows, upload state and 64-bit sizes, episode sizes (quotas), telemetry
agent identity + epoch, one successor per audit entry

Revision ID: 0002
Revises: 0001
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    # the chunks recorded so far move from the JSON list into rows
    rows = conn.execute(sa.text("SELECT id, received FROM uploads")).all()
    chunks = []
    for uid, received in rows:
        got = json.loads(received) if isinstance(received, str) else received
        chunks += [{"upload_id": uid, "idx": int(i)} for i in sorted(set(got or []))]
    # (the table is created after `uploads` is rebuilt: on SQLite dropping the old `uploads` would
    # cascade into it)
    with op.batch_alter_table("uploads") as b:
        b.drop_column("received")
        b.alter_column("size", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False)
        b.add_column(sa.Column("state", sa.String(length=16), nullable=False, server_default="open"))
        b.add_column(sa.Column("updated_at", sa.DateTime(), nullable=True))
    op.create_table(
        "upload_chunks",
        sa.Column("upload_id", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["upload_id"], ["uploads.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("upload_id", "idx"),
    )
    if chunks:
        conn.execute(sa.text("INSERT INTO upload_chunks (upload_id, idx) VALUES (:upload_id, :idx)"), chunks)
    conn.execute(sa.text("UPDATE uploads SET state = 'done' WHERE episode_id IS NOT NULL"))

    with op.batch_alter_table("episodes") as b:
        b.add_column(sa.Column("size", sa.BigInteger(), nullable=False, server_default="0"))

    with op.batch_alter_table("telemetry") as b:
        b.add_column(sa.Column("agent_id", sa.String(length=64), nullable=False, server_default=""))
        b.add_column(sa.Column("epoch", sa.Integer(), nullable=False, server_default="0"))
        b.drop_constraint("uq_telemetry_robot_seq", type_="unique")
        b.create_unique_constraint(
            "uq_telemetry_robot_agent_epoch_seq", ["robot_id", "agent_id", "epoch", "seq"]
        )

    # two entries naming the same predecessor is a forked chain; the index makes a fork impossible
    # (an intact chain never has one; a tampered one is left for `audit verify` to report)
    forks = conn.execute(
        sa.text("SELECT prev_hash FROM audit GROUP BY prev_hash HAVING COUNT(*) > 1")
    ).first()
    if forks is None:
        op.create_index("uq_audit_prev_hash", "audit", ["prev_hash"], unique=True)


def downgrade() -> None:
    if any(i["name"] == "uq_audit_prev_hash" for i in sa.inspect(op.get_bind()).get_indexes("audit")):
        op.drop_index("uq_audit_prev_hash", table_name="audit")
    with op.batch_alter_table("telemetry") as b:
        b.drop_constraint("uq_telemetry_robot_agent_epoch_seq", type_="unique")
        b.create_unique_constraint("uq_telemetry_robot_seq", ["robot_id", "seq"])
        b.drop_column("epoch")
        b.drop_column("agent_id")
    with op.batch_alter_table("episodes") as b:
        b.drop_column("size")
    op.drop_table("upload_chunks")
    with op.batch_alter_table("uploads") as b:
        b.drop_column("updated_at")
        b.drop_column("state")
        b.alter_column("size", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False)
        b.add_column(sa.Column("received", sa.JSON(), nullable=False, server_default="[]"))
