"""index certificates by host, status and expiry, in place of host alone

A renewal supersedes the host's valid, unexpired certificates. Looked up by
host alone, that read every unexpired certificate the host had, superseded
ones included, so a host that renewed often made each renewal slower. An index
on (host_id, status, not_after, serial_number) finds the valid ones directly and
contains the serial number the lookup returns. SQLite would otherwise choose the
CRL's index, which also contains it, and read every valid certificate of the
domain. The new index still serves lookups by host alone by its first column.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 02:30:00.000000
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index("ix_certificates_host_id")
        batch_op.create_index(
            "ix_certificates_host_id_status",
            ["host_id", "status", "not_after", "serial_number"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index("ix_certificates_host_id_status")
        batch_op.create_index("ix_certificates_host_id", ["host_id"], unique=False)
