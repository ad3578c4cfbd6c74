"""a conversation's last message set by a trigger on messages, not by an UPDATE after each insert

Revision ID: 0013a
Revises: 0012a
Create Date: 2026-12-01 00:30:00

"""
from alembic import op

from app.models.last_message_trigger import DROP_TRIGGER, POSTGRESQL_TRIGGER, SQLITE_TRIGGER


# revision identifiers, used by Alembic.
revision = '0013a'
down_revision = '0012a'
branch_labels = None
depends_on = None


def upgrade():
    # No backfill: every conversation's last message is already its newest (the rule the app kept).
    statements = POSTGRESQL_TRIGGER if op.get_bind().dialect.name == 'postgresql' else SQLITE_TRIGGER
    for statement in statements:
        op.execute(statement)


def downgrade():
    for statement in DROP_TRIGGER[op.get_bind().dialect.name]:
        op.execute(statement)
