"""index host names by state and name, in place of state alone

SQLite chose the index on state alone for a lookup by name and state, because
both match one equality. Since nearly every name is approved, each enrolment
then read every approved name. An index on (state, name) matches both, and still
serves the count and list of pending names by its first column.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 02:00:00.000000
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("host_names", schema=None) as batch_op:
        batch_op.drop_index("ix_host_names_state")
        batch_op.create_index("ix_host_names_state_name", ["state", "name"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("host_names", schema=None) as batch_op:
        batch_op.drop_index("ix_host_names_state_name")
        batch_op.create_index("ix_host_names_state", ["state"], unique=False)
