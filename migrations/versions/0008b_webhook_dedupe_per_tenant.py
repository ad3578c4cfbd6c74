"""webhook events are de-duplicated per tenant

Revision ID: 0008b
Revises: 0008c
Create Date: 2026-11-30 10:10:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0008b'
down_revision = '0008c'
branch_labels = None
depends_on = None


def upgrade():
    # The new key is wider than the old one, so every existing row already satisfies it.
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.drop_constraint('uq_webhook_events_provider_key', type_='unique')
        batch_op.create_unique_constraint(
            'uq_webhook_events_tenant_provider_key', ['tenant_id', 'provider', 'event_key']
        )


def downgrade():
    # Fails if two tenants now hold the same provider key: that is the state the old key forbade.
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.drop_constraint('uq_webhook_events_tenant_provider_key', type_='unique')
        batch_op.create_unique_constraint('uq_webhook_events_provider_key', ['provider', 'event_key'])
