"""send tasks take a tenant's due messages in turn: an index over the sends waiting for a worker

Revision ID: 0010a
Revises: 0009a
Create Date: 2026-11-30 15:45:00

"""
from alembic import op
import sqlalchemy as sa

DUE_TO_SEND = sa.text("direction = 'outbound' AND delivery_status = 'pending' AND claimed_at IS NULL")


# revision identifiers, used by Alembic.
revision = '0010a'
down_revision = '0009a'
branch_labels = None
depends_on = None


def upgrade():
    # Partial: only messages still waiting for a worker, a handful at any time however large the table.
    op.create_index(
        'ix_messages_due', 'messages', ['tenant_id', 'id'],
        postgresql_where=DUE_TO_SEND, sqlite_where=DUE_TO_SEND,
    )


def downgrade():
    op.drop_index('ix_messages_due', table_name='messages')
