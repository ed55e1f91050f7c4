"""cover the CRL query with the certificates status index

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 02:00:00.000000

Publishing a CRL reads serial_number, revoked_at and revocation_reason of every
revoked, unexpired certificate. With these columns in the (status, not_after)
index, the query reads only index pages and skips the table rows, which also
contain the PEM.
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.create_index(
            "ix_certificates_status_not_after_crl",
            ["status", "not_after", "serial_number", "revoked_at", "revocation_reason"],
            unique=False,
        )
        # The new index starts with the same columns, so it serves the old one's queries.
        batch_op.drop_index("ix_certificates_status_not_after")


def downgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.create_index(
            "ix_certificates_status_not_after", ["status", "not_after"], unique=False
        )
        batch_op.drop_index("ix_certificates_status_not_after_crl")
