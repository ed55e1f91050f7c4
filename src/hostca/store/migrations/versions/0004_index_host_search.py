"""index host names for host search and pending counts

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 23:00:00.000000
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("host_names", schema=None) as batch_op:
        batch_op.create_index("ix_host_names_is_primary_name", ["is_primary", "name"], unique=False)
        batch_op.create_index("ix_host_names_state", ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("host_names", schema=None) as batch_op:
        batch_op.drop_index("ix_host_names_state")
        batch_op.drop_index("ix_host_names_is_primary_name")
