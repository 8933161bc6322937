"""CDS Hooks: JWT ids already used, shared by every worker, so a replayed token is refused anywhere.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "jwt_replay",
        sa.Column("token_key", sa.String(64), primary_key=True),  # sha256 of issuer and jti: no token stored
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_jwt_replay_expires_at", "jwt_replay", ["expires_at"])


def downgrade():
    op.drop_table("jwt_replay")
