"""webhook tasks take a tenant's new events in turn: an index over the events no worker has taken

Revision ID: 0011a
Revises: 0010a
Create Date: 2026-11-30 20:50:00

"""
from alembic import op
import sqlalchemy as sa

NEW_EVENT = sa.text("state = 'received' AND claimed_at IS NULL")


# revision identifiers, used by Alembic.
revision = '0011a'
down_revision = '0010a'
branch_labels = None
depends_on = None


def upgrade():
    # Partial: only events waiting for their first worker, a handful at any time however large the table.
    op.create_index(
        'ix_webhook_events_new', 'webhook_events', ['tenant_id', 'id'],
        postgresql_where=NEW_EVENT, sqlite_where=NEW_EVENT,
    )


def downgrade():
    op.drop_index('ix_webhook_events_new', table_name='webhook_events')
